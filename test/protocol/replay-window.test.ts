import t from 'tap';
import { ReplayWindow } from '../../protocol/replay-window.js';

t.test('new, duplicate, too-old', async (t) => {
  const w = new ReplayWindow(64);
  t.equal(w.highest, undefined);
  t.equal(w.record(0n), 'new');
  t.equal(w.record(0n), 'duplicate', 'QoS 1 redelivery');
  t.equal(w.record(1n), 'new');
  t.equal(w.record(5n), 'new', 'a gap');
  t.equal(w.record(3n), 'new', 'out of order within the window: accepted once');
  t.equal(w.record(3n), 'duplicate', '… and only once');
  t.equal(w.record(2n), 'new');
  t.equal(w.record(4n), 'new');
  t.equal(w.highest, 5n);
  t.equal(w.record(69n), 'new');
  t.equal(w.check(5n), 'too-old', 'offset 64 is outside a 64-seq window');
  t.equal(w.record(6n), 'new', 'offset 63 is inside, never seen');
  t.equal(w.record(6n), 'duplicate');
  t.equal(w.record(5n), 'too-old', 'never accepted once it left the window, seen or not');
  t.equal(w.record(1000n), 'new', 'a jump larger than the window');
  t.equal(w.record(69n), 'too-old');
  t.equal(w.record(999n), 'new');
  t.equal(w.record(937n), 'new', 'offset 63 after a jump');
  t.equal(w.record(936n), 'too-old');
  t.equal(w.record(1000n), 'duplicate');
});

t.test('replays never count as new: a random permutation with repeats', async (t) => {
  const w = new ReplayWindow(128);
  const seen = new Set<bigint>();
  let highest = -1n;
  let ok = true;
  for (let i = 0; i < 5000; i++) {
    const seq = BigInt(Math.max(0, i + Math.floor(Math.random() * 300) - 200));
    const verdict = w.record(seq);
    const expected = seen.has(seq) ? (highest - seq < 128n ? 'duplicate' : 'too-old') : seq > highest || highest - seq < 128n ? 'new' : 'too-old';
    if (verdict !== expected) ok = false;
    if (verdict === 'new') seen.add(seq);
    if (seq > highest && verdict === 'new') highest = seq;
  }
  t.ok(ok, 'every verdict matches a set-based model');
});

t.test('fail/ bad inputs', async (t) => {
  t.throws(() => new ReplayWindow(0), { code: 'PROTOCOL_INPUT_INVALID' });
  t.throws(() => new ReplayWindow(1.5), { code: 'PROTOCOL_INPUT_INVALID' });
  t.throws(() => new ReplayWindow(64).record(-1n), { code: 'PROTOCOL_INPUT_INVALID' });
  const one = new ReplayWindow(1);
  t.equal(one.record(3n), 'new');
  t.equal(one.record(2n), 'too-old', 'a one-seq window accepts only increasing seqs');
  t.equal(one.record(3n), 'duplicate');
});
