import { createFleet, fleetTrust, type SimEvent, type SimFleet } from '../../device-sim/index.js';
import type { DemoStack } from './stack.js';

/** The demo's devices: registered over REST, simulated in this process, every event they report kept. */
export interface DemoFleet {
  readonly sim: SimFleet;
  readonly ids: readonly string[];
  /** One-time enrollment tokens by device id (already used once the devices enrolled). */
  readonly tokens: ReadonlyMap<string, string>;
  /** Readings sealed, `<device>#<reading>`, by device. */
  readonly sealed: ReadonlyMap<string, readonly string[]>;
  /** Time (Date.now) of each device's disconnections. */
  disconnectedAt(deviceId: string): number[];
  /** Devices holding a key (current or pending) of `epoch`. */
  keyedIn(epoch: number): string[];
}

/** The demo's device ids: demo-01, demo-02, … */
export function demoDeviceIds(count: number): string[] {
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `demo-${String(i + 1).padStart(width, '0')}`);
}

/** `POST /v1/devices` for the `count` demo devices, then a fleet that enrolls them with their tokens. */
export async function registerFleet(stack: DemoStack, count: number, rate: number): Promise<DemoFleet> {
  const { devices } = await stack.api.json<{ devices: { id: string; token: string }[] }>('POST', '/v1/devices', { ids: demoDeviceIds(count) });
  const tokens = new Map(devices.map((d) => [d.id, d.token]));
  const sealed = new Map<string, string[]>(devices.map((d) => [d.id, []]));
  const disconnects = new Map<string, number[]>();
  const observe = (e: SimEvent): void => {
    if (e.type === 'sealed') sealed.get(e.deviceId)?.push(`${e.deviceId}#${e.reading}`);
    else if (e.type === 'disconnected') disconnects.set(e.deviceId, [...(disconnects.get(e.deviceId) ?? []), Date.now()]);
  };
  const sim = createFleet({
    brokerUrl: stack.brokerUrl,
    trust: fleetTrust(stack.caPems.join('')),
    est: { url: stack.provisionerUrl, ca: stack.caPems },
    devices: devices.map((d) => ({ id: d.id, token: d.token })),
    rate,
    qos: 1,
    renew: false,
    grantTimeoutMs: 3000,
    backoff: { baseMs: 200, capMs: 2000 },
    observe,
  });
  return {
    sim,
    ids: devices.map((d) => d.id),
    tokens,
    sealed,
    disconnectedAt: (id) => disconnects.get(id) ?? [],
    keyedIn: (epoch) => sim.devices
      .filter((d) => d.keyring.current()?.epoch === epoch || d.keyring.pending()?.epoch === epoch)
      .map((d) => d.id),
  };
}
