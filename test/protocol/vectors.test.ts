import t from 'tap';
import { createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, X509Certificate, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { compactDecrypt } from 'jose';
import { openEnvelope, sealEnvelope } from '../../protocol/envelope.js';
import { encryptGrantKey, keyThumbprint } from '../../protocol/grant.js';
import { verifyGrant } from '../../protocol/grant-verify.js';
import { encodeRekeyAck, encodeRekeyRequest } from '../../protocol/rekey-messages.js';
import { deriveSessionKey, SESSION_KEY_SALT, sessionKeyInfo } from '../../protocol/session-key.js';

/**
 * Checks every value of test/protocol/vectors/device-protocol.json, the worked example of
 * docs/protocol.md: an implementation in another language can run the same checks.
 */
const v = JSON.parse(readFileSync(new URL('./vectors/device-protocol.json', import.meta.url), 'utf8'));
const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const cert = (b64: string) => new X509Certificate(Buffer.from(b64, 'base64'));
const fleetRoot = cert(v.certificates.fleetRoot);
const devicePrivate = createPrivateKey({ key: v.device.testVectorPrivateKeyJwk as JsonWebKey, format: 'jwk' });
const consumerPrivate = createPrivateKey({ key: v.epochGrant.testVectorPrivateKeyJwk as JsonWebKey, format: 'jwk' });
const nowMs = v.verifyAt.unix * 1000;
const K = Buffer.from(v.sessionKey.key, 'hex');
const hex = (b: Buffer) => b.toString('hex');

t.test('certificates: a chain to the fleet root, valid for 100 years', async (t) => {
  for (const name of ['fleetRoot', 'issuingCa', 'kdc', 'device', 'consumer']) {
    const c = cert(v.certificates[name]);
    t.ok(Date.parse(c.validTo) >= Date.parse('2124-12-31T00:00:00Z'), `${name} valid until 2125`);
    t.ok(Date.parse(c.validFrom) <= nowMs, `${name} valid at verifyAt`);
  }
  const issuing = cert(v.certificates.issuingCa);
  t.ok(issuing.verify(fleetRoot.publicKey));
  t.ok(cert(v.certificates.kdc).verify(issuing.publicKey));
  t.ok(createPublicKey(devicePrivate).equals(cert(v.certificates.device).publicKey), 'the test-vector device key is the device certificate\'s key');
  t.equal(keyThumbprint(devicePrivate), v.device.publicKeyThumbprint, 'RFC 7638 thumbprint of the device key');
});

t.test('request and ack bodies', async (t) => {
  t.equal(encodeRekeyRequest(v.request.nonce).toString(), v.request.body);
  t.equal(encodeRekeyAck({ epoch: v.sessionKey.epoch, grant: v.sessionKey.grant }).toString(), v.grant.ack);
});

t.test('session key: HKDF-SHA256 with the documented salt and info', async (t) => {
  const s = v.sessionKey;
  t.equal(hex(Buffer.from(SESSION_KEY_SALT)), s.salt);
  t.equal(hex(sessionKeyInfo(v.device.id, s.epoch, s.grant)), s.info);
  t.equal(hex(deriveSessionKey(Buffer.from(s.epochSecret, 'hex'), v.device.id, s.epoch, s.grant)), s.key);
  // RFC 5869 written out: PRK = HMAC(salt, IKM); OKM = HMAC(PRK, info ‖ 0x01) (one block is 32 bytes).
  const prk = createHmac('sha256', Buffer.from(s.salt, 'hex')).update(Buffer.from(s.epochSecret, 'hex')).digest();
  t.equal(hex(createHmac('sha256', prk).update(Buffer.concat([Buffer.from(s.info, 'hex'), Buffer.from([1])])).digest()), s.key);
});

t.test('grant key JWE: reproducible from its fixed inputs, decrypts to K', async (t) => {
  const j = v.grantKeyJwe;
  const epk = createPrivateKey({ key: j.testVectorEphemeralPrivateKeyJwk, format: 'jwk' });
  const devicePublic = cert(v.certificates.device).publicKey;
  const again = await encryptGrantKey(devicePublic, K, { epk, cek: Buffer.from(j.cek, 'hex'), iv: Buffer.from(j.iv, 'hex') });
  t.equal(again, j.compact, 'byte for byte');
  t.same(JSON.parse(Buffer.from(j.compact.split('.')[0], 'base64url').toString()), j.protectedHeader);
  const { plaintext } = await compactDecrypt(j.compact, devicePrivate);
  t.equal(hex(Buffer.from(plaintext)), v.sessionKey.key);
});

t.test('grant key JWE, step by step with node:crypto only (RFC 7518 §4.6, §4.4, §5.3)', async (t) => {
  const j = v.grantKeyJwe;
  const s = j.steps;
  const epkPublic = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: j.protectedHeader.epk.x, y: j.protectedHeader.epk.y }, format: 'jwk' });
  const z = diffieHellman({ privateKey: devicePrivate, publicKey: epkPublic });
  t.equal(hex(z), s.sharedSecretZ, 'Z');
  t.equal(s.concatKdfOtherInfo, '0000000e' + hex(Buffer.from('ECDH-ES+A256KW')) + '00000000' + '00000000' + '00000100', 'otherInfo');
  const kek = createHash('sha256').update(Buffer.concat([Buffer.from('00000001', 'hex'), z, Buffer.from(s.concatKdfOtherInfo, 'hex')])).digest();
  t.equal(hex(kek), s.kek, 'KEK');
  const [h, ek, iv, ct, tag] = j.compact.split('.') as string[];
  t.equal(hex(Buffer.from(ek!, 'base64url')), s.encryptedKey);
  const unwrap = createDecipheriv('id-aes256-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
  const cek = Buffer.concat([unwrap.update(Buffer.from(s.encryptedKey, 'hex')), unwrap.final()]);
  t.equal(hex(cek), j.cek, 'CEK');
  t.equal(hex(Buffer.from(h!, 'ascii')), s.aad);
  const gcm = createDecipheriv('aes-256-gcm', cek, Buffer.from(iv!, 'base64url'), { authTagLength: 16 });
  gcm.setAAD(Buffer.from(h!, 'ascii'));
  gcm.setAuthTag(Buffer.from(tag!, 'base64url'));
  t.equal(hex(Buffer.concat([gcm.update(Buffer.from(ct!, 'base64url')), gcm.final()])), v.sessionKey.key, 'K');
});

