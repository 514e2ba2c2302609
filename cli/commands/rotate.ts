import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { FleetkeyError } from '../../errors/index.js';
import { addClientOptions, withApi, type ClientCliOptions } from '../client-options.js';
import { emit } from '../output.js';
import { action } from '../program.js';
import { RotationWatch, type CurrentRotation } from '../rotation-wait.js';
import { parseIntOption } from '../service-options.js';

interface RotateOptions extends ClientCliOptions {
  switchAfter?: number;
  wait?: boolean;
  timeout: number;
}

const POLL_MS = 250;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `fleetkey rotate [--switch-after S] [--wait]`: asks the provisioner for a fleet key rotation
 * (POST /v1/rotations; the KDC carries it out). With --wait, follows its progress (acks / devices
 * granted, GET /v1/rotations/current) as a progress bar, and ends listing the devices that did not
 * ack — a non-zero exit (ROTATION_INCOMPLETE) if any.
 */
export function registerRotate(program: Command): void {
  addClientOptions(
    program
      .command('rotate')
      .description('rotate the fleet\'s session keys: a new epoch, granted to every connected device (operator or admin token)')
      .option('--switch-after <s>', 'seconds until devices switch to the new keys (default: the KDC\'s)', parseIntOption)
      .option('--wait', 'follow the rotation until every granted device has acknowledged it')
      .option('--timeout <s>', 'with --wait: give up after s seconds', parseIntOption, 120),
  ).action(action(async (opts: RotateOptions) => {
    const result = await withApi(opts, async (api) => {
      const body = opts.switchAfter === undefined ? {} : { switchAfterSeconds: opts.switchAfter };
      const watch = new RotationWatch(api, Date.now() + opts.timeout * 1000, (line) => process.stderr.write(`${line}\n`));
      const requested = await watch.request(body);
      if (!opts.wait) return { requested: true, previousEpoch: requested.currentEpoch };
      return follow(watch, requested.currentEpoch ?? 0, opts);
    });
    emit(opts, result, () => ('complete' in result ? describe(result) : `rotation requested (current epoch ${result.previousEpoch ?? 'none'})`));
    if ('complete' in result && !result.complete) {
      if (opts.json) { // the result above already says complete: false, with the unacked devices
        process.exitCode = 1;
        return;
      }
      throw new FleetkeyError('ROTATION_INCOMPLETE', `${result.unacked.length}${result.unacked.length === 100 ? '+' : ''} device(s) did not ack epoch ${result.epoch}`);
    }
  }));
}

interface Followed {
  epoch: number;
  activatesAt: string;
  granted: number;
  acked: number;
  complete: boolean;
  unacked: string[];
}

/**
 * Polls the rotation's progress until the new epoch is distributed and acked by every device granted,
 * or the timeout. Through a store outage the polls are repeated with backoff (saying so on stderr):
 * the KDC resumes the rotation by itself when the store is back.
 */
async function follow(watch: RotationWatch, previous: number, opts: RotateOptions): Promise<Followed> {
  const deadline = Date.now() + opts.timeout * 1000;
  const bar = opts.json ? undefined : new SingleBar({ stream: process.stderr, format: 'rotate  [{bar}] {value}/{total} acked  epoch {epoch} {state}', hideCursor: true }, Presets.shades_classic);
  let last: CurrentRotation = { epoch: null, unacked: [] };
  try {
    for (;;) {
      last = await watch.current(100);
      const e = last.epoch;
      if (e && e.epoch > previous) {
        if (bar && !bar.isActive) bar.start(e.granted, e.acked, { epoch: e.epoch, state: e.state });
        bar?.setTotal(e.granted);
        bar?.update(e.acked, { epoch: e.epoch, state: e.state });
        if (e.state === 'distributed' && e.acked >= e.granted) break;
      }
      if (Date.now() >= deadline) break;
      await sleep(POLL_MS);
    }
  } finally {
    bar?.stop();
  }
  const e = last.epoch;
  if (!e || e.epoch <= previous) {
    const why = e?.state === 'distributing' ? `epoch ${e.epoch} is still being distributed (a KDC takes it over, then makes the new one)` : 'is a KDC running?';
    throw new FleetkeyError('ROTATION_INCOMPLETE', `no new epoch after ${opts.timeout} s: ${why}`);
  }
  return { epoch: e.epoch, activatesAt: e.activatesAt, granted: e.granted, acked: e.acked, complete: e.state === 'distributed' && e.acked >= e.granted, unacked: last.unacked };
}

function describe(r: Followed): string {
  return [
    `epoch ${r.epoch}: ${r.acked}/${r.granted} devices acknowledged; keys switch at ${r.activatesAt}`,
    ...(r.unacked.length > 0 ? ['not acknowledged:', ...r.unacked.map((id) => `  ${id}`)] : []),
  ].join('\n');
}
