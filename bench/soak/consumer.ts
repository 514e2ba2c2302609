/**
 * The soak's consumer: `fleetkey tail --json --stats-every 1` (as bench:fleet runs it) with info logs,
 * so that the times it was granted an epoch key show when it was back after a broker restart
 * (it asks the KDC again on every reconnect).
 */
import { CLI, firstLine, json, type Child, type ConsumerStats } from '../fleet/children.js';
import type { LogTally } from './services.js';

export interface SoakConsumer extends Child {
  readonly samples: ConsumerStats[];
  /** Times (ms since the Unix epoch) of its `epoch-granted` log lines. */
  readonly granted: number[];
}

export async function startSoakConsumer(dir: string, brokerUrl: string, logs: LogTally): Promise<SoakConsumer> {
  const samples: ConsumerStats[] = [];
  const granted: number[] = [];
  const warnings = logs.watch('consumer');
  const keep = (line: string, stream: 'out' | 'err') => {
    const s = json(line);
    if (stream === 'out' && typeof s?.opened === 'number') samples.push({ at: Date.now(), ...(s as unknown as Omit<ConsumerStats, 'at'>) });
    if (stream === 'err' && s?.event === 'epoch-granted') granted.push(Date.now());
    if (stream === 'err') warnings(line, stream);
  };
  const args = [CLI, 'tail', '--dir', dir, '--broker', brokerUrl, '--json', '--stats-every', '1', '--log-level', 'info'];
  const { child } = await firstLine('consumer', args, (l) => (json(l)?.opened !== undefined ? true : undefined), keep);
  return { ...child, samples, granted };
}
