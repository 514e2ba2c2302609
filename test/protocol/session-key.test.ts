import t from 'tap';
import { createHmac, hkdfSync } from 'node:crypto';
import { deriveSessionKey, SessionKeyDeriver, sessionKeyInfo, SESSION_KEY_SALT } from '../../protocol/session-key.js';

/** RFC 5869 HKDF with SHA-256, written out with HMAC: an independent check of the derivation. */
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const out: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    previous = createHmac('sha256', prk).update(Buffer.concat([previous, info, Buffer.from([i])])).digest();
    out.push(previous);
  }
  return Buffer.concat(out).subarray(0, length);
}

t.test('K = HKDF-SHA256(S_e, "fleetkey/v1/session", D ‖ 0x00 ‖ u32be(e) ‖ u32be(g))', async (t) => {
  const secret = Buffer.alloc(32, 7);
  const info = sessionKeyInfo('dev-1', 3, 258);
  t.equal(info.toString('hex'), Buffer.from('dev-1').toString('hex') + '00' + '00000003' + '00000102');
  const key = deriveSessionKey(secret, 'dev-1', 3, 258);
  t.equal(key.length, 32);
  t.ok(key.equals(hkdf(secret, Buffer.from(SESSION_KEY_SALT), info, 32)), 'matches RFC 5869 written out');
  t.ok(key.equals(Buffer.from(hkdfSync('sha256', secret, SESSION_KEY_SALT, info, 32))), 'matches OpenSSL HKDF');
  t.notOk(key.equals(deriveSessionKey(secret, 'dev-1', 3, 259)), 'grant changes K');
  t.notOk(key.equals(deriveSessionKey(secret, 'dev-1', 4, 258)), 'epoch changes K');
  t.notOk(key.equals(deriveSessionKey(secret, 'dev-10', 3, 258)), 'device changes K');
  t.equal(deriveSessionKey(secret, 'd', 0xffff_ffff, 0xffff_ffff).length, 32, 'u32 limits');
});

t.test('one deriver per epoch secret gives the same keys as deriving each alone', async (t) => {
  const secret = Buffer.alloc(32, 9);
  const deriver = new SessionKeyDeriver(secret);
  for (const [id, e, g] of [['dev-1', 1, 1], ['dev-2', 1, 1], ['dev-1', 1, 2], ['d', 0xffff_ffff, 0]] as const) {
    t.ok(deriver.derive(id, e, g).equals(deriveSessionKey(secret, id, e, g)), `${id} ${e} ${g}`);
  }
  deriver.wipe();
  t.throws(() => deriver.derive('dev-1', 1, 1), { code: 'PROTOCOL_INPUT_INVALID' }, 'no keys after wipe()');
  t.throws(() => new SessionKeyDeriver(Buffer.alloc(16)), { code: 'PROTOCOL_INPUT_INVALID' }, 'a 16-byte secret');
});

t.test('fail/ derivation inputs', async (t) => {
  const bad: Array<[string, () => unknown]> = [
    ['secret 31 bytes', () => deriveSessionKey(Buffer.alloc(31), 'd', 1, 0)],
    ['secret a string', () => deriveSessionKey('x'.repeat(32) as unknown as Buffer, 'd', 1, 0)],
    ['device id with /', () => deriveSessionKey(Buffer.alloc(32), 'a/b', 1, 0)],
    ['epoch 0', () => deriveSessionKey(Buffer.alloc(32), 'd', 0, 0)],
    ['grant 2^32', () => deriveSessionKey(Buffer.alloc(32), 'd', 1, 2 ** 32)],
    ['grant -1', () => deriveSessionKey(Buffer.alloc(32), 'd', 1, -1)],
    ['epoch 1.5', () => deriveSessionKey(Buffer.alloc(32), 'd', 1.5, 0)],
  ];
  for (const [name, fn] of bad) t.throws(fn, { code: 'PROTOCOL_INPUT_INVALID' }, `fail/${name}`);
});
