import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ReplayState } from '../../consumer/replay-state.js';
import { tempDir } from '../helpers/tmp.js';

const env = (n: number) => ({ deviceId: `d${n}`, envelope: Buffer.from(`sealed-${n}`) });

t.test('what was opened and what is held survives a reopen; one line per save, not a rewrite', async (t) => {
  const file = join(tempDir(t), 'sub', 'tail.state');
  const a = ReplayState.open(file, 128);
  const held = [env(1), env(2)];
  a.save(undefined, held); // the first save is a snapshot
  for (let seq = 1n; seq <= 200n; seq++) {
    a.opened('dev', 1, 7, seq);
    a.save(1, held);
  }
  held.shift(); // opened or expired
  held.push(env(3));
  a.save(1, held);
  a.save(1, held); // nothing changed: nothing written
  a.close();
  t.equal((statSync(file).mode & 0o777), 0o600, 'mode 0600');
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1 + 200 + 1, 'a snapshot, then one line per save that changed something');

  const b = ReplayState.open(file, 128);
  t.ok(b.seen('dev', 1, 7, 200n) && b.seen('dev', 1, 7, 73n), 'seqs in the window are seen');
  t.ok(b.seen('dev', 1, 7, 3n), 'a seq below the window counts as seen (never opened again)');
  t.notOk(b.seen('dev', 1, 7, 201n), 'the next seq is not');
  t.notOk(b.seen('dev', 1, 8, 1n), 'another grant is not');
  t.same(b.takeHeld().map((h) => h.envelope.toString()), ['sealed-2', 'sealed-3'], 'held envelopes, in order');
  b.close();
});

t.test('a torn last line (a crash mid-write) is ignored; a damaged file is refused', async (t) => {
  const file = join(tempDir(t), 'tail.state');
  const a = ReplayState.open(file, 128);
  a.opened('dev', 2, 1, 5n);
  a.save(undefined, []);
  a.opened('dev', 2, 1, 6n);
  a.save(undefined, []);
  a.close();
  appendFileSync(file, '{"o":[["dev",2,1,"7"');
  const b = ReplayState.open(file, 128);
  t.ok(b.seen('dev', 2, 1, 6n), 'the last whole line is kept');
  t.notOk(b.seen('dev', 2, 1, 7n), 'the torn one is not');
  b.close();
  appendFileSync(file, '\n{"o":[]}\n');
  t.throws(() => ReplayState.open(file, 128), { code: 'CONFIG_INVALID' }, 'a damaged line that is not the last: CONFIG_INVALID');
});