t.test('grant: verifies at verifyAt and unwraps to K', async (t) => {
  const [, payloadB64] = v.grant.compact.split('.');
  t.equal(Buffer.from(payloadB64, 'base64url').toString('utf8'), v.grant.payloadJson, 'the signed payload is exactly payloadJson');
  t.equal(JSON.parse(v.grant.payloadJson).key, v.grantKeyJwe.compact);
  const got = await verifyGrant(v.grant.compact, { fleetRoot, expectedSubject: v.device.id, recipientKey: devicePrivate, expect: 'device', now: nowMs });
  const p = JSON.parse(v.grant.payloadJson);
  t.same({ ...got, key: hex(got.key) }, { kind: 'device', sub: v.device.id, epoch: p.epoch, grant: p.grant, req: v.request.nonce, iat: p.iat, nbf: p.nbf, exp: p.exp, key: v.sessionKey.key });
  await t.rejects(verifyGrant(v.grant.compact, { fleetRoot, expectedSubject: v.device.id, recipientKey: devicePrivate, expect: 'device', now: p.exp * 1000 }), { code: 'GRANT_EXPIRED' }, 'refused from exp on');
  await t.rejects(verifyGrant(v.grant.compact, { fleetRoot, expectedSubject: 'sensor-0043', recipientKey: devicePrivate, expect: 'device', now: nowMs }), { code: 'GRANT_SUBJECT_MISMATCH' });
});

t.test('epoch grant: the consumer gets S_e and derives the same K', async (t) => {
  const got = await verifyGrant(v.epochGrant.compact, { fleetRoot, expectedSubject: v.epochGrant.consumerId, recipientKey: consumerPrivate, expect: 'consumer', now: nowMs });
  t.equal(hex(got.key), v.sessionKey.epochSecret);
  t.equal(got.grant, undefined);
  t.equal(hex(deriveSessionKey(got.key, v.device.id, got.epoch, v.sessionKey.grant)), v.sessionKey.key);
});

t.test('envelopes: sealed byte for byte, opened, nonce and AAD as documented', async (t) => {
  const { epoch, grant } = v.sessionKey;
  for (const e of v.envelopes) {
    const seq = BigInt(e.seq);
    const header = Buffer.from(e.header, 'hex');
    t.equal(header.length, 17);
    t.equal(e.nonce, '00000000' + e.header.slice(18), `seq ${e.seq}: nonce = 0^4 ‖ seq`);
    t.equal(e.aad, e.header + hex(Buffer.from(v.device.id)), `seq ${e.seq}: AAD = header ‖ device id`);
    t.equal(hex(sealEnvelope(K, v.device.id, { epoch, grant, seq }, Buffer.from(e.payloadUtf8))), e.envelope, `seq ${e.seq}: sealed`);
    const opened = openEnvelope(K, v.device.id, Buffer.from(e.envelope, 'hex'));
    t.equal(opened.payload.toString('utf8'), e.payloadUtf8);
    t.same(opened.header, { epoch, grant, seq });
  }
  for (const r of v.envelopeRefusals) t.throws(() => openEnvelope(K, r.deviceId, Buffer.from(r.envelope, 'hex')), { code: r.error }, `fail/${r.name}`);
});

t.test('docs/protocol.md shows these vectors', async (t) => {
  const values = [
    v.sessionKey.info, v.sessionKey.key, v.envelopes[0].envelope, v.envelopes[0].aad, v.envelopes[2].envelope, v.request.body, v.device.publicKeyThumbprint,
    v.grant.ack, v.grantKeyJwe.steps.sharedSecretZ, v.grantKeyJwe.steps.kek, v.grantKeyJwe.steps.encryptedKey, v.device.testVectorPrivateKeyJwk.d,
    v.grantKeyJwe.testVectorEphemeralPrivateKeyJwk.d, ...v.grantKeyJwe.compact.split('.'),
  ];
  for (const value of values) {
    t.ok(doc.includes(value), `docs/protocol.md contains ${value.slice(0, 40)}`);
  }
});
