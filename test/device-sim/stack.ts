import type { Test } from 'tap';
import { createConsumer, type Consumer, type TelemetryMessage } from '../../consumer/index.js';
import { createFleet, fleetTrust, readingSeq, type FleetOptionsInput, type SimEvent, type SimFleet } from '../../device-sim/index.js';
import type { Kdc, KdcOptionsInput } from '../../kdc/index.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';
import { testLogger } from '../helpers/fleet.js';
import { rig, startKdc } from '../kdc/kit.js';
import { startProvisioner, type ProvisionerFixture } from '../provisioner/fixture.js';

/**
 * The whole stack for simulator tests, in this process on loopback: provisioner (EST), broker, KDC
 * and a decrypting consumer over one test fleet, plus what the devices and the consumer saw.
 */
export interface SimStack {
  readonly fx: ProvisionerFixture;
  readonly kdc: Kdc;
  readonly consumer: Consumer;
  readonly broker: RunningBroker;
  /** Every message the consumer opened, in arrival order. */
  readonly opened: TelemetryMessage[];
  /** Every device event, in order. */
  readonly events: SimEvent[];
  /** A fleet of these devices against this stack (closed in teardown). */
  fleet(devices: FleetOptionsInput['devices'], extra?: Partial<FleetOptionsInput>): SimFleet;
  /** Registers `ids` and returns them as devices that enroll with their tokens. */
  register(ids: readonly string[]): Promise<Array<{ id: string; token: string }>>;
}

export async function simStack(t: Test, kdcExtra: Partial<KdcOptionsInput> = {}): Promise<SimStack> {
  const fx = await startProvisioner(t);
  const fleet = fx.fleet;
  const broker = await startBroker(t, fleet);
  const r = rig(fleet, broker);
  const consumerFiles = fleet.service('consumer', 'sim');
  const kdc = await startKdc(t, r, { consumerCertificates: [consumerFiles.cert], graceSeconds: 60, ...kdcExtra });
  const opened: TelemetryMessage[] = [];
  const consumer = await createConsumer({
    broker: { url: broker.url, ca: fleet.caPems, cert: consumerFiles.cert, key: consumerFiles.key }, logger: testLogger(), graceSeconds: 60,
  }, (m) => opened.push(m));
  t.teardown(() => consumer.close());
  const events: SimEvent[] = [];
  const trust = fleetTrust(fleet.caPems.join(''));
  const stack: SimStack = {
    fx, kdc, consumer, broker, opened, events,
    fleet(devices, extra = {}) {
      const sim = createFleet({
        brokerUrl: stack.broker.url, trust, est: { url: fx.url, ca: fleet.caPems }, devices,
        backoff: { baseMs: 200, capMs: 4000 }, grantTimeoutMs: 3000, observe: (e) => events.push(e), ...extra,
      });
      t.teardown(() => sim.stop(500));
      return sim;
    },
    async register(ids) {
      const tokens = await fx.register(ids);
      return ids.map((id) => ({ id, token: tokens.get(id)! }));
    },
  };
  return stack;
}

/** Device id + reading number of every message opened. */
export const openedReadings = (opened: readonly TelemetryMessage[]): string[] => opened.map((m) => `${m.deviceId}#${readingSeq(m.payload)}`);

/** Device id + reading number of every reading sealed. */
export const sealedReadings = (events: readonly SimEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'sealed' ? [`${e.deviceId}#${e.reading}`] : []));

export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
