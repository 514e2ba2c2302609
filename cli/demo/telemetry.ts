import type { Logger } from 'pino';
import { createConsumer, type Consumer } from '../../consumer/index.js';
import { readingSeq } from '../../device-sim/index.js';
import { readServiceIdentity } from '../data-dir.js';
import type { DemoFleet } from './fleet.js';

/** The data dir's consumer, and every reading it opened (`<device>#<reading>`), with the epochs seen per device. */
export interface DemoConsumer {
  readonly consumer: Consumer;
  readonly opened: ReadonlySet<string>;
  /** Devices with a message opened under `epoch`. */
  devicesIn(epoch: number): Set<string>;
  /** Readings of the fleet (except `excluded` devices) sealed but not opened. */
  missing(fleet: DemoFleet, excluded: ReadonlySet<string>): string[];
}

export async function startDemoConsumer(dir: string, brokerUrl: string, logger: Logger): Promise<DemoConsumer> {
  const identity = readServiceIdentity(dir, 'consumer');
  const opened = new Set<string>();
  const byEpoch = new Map<number, Set<string>>();
  const consumer = await createConsumer({ broker: { url: brokerUrl, ...identity }, logger, graceSeconds: 300 }, (m) => {
    opened.add(`${m.deviceId}#${readingSeq(m.payload) ?? '?'}`);
    let devices = byEpoch.get(m.header.epoch);
    if (!devices) byEpoch.set(m.header.epoch, (devices = new Set()));
    devices.add(m.deviceId);
  });
  return {
    consumer,
    opened,
    devicesIn: (epoch) => byEpoch.get(epoch) ?? new Set(),
    missing: (fleet, excluded) => [...fleet.sealed]
      .filter(([id]) => !excluded.has(id))
      .flatMap(([, readings]) => readings.filter((r) => !opened.has(r))),
  };
}

/** Waits up to `ms` for every sealed reading (of devices not excluded) to be opened; returns the ones still missing. */
export async function settle(c: DemoConsumer, fleet: DemoFleet, excluded: ReadonlySet<string>, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  let missing = c.missing(fleet, excluded);
  while (missing.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    missing = c.missing(fleet, excluded);
  }
  return missing;
}
