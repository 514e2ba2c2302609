import t from 'tap';
import { decodeJson, encodeJson } from '../../store/records.js';

/** The encoding both stores wrote before encodeJson was written out by hand: the reference it must match. */
function withReplacer(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return { $date: raw.toISOString() };
    if (Buffer.isBuffer(raw)) return { $buf: raw.toString('base64') };
    if (typeof raw === 'bigint') return { $big: raw.toString() };
    return v;
  });
}

const at = new Date('2026-11-23T01:02:03.456Z');
const cases: Record<string, unknown> = {
  'journal ops of an enrollment': [
    { t: 'device', d: [{ id: 'dev-1', status: 'active', createdAt: at, tokenHash: undefined, enrolledAt: at }] },
    { t: 'cert', c: { serial: '7F3A', spki: Buffer.from([0, 1, 2, 255]), notAfter: at } },
    { t: 'audit', a: [{ id: '000000000001', time: at, actor: 'device:dev-1', detail: { serial: '7F3A' } }] },
  ],
  'scalars': { s: 'quote " backslash \\ newline \n U+2028 \u2028 emoji 🔑', n: -1.5e-7, big: 12345678901234567890n, yes: true, no: false, nil: null },
  'undefined, functions and non-finite numbers': { u: undefined, f: () => 1, nan: Number.NaN, inf: Infinity, list: [undefined, () => 1, Number.NaN, 0] },
  'nesting and empty containers': { a: [[], {}, [{ b: [at] }]], o: {} },
  'top-level values': ['x', 3, null, at, Buffer.alloc(0), 7n, [], {}],
};

t.test('encodeJson writes what the replacer wrote, and decodeJson reads it back', async (t) => {
  for (const [name, value] of Object.entries(cases)) {
    t.equal(encodeJson(value), withReplacer(value), name);
  }
  const ops = cases['journal ops of an enrollment'] as { c?: { spki: Buffer; notAfter: Date } }[];
  const back = decodeJson<typeof ops>(encodeJson(ops));
  t.ok(back[1]!.c!.spki.equals(Buffer.from([0, 1, 2, 255])), 'Buffer round trip');
  t.equal(back[1]!.c!.notAfter.getTime(), at.getTime(), 'Date round trip');
  t.equal(encodeJson(undefined), 'null', 'nothing at the top level is null, not undefined');
});
