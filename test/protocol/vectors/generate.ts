/**
 * Generates test/protocol/vectors/device-protocol.json, the worked example of docs/protocol.md.
 * Run once (keys and the ECDSA signatures are random; everything else is fixed):
 *   node --import @tapjs/typescript/import test/protocol/vectors/generate.ts --write
 * Without --write it does nothing, so that a tap run over the folder cannot replace the vectors.
 * Regenerating replaces every key and signature: update docs/protocol.md from the new file.
 * Only public material and keys published as test vectors go into the file.
 */
import { createHash, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { serviceUri, deviceUri } from '../../../certs/identity.js';
import { encodeHeader, sealEnvelope } from '../../../protocol/envelope.js';
import { buildEpochGrant, encryptGrantKey, keyThumbprint, signGrantPayload } from '../../../protocol/grant.js';
import { encodeRekeyAck, encodeRekeyRequest } from '../../../protocol/rekey-messages.js';
import { deriveSessionKey, SESSION_KEY_SALT, sessionKeyInfo } from '../../../protocol/session-key.js';
import { commonNameOnly, fleetCaWithValidity, leafExtensions, signWith } from '../cert-kit.js';

if (!process.argv.includes('--write')) {
  console.error('test/protocol/vectors/generate.ts: pass --write to replace device-protocol.json');
  process.exit(0);
}

const notBefore = new Date('2025-01-01T00:00:00Z');
const notAfter = new Date('2125-01-01T00:00:00Z'); // 100 years: the vectors outlive any firmware
const iat = Date.parse('2026-01-01T00:00:00Z') / 1000;
const verifyAt = iat + 60;
const bytes = (from: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

const ca = fleetCaWithValidity('Fleetkey Test Vectors', notBefore, notAfter);
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kdcKeys = p256();
const kdc = signWith(ca.issuingSigner, { subject: commonNameOnly('kdc-vectors'), publicKey: kdcKeys.publicKey, notBefore, notAfter, extensions: leafExtensions('ec-p256', 'client', serviceUri('kdc')) });
const deviceId = 'sensor-0042';
const deviceKeys = p256();
const device = signWith(ca.issuingSigner, { subject: commonNameOnly(deviceId), publicKey: deviceKeys.publicKey, notBefore, notAfter, extensions: leafExtensions('ec-p256', 'client', deviceUri(deviceId)) });
const consumerId = 'consumer-vectors';
const consumerKeys = p256();
const consumer = signWith(ca.issuingSigner, { subject: commonNameOnly(consumerId), publicKey: consumerKeys.publicKey, notBefore, notAfter, extensions: leafExtensions('ec-p256', 'client', serviceUri('consumer')) });
const epkKeys = p256();
const signer = { key: kdcKeys.privateKey, x5c: [kdc.der, ca.issuing.der] };

const jwk = (key: KeyObject) => key.export({ format: 'jwk' });
const epoch = 3;
const grant = 7;
const epochSecret = bytes(0x00, 32);
const nonce = bytes(0x00, 16).toString('base64url');
const info = sessionKeyInfo(deviceId, epoch, grant);
const K = deriveSessionKey(epochSecret, deviceId, epoch, grant);
const cek = bytes(0x20, 32);
const iv = bytes(0x40, 12);
const jwe = await encryptGrantKey(deviceKeys.publicKey, K, { epk: epkKeys.privateKey, cek, iv });
// The steps of ECDH-ES+A256KW (RFC 7518 §4.6), for firmware that unwraps without a JOSE library.
const z = diffieHellman({ privateKey: epkKeys.privateKey, publicKey: deviceKeys.publicKey });
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const algId = Buffer.from('ECDH-ES+A256KW');
const otherInfo = Buffer.concat([u32(algId.length), algId, u32(0), u32(0), u32(256)]); // AlgorithmID, PartyUInfo, PartyVInfo (empty), SuppPubInfo
const kek = createHash('sha256').update(Buffer.concat([u32(1), z, otherInfo])).digest();
const [jweHeaderB64, encryptedKeyB64] = jwe.split('.');
const payload = { v: 1, sub: deviceId, epoch, grant, req: nonce, iat, nbf: iat, exp: iat + 3600, key: jwe };
const payloadJson = JSON.stringify(payload);
const grantJws = await signGrantPayload(signer, payloadJson);
const epochGrantJws = await buildEpochGrant({ signer, consumerId, consumerPublicKey: consumerKeys.publicKey, epoch, epochSecret, iat, nbf: iat, exp: iat + 3600 });

const envelope = (seq: bigint, text: string) => {
  const header = encodeHeader({ epoch, grant, seq });
  return {
    seq: seq.toString(),
    payloadUtf8: text,
    header: header.toString('hex'),
    nonce: Buffer.concat([Buffer.alloc(4), header.subarray(9)]).toString('hex'),
    aad: Buffer.concat([header, Buffer.from(deviceId)]).toString('hex'),
    envelope: sealEnvelope(K, deviceId, { epoch, grant, seq }, Buffer.from(text)).toString('hex'),
  };
};
const envelopes = [envelope(0n, '{"temp":21.5}'), envelope(1n, '{"temp":21.6}'), envelope(4294967297n, '')];
const first = Buffer.from(envelopes[0]!.envelope, 'hex');
const flipped = (at: number) => { const b = Buffer.from(first); b[at]! ^= 0x01; return b.toString('hex'); };

const vectors = {
  description: 'fleetkey device protocol v1 test vectors: docs/protocol.md "Worked example". The private keys below are published test-vector keys, never used anywhere else.',
  generatedBy: 'test/protocol/vectors/generate.ts',
  verifyAt: { unix: verifyAt, iso: new Date(verifyAt * 1000).toISOString() },
  certificates: {
    note: 'DER, standard base64. Valid 2025-01-01 to 2125-01-01. The fleet root is the trust anchor a device is provisioned with.',
    fleetRoot: ca.root.der.toString('base64'),
    issuingCa: ca.issuing.der.toString('base64'),
    kdc: kdc.der.toString('base64'),
    device: device.der.toString('base64'),
    consumer: consumer.der.toString('base64'),
  },
  device: {
    id: deviceId,
    testVectorPrivateKeyJwk: jwk(deviceKeys.privateKey),
    publicKeyThumbprint: keyThumbprint(deviceKeys.publicKey),
  },
  request: { nonce, body: encodeRekeyRequest(nonce).toString() },
  sessionKey: {
    epochSecret: epochSecret.toString('hex'),
    epoch,
    grant,
    salt: Buffer.from(SESSION_KEY_SALT).toString('hex'),
    info: info.toString('hex'),
    key: K.toString('hex'),
  },
  grantKeyJwe: {
    note: 'The JWE of the grant\'s "key" claim with its random inputs fixed, so it is reproducible byte for byte.',
    testVectorEphemeralPrivateKeyJwk: jwk(epkKeys.privateKey),
    cek: cek.toString('hex'),
    iv: iv.toString('hex'),
    protectedHeader: JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString()),
    compact: jwe,
    steps: {
      note: 'Z = ECDH(device key, epk); KEK = SHA-256(u32be(1) ‖ Z ‖ otherInfo) (Concat KDF, one round); CEK = AES-256-KW-unwrap(KEK, encryptedKey); K = AES-256-GCM-decrypt(CEK, iv, ciphertext, tag, AAD = ASCII of the first segment).',
      sharedSecretZ: z.toString('hex'),
      concatKdfOtherInfo: otherInfo.toString('hex'),
      kek: kek.toString('hex'),
      encryptedKey: Buffer.from(encryptedKeyB64!, 'base64url').toString('hex'),
      aad: Buffer.from(jweHeaderB64!, 'ascii').toString('hex'),
    },
  },
  grant: {
    note: 'ES256 signatures are randomized: this exact string verifies, a new signature over the same payload differs.',
    payloadJson,
    compact: grantJws,
    ack: encodeRekeyAck({ epoch, grant }).toString(),
  },
  epochGrant: {
    note: 'An epoch grant for a consumer: JWE plaintext = the epoch secret above, so the consumer derives the same session key.',
    consumerId,
    testVectorPrivateKeyJwk: jwk(consumerKeys.privateKey),
    compact: epochGrantJws,
  },
  envelopes,
  envelopeRefusals: [
    { name: 'header byte flipped (epoch)', deviceId, envelope: flipped(4), error: 'ENVELOPE_AUTH_FAILED' },
    { name: 'ciphertext byte flipped', deviceId, envelope: flipped(17), error: 'ENVELOPE_AUTH_FAILED' },
    { name: 'device id different', deviceId: 'sensor-0043', envelope: envelopes[0]!.envelope, error: 'ENVELOPE_AUTH_FAILED' },
    { name: 'tag truncated to 4 bytes', deviceId, envelope: first.subarray(0, first.length - 12).toString('hex'), error: 'ENVELOPE_AUTH_FAILED' },
    { name: 'version 2', deviceId, envelope: '02' + envelopes[0]!.envelope.slice(2), error: 'ENVELOPE_VERSION_UNKNOWN' },
    { name: 'shorter than header and tag', deviceId, envelope: first.subarray(0, 32).toString('hex'), error: 'ENVELOPE_TOO_SHORT' },
  ],
};

writeFileSync(new URL('./device-protocol.json', import.meta.url), JSON.stringify(vectors, null, 2) + '\n');
console.log('wrote device-protocol.json');
