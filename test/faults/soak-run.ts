import type { Test } from 'tap';
import type { SoakFigures } from '../../bench/soak/figures.js';
import { compiled, exited, onLine, spawnTs } from '../helpers/spawn-ts.js';

/**
 * Runs `bench:soak --quick` with `args` and asserts what must hold on every stack: every device back
 * after the broker SIGKILL, the rotation requested in the storm held and acked by every device,
 * nothing undecryptable, nothing else wrong. Returns the figures for the loss counts, which differ
 * by stack.
 */
export async function quickSoak(t: Test, devices: number, args: readonly string[]): Promise<SoakFigures | undefined> {
  // The soak starts `cli/main.js` and its simulator entry from the tree it runs in: transpile them beside it.
  compiled(t, 'cli/main.ts');
  compiled(t, 'bench/soak/run-sim.ts');
  const soak = spawnTs(t, 'bench/soak.ts', ['--quick', '--devices', String(devices), ...args, '--json']);
  let stderr = '';
  soak.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let figures: SoakFigures | undefined;
  onLine(soak, (line) => {
    if (line.startsWith('{"bench":"soak"')) figures = JSON.parse(line) as SoakFigures;
  });
  const { code } = await exited(soak);
  if (!figures) {
    t.fail(`no figures (exit ${code}): ${stderr.slice(-2000)}`);
    return undefined;
  }
  const f = figures;
  t.comment(JSON.stringify(f));

  t.equal(f.devices, devices);
  t.same(f.simFailed, {}, 'no device ended in error');
  t.equal(f.reconnect.down, devices, 'every device lost its connection to the killed broker');
  t.equal(f.reconnect.back, devices, 'every device came back');
  t.ok(f.reconnect.lastBackS !== null && f.reconnect.lastBackS >= 0, 'the last device came back after the broker listened again');
  t.ok(f.rotation.epoch !== null, 'the rotation requested in the storm made a new epoch');
  t.equal(f.rotation.devicesHolding, devices, 'every device holds the new epoch\'s key');
  t.ok(f.rotation.acked >= devices, `the store counts every device's ack (${f.rotation.acked})`);
  t.equal(f.messages.undecryptable, 0, 'nothing undecryptable');
  t.ok(f.messages.sent > devices * 5, `telemetry flowed (${f.messages.sent} sent)`);
  t.ok(f.messages.lost >= 0, 'nothing opened that no device sent');
  const otherFailures = f.failures.filter((why) => !why.includes('messages lost'));
  t.same(otherFailures, [], 'the soak finds nothing else wrong');
  t.equal(code, f.failures.length > 0 ? 1 : 0, 'the soak exits 1 exactly when it found something wrong');
  return f;
}
