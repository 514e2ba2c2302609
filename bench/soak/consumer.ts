/**
 * The soak's consumer: `fleetkey tail --json --stats-every 1` (as bench:fleet runs it), with a
 * persistent session unless a clean one is asked for (`--state`: the broker queues QoS 1 telemetry
 * while it is away), and with info logs: the times it was granted an epoch key show when it was back
 * after a broker restart (it asks the KDC again on every reconnect).
 */
import { join } from 'node:path';
import { CLI, firstLine, json, type Child, type ConsumerStats } from '../fleet/children.js';
import type { LogTally } from './services.js';

export interface SoakConsumer extends Child {
  readonly samples: ConsumerStats[];
  /** Times (ms since the Unix epoch) of its `epoch-granted` log lines. */
  readonly granted: number[];
}

export async function startSoakConsumer(dir: string, brokerUrl: string, persistent: boolean, logs: LogTally): Promise<SoakConsumer> {
  const samples: ConsumerStats[] = [];
  const granted: number[] = [];
  const warnings = logs.watch('consumer');
  const keep = (line: string, stream: 'out' | 'err') => {
    const s = json(line);
    if (stream === 'out' && typeof s?.opened === 'number') samples.push({ at: Date.now(), ...(s as unknown as Omit<ConsumerStats, 'at'>) });
    if (stream === 'err' && s?.event === 'epoch-granted') granted.push(Date.now());
    if (stream === 'err') warnings(line, stream);
  };
  const session = persistent ? ['--state', join(dir, '..', 'consumer.state')] : [];
  const args = [CLI, 'tail', '--dir', dir, '--broker', brokerUrl, ...session, '--json', '--stats-every', '1', '--log-level', 'info'];
  const { child } = await firstLine('consumer', args, (l) => (json(l)?.opened !== undefined ? true : undefined), keep);
  return { ...child, samples, granted };
}
