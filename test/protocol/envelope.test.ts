import t from 'tap';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { encodeHeader, HEADER_BYTES, openEnvelope, readEnvelopeHeader, sealEnvelope, SEQ_MAX, TAG_BYTES } from '../../protocol/envelope.js';

const key = randomBytes(32);
const id = 'dev-1';
const header = { epoch: 2, grant: 5, seq: 9n };
const payload = Buffer.from('{"temp":21.5}');

t.test('ok/ round trip; the layout is exactly DESIGN.md\'s', async (t) => {
  const sealed = sealEnvelope(key, id, header, payload);
  t.equal(sealed.length, HEADER_BYTES + payload.length + TAG_BYTES);
  t.equal(sealed.subarray(0, 17).toString('hex'), '01' + '00000002' + '00000005' + '0000000000000009');
  const opened = openEnvelope(key, id, sealed);
  t.same(opened.header, header);
  t.ok(opened.payload.equals(payload));
  // Independent open: nonce = 0^4 ‖ seq, AAD = header ‖ device id.
  const d = createDecipheriv('aes-256-gcm', key, Buffer.concat([Buffer.alloc(4), sealed.subarray(9, 17)]), { authTagLength: 16 });
  d.setAAD(Buffer.concat([sealed.subarray(0, 17), Buffer.from(id)]));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  t.ok(Buffer.concat([d.update(sealed.subarray(17, sealed.length - 16)), d.final()]).equals(payload), 'opens by the spec, written out');
  const empty = sealEnvelope(key, id, { ...header, seq: SEQ_MAX }, Buffer.alloc(0));
  t.equal(empty.length, 33);
  t.equal(openEnvelope(key, id, empty).payload.length, 0, 'empty payload, largest seq');
  t.same(readEnvelopeHeader(empty), { ...header, seq: SEQ_MAX });
});

t.test('fail/ tampering and truncation', async (t) => {
  const sealed = sealEnvelope(key, id, header, payload);
  const flip = (at: number) => { const b = Buffer.from(sealed); b[at]! ^= 1; return b; };
  const cases: Array<[string, () => unknown, string]> = [
    ['epoch byte flipped', () => openEnvelope(key, id, flip(4)), 'ENVELOPE_AUTH_FAILED'],
    ['grant byte flipped', () => openEnvelope(key, id, flip(8)), 'ENVELOPE_AUTH_FAILED'],
    ['seq byte flipped', () => openEnvelope(key, id, flip(16)), 'ENVELOPE_AUTH_FAILED'],
    ['ciphertext byte flipped', () => openEnvelope(key, id, flip(18)), 'ENVELOPE_AUTH_FAILED'],
    ['tag byte flipped', () => openEnvelope(key, id, flip(sealed.length - 1)), 'ENVELOPE_AUTH_FAILED'],
    ['device id different', () => openEnvelope(key, 'dev-2', sealed), 'ENVELOPE_AUTH_FAILED'],
    ['device id a prefix', () => openEnvelope(key, 'dev-', sealed), 'ENVELOPE_AUTH_FAILED'],
    ['other key', () => openEnvelope(randomBytes(32), id, sealed), 'ENVELOPE_AUTH_FAILED'],
    ['tag cut to 4 bytes', () => openEnvelope(key, id, sealed.subarray(0, sealed.length - 12)), 'ENVELOPE_AUTH_FAILED'],
    ['tag cut to 4 bytes, empty payload', () => openEnvelope(key, id, sealEnvelope(key, id, header, Buffer.alloc(0)).subarray(0, 21)), 'ENVELOPE_TOO_SHORT'],
    ['32 bytes', () => openEnvelope(key, id, sealed.subarray(0, 32)), 'ENVELOPE_TOO_SHORT'],
    ['empty', () => readEnvelopeHeader(Buffer.alloc(0)), 'ENVELOPE_TOO_SHORT'],
    ['version 2', () => openEnvelope(key, id, Buffer.concat([Buffer.from([2]), sealed.subarray(1)])), 'ENVELOPE_VERSION_UNKNOWN'],
    ['version 0', () => readEnvelopeHeader(Buffer.concat([Buffer.from([0]), sealed.subarray(1)])), 'ENVELOPE_VERSION_UNKNOWN'],
    ['seal: key 16 bytes', () => sealEnvelope(randomBytes(16), id, header, payload), 'PROTOCOL_INPUT_INVALID'],
    ['seal: seq negative', () => sealEnvelope(key, id, { ...header, seq: -1n }, payload), 'PROTOCOL_INPUT_INVALID'],
    ['seal: seq beyond u64', () => sealEnvelope(key, id, { ...header, seq: SEQ_MAX + 1n }, payload), 'PROTOCOL_INPUT_INVALID'],
    ['seal: epoch 0', () => encodeHeader({ ...header, epoch: 0 }), 'PROTOCOL_INPUT_INVALID'],
    ['seal: bad device id', () => sealEnvelope(key, '', header, payload), 'PROTOCOL_INPUT_INVALID'],
    ['open: bad device id', () => openEnvelope(key, 'a+b', sealed), 'PROTOCOL_INPUT_INVALID'],
  ];
  for (const [name, fn, code] of cases) t.throws(fn, { code }, `fail/${name}`);
});

t.test('a view into a larger buffer opens the same (MQTT payloads are often slices)', async (t) => {
  const sealed = sealEnvelope(key, id, header, payload);
  const big = Buffer.concat([Buffer.from('xxxx'), sealed, Buffer.from('yyyy')]);
  t.ok(openEnvelope(key, id, big.subarray(4, 4 + sealed.length)).payload.equals(payload));
  t.ok(openEnvelope(key, id, new Uint8Array(sealed)).payload.equals(payload), 'plain Uint8Array');
});
