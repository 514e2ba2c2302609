import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { CompactEncrypt } from 'jose';
import { createFleetCa } from '../../certs/ca.js';
import { CLOCK_LEEWAY_SECONDS } from '../../certs/clock.js';
import { issueLeaf, issueServiceCertificate } from '../../certs/issue.js';
import { serviceUri } from '../../certs/identity.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { uriName } from '../../certs/profile.js';
import { isFleetkeyError, type ErrorCode } from '../../errors/index.js';
import { buildDeviceGrant, encryptGrantKey, keyThumbprint } from '../../protocol/grant.js';
import { verifyGrant } from '../../protocol/grant-verify.js';
import {
  clientAuthExt, commonNameOnly, extension, issuingSigner, keyIdentifier, keyUsageExt, leafExtensions, signerOf, signWith,
  subjectAltName, subjectKeyIdentifier, basicConstraints,
} from './cert-kit.js';
import { flipChar, payloadOf, protocolFleet, type Party } from './fixture.js';

const fleet = protocolFleet();
const device = fleet.party('device', 'dev-1');
const otherDevice = fleet.party('device', 'dev-2');
const consumer = fleet.party('consumer', 'dash');
const nonce = randomBytes(16).toString('base64url');
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_ENCIPHERMENT = 2;

t.test('ok/ device grants for P-256, P-384 and RSA device keys unwrap to K', async (t) => {
  for (const type of ['ec-p256', 'ec-p384', 'rsa'] as const) {
    const d = fleet.party('device', `dev-${type}`, type);
    const key = randomBytes(32);
    const jws = await fleet.deviceGrant(d, { epoch: 4, grant: 9, key, req: nonce });
    const v = await fleet.verifyAs(d, jws);
    t.same({ ...v, key: v.key.toString('hex') }, { kind: 'device', sub: d.id, epoch: 4, grant: 9, req: nonce, ...fleet.times, key: key.toString('hex') }, type);
    const jwe = String(payloadOf(jws).key);
    const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString());
    t.equal(header.alg, type === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW', `${type} alg`);
    t.equal(header.enc, 'A256GCM');
    t.equal(header.kid, keyThumbprint(d.publicKey));
  }
});

t.test('ok/ the payload has exactly the documented members, in order', async (t) => {
  const withReq = payloadOf(await fleet.deviceGrant(device, { req: nonce }));
  t.same(Object.keys(withReq), ['v', 'sub', 'epoch', 'grant', 'req', 'iat', 'nbf', 'exp', 'key']);
  const rotation = payloadOf(await fleet.deviceGrant(device));
  t.same(Object.keys(rotation), ['v', 'sub', 'epoch', 'grant', 'iat', 'nbf', 'exp', 'key']);
  const epoch = await fleet.epochGrant(consumer, { epoch: 2 });
  t.same(Object.keys(payloadOf(epoch)), ['v', 'sub', 'epoch', 'iat', 'nbf', 'exp', 'key']);
  const header = JSON.parse(Buffer.from(epoch.split('.')[0]!, 'base64url').toString());
  t.same(Object.keys(header), ['alg', 'x5c']);
  t.same(header.x5c, fleet.signer.x5c.map((d) => d.toString('base64')));
});

t.test('ok/ a grant issued up to the clock leeway in this clock\'s future is accepted (check 7a)', async (t) => {
  const iat = fleet.times.iat + CLOCK_LEEWAY_SECONDS;
  const v = await fleet.verifyAs(device, await fleet.deviceGrant(device, { iat, nbf: iat, exp: iat + 600 }));
  t.equal(v.iat, iat);
});

t.test('ok/ epoch grants unwrap to S_e; x5c may end with the fleet root itself', async (t) => {
  const secret = randomBytes(32);
  const v = await fleet.verifyAs(consumer, await fleet.epochGrant(consumer, { epoch: 7, secret, req: nonce }));
  t.equal(v.kind, 'consumer');
  t.equal(v.grant, undefined);
  t.equal(v.epoch, 7);
  t.ok(v.key.equals(secret));
  const withRoot = { key: fleet.signer.key, x5c: [...fleet.signer.x5c, fleet.ca.root.certificate.der] };
  t.ok(await fleet.verifyAs(device, await fleet.deviceGrant(device, { signer: withRoot })));
});

t.test('build refuses bad input', async (t) => {
  const base = { signer: fleet.signer, deviceId: device.id, devicePublicKey: device.publicKey, epoch: 1, grant: 1, key: randomBytes(32), iat: 1, nbf: 1, exp: 2 };
  const bad: Array<[string, object]> = [
    ['device id', { deviceId: 'a/b' }], ['epoch 0', { epoch: 0 }], ['grant > u32', { grant: 2 ** 32 }], ['key 16 bytes', { key: randomBytes(16) }],
    ['req not a nonce', { req: 'abc' }], ['time fraction', { exp: 1.5 }], ['private recipient', { devicePublicKey: device.privateKey }],
    ['P-384 signer', { signer: { key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, x5c: fleet.signer.x5c } }],
  ];
  for (const [name, change] of bad) {
    await t.rejects(buildDeviceGrant({ ...base, ...change } as typeof base), { code: 'PROTOCOL_INPUT_INVALID' }, `fail/${name}`);
  }
  const ed = generateKeyPairSync('ed25519').publicKey;
  await t.rejects(buildDeviceGrant({ ...base, devicePublicKey: ed }), { code: 'KEY_UNSUPPORTED' }, 'fail/Ed25519 recipient');
});

/** A grant whose payload is the valid one with `change` applied, re-signed by the genuine KDC key. */
async function resigned(change: (payload: Record<string, unknown>) => void): Promise<string> {
  const payload = payloadOf(await fleet.deviceGrant(device, { req: nonce }));
  change(payload);
  return fleet.signRaw(payload);
}

/** The JWE of a valid grant with segment `i` changed by `edit`, re-signed. */
async function jweEdited(i: number, edit: (segment: string) => string): Promise<string> {
  return resigned((p) => {
    const parts = String(p.key).split('.');
    parts[i] = edit(parts[i]!);
    p.key = parts.join('.');
  });
}

function signerCert(opts: { purpose?: 'client' | 'server'; extensions?: (spki: Buffer) => Buffer[]; curve?: 'P-256' | 'P-384' }) {
  const keys = generateKeyPairSync('ec', { namedCurve: opts.curve ?? 'P-256' });
  const now = Date.now();
  const cert = signWith(issuingSigner(fleet.ca), {
    subject: commonNameOnly('kdc-odd'), publicKey: keys.publicKey, notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000),
    extensions: opts.extensions ?? leafExtensions(opts.curve === 'P-384' ? 'ec-p384' : 'ec-p256', opts.purpose ?? 'client', serviceUri('kdc')),
  });
  return { keys, cert, x5c: [cert.der.toString('base64'), fleet.ca.issuing.certificate.der.toString('base64')] };
}

async function signedBy(x5c: string[], key = fleet.signer.key, payload?: Record<string, unknown>): Promise<string> {
  return fleet.signRaw(payload ?? payloadOf(await fleet.deviceGrant(device)), { alg: 'ES256', x5c }, key);
}

const otherFleet = createFleetCa({ name: 'Other Fleet' });
const otherKdcKeys = generateDeviceKey('ec-p256');
const otherKdc = issueServiceCertificate(otherFleet, { role: 'kdc', name: '1', publicKey: otherKdcKeys.publicKey });
const b64 = (der: Buffer) => der.toString('base64');
const issuingB64 = b64(fleet.ca.issuing.certificate.der);
const kdcB64 = b64(fleet.kdcCert.der);

interface Case {
  readonly name: string;
  readonly code: ErrorCode;
  readonly jws: () => Promise<string>;
  readonly as?: Party;
  readonly now?: number;
}

const cases: Case[] = [
  // 1. shape
  { name: 'not a JWS', code: 'GRANT_MALFORMED', jws: async () => 'hello' },
  { name: 'two segments', code: 'GRANT_MALFORMED', jws: async () => (await fleet.deviceGrant(device)).split('.').slice(0, 2).join('.') },
  { name: 'alg none, empty signature', code: 'GRANT_MALFORMED', jws: async () => { const [, p] = (await fleet.deviceGrant(device)).split('.'); return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`; } },
  { name: 'header not JSON', code: 'GRANT_MALFORMED', jws: async () => { const [, p, s] = (await fleet.deviceGrant(device)).split('.'); return `${Buffer.from('nope').toString('base64url')}.${p}.${s}`; } },
  { name: 'too large', code: 'GRANT_MALFORMED', jws: async () => 'a'.repeat(17_000) + '.b.c' },
  { name: 'alg ES384', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw({}, { alg: 'ES384', x5c: [kdcB64, issuingB64] }, generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey) },
  { name: 'extra header member (kid)', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw({}, { alg: 'ES256', x5c: [kdcB64, issuingB64], kid: 'x' }) },
  { name: 'no x5c', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw({}, { alg: 'ES256' }) },
  { name: 'x5c with the leaf only', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw({}, { alg: 'ES256', x5c: [kdcB64] }) },
  { name: 'x5c entry not base64', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw({}, { alg: 'ES256', x5c: [kdcB64, 'not base64!'] }) },
  { name: 'x5c entry not a certificate', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw({}, { alg: 'ES256', x5c: [kdcB64, 'AAAA'] }) },
  // 2. chain
  { name: 'chain of another fleet', code: 'GRANT_SIGNER_UNTRUSTED', jws: () => signedBy([b64(otherKdc.der), b64(otherFleet.issuing.certificate.der)], otherKdcKeys.privateKey) },
  { name: 'our KDC under another fleet\'s issuing CA', code: 'GRANT_SIGNER_UNTRUSTED', jws: () => signedBy([kdcB64, b64(otherFleet.issuing.certificate.der)]) },
  { name: 'another fleet\'s KDC under our issuing CA', code: 'GRANT_SIGNER_UNTRUSTED', jws: () => signedBy([b64(otherKdc.der), issuingB64], otherKdcKeys.privateKey) },
  { name: 'third certificate is not the fleet root', code: 'GRANT_SIGNER_UNTRUSTED', jws: () => signedBy([kdcB64, issuingB64, b64(otherFleet.root.certificate.der)]) },
  { name: 'leaf and issuer swapped', code: 'GRANT_SIGNER_UNTRUSTED', jws: () => signedBy([issuingB64, kdcB64]) },
  {
    name: 'issuer is not a CA (KDC certificate signed by a device key)', code: 'GRANT_SIGNER_UNTRUSTED',
    jws: async () => {
      const forged = signWith(signerOf({ der: device.cert.der, x509: device.cert.x509 }, device.privateKey), {
        subject: commonNameOnly('kdc-forged'), publicKey: otherKdcKeys.publicKey, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000),
        extensions: leafExtensions('ec-p256', 'client', serviceUri('kdc')),
      });
      return signedBy([b64(forged.der), b64(device.cert.der)], otherKdcKeys.privateKey);
    },
  },
  { name: 'signer certificate expired', code: 'GRANT_SIGNER_UNTRUSTED', jws: async () => fleet.deviceGrant(device, { exp: fleet.times.iat + 400 * 86_400 }), now: fleet.now + 366 * 86_400_000 },
  {
    name: 'signer certificate not yet valid', code: 'GRANT_SIGNER_UNTRUSTED',
    jws: async () => {
      const keys = generateDeviceKey('ec-p256');
      const later = issueServiceCertificate(fleet.ca, { role: 'kdc', name: 'later', publicKey: keys.publicKey, now: new Date(fleet.now + 86_400_000) });
      return signedBy([b64(later.der), issuingB64], keys.privateKey);
    },
  },
  {
    name: 'issued beyond the clock leeway in this clock\'s future (check 7a)', code: 'GRANT_NOT_YET_VALID',
    jws: async () => fleet.deviceGrant(device, { iat: fleet.times.iat + CLOCK_LEEWAY_SECONDS + 1, nbf: fleet.times.iat + CLOCK_LEEWAY_SECONDS + 1, exp: fleet.times.iat + 3600 }),
  },
  { name: 'fleet root not yet valid', code: 'GRANT_SIGNER_UNTRUSTED', jws: async () => fleet.deviceGrant(device), now: fleet.now - 86_400_000 },
  {
    name: 'unknown critical extension on the signer', code: 'GRANT_SIGNER_UNTRUSTED',
    jws: async () => {
      const odd = signerCert({ extensions: (spki) => [...leafExtensions('ec-p256', 'client', serviceUri('kdc'))(spki), extension('1.3.6.1.4.1.99999.1', true, Buffer.from([0x05, 0x00]))] });
      return signedBy(odd.x5c, odd.keys.privateKey);
    },
  },
  {
    name: 'signer certificate is a CA', code: 'GRANT_SIGNER_UNTRUSTED',
    jws: async () => {
      const odd = signerCert({ extensions: (spki) => [basicConstraints(true), keyUsageExt(KU_DIGITAL_SIGNATURE), clientAuthExt(), subjectAltName([uriName(serviceUri('kdc'))]), subjectKeyIdentifier(keyIdentifier(spki))] });
      return signedBy(odd.x5c, odd.keys.privateKey);
    },
  },
  // 3. signer role and usage
  { name: 'signed by a device certificate', code: 'GRANT_SIGNER_NOT_KDC', jws: () => signedBy([b64(otherDevice.cert.der), issuingB64], otherDevice.privateKey) },
  { name: 'signed by a consumer certificate', code: 'GRANT_SIGNER_NOT_KDC', jws: () => signedBy([b64(consumer.cert.der), issuingB64], consumer.privateKey) },
  {
    name: 'signed by an operator certificate', code: 'GRANT_SIGNER_NOT_KDC',
    jws: async () => { const op = fleet.party('operator', 'ops'); return signedBy([b64(op.cert.der), issuingB64], op.privateKey); },
  },
  {
    name: 'kdc role but serverAuth only', code: 'GRANT_SIGNER_NOT_KDC',
    jws: async () => {
      const keys = generateDeviceKey('ec-p256');
      const cert = issueLeaf(fleet.ca, { commonName: 'kdc-srv', altNames: [uriName(serviceUri('kdc'))], purpose: 'server', spki: keys.publicKey.export({ type: 'spki', format: 'der' }), keyType: 'ec-p256', lifetimeDays: 1, now: undefined });
      return signedBy([b64(cert.der), issuingB64], keys.privateKey);
    },
  },
  {
    name: 'kdc role without digitalSignature', code: 'GRANT_SIGNER_NOT_KDC',
    jws: async () => {
      const odd = signerCert({ extensions: (spki) => [basicConstraints(false), keyUsageExt(KU_KEY_ENCIPHERMENT), clientAuthExt(), subjectAltName([uriName(serviceUri('kdc'))]), subjectKeyIdentifier(keyIdentifier(spki))] });
      return signedBy(odd.x5c, odd.keys.privateKey);
    },
  },
  {
    name: 'kdc role with a P-384 key', code: 'GRANT_SIGNER_NOT_KDC',
    jws: async () => { const odd = signerCert({ curve: 'P-384' }); return signedBy(odd.x5c); },
  },
  // 4. signature
  { name: 'signature byte changed', code: 'GRANT_SIGNATURE_INVALID', jws: async () => { const [h, p, s] = (await fleet.deviceGrant(device)).split('.'); return `${h}.${p}.${flipChar(s!, 10)}`; } },
  {
    name: 'payload swapped under a valid signature', code: 'GRANT_SIGNATURE_INVALID',
    jws: async () => { const [h, , s] = (await fleet.deviceGrant(device, { epoch: 1 })).split('.'); const [, p] = (await fleet.deviceGrant(device, { epoch: 9 })).split('.'); return `${h}.${p}.${s}`; },
  },
  { name: 'genuine x5c, signed by another key', code: 'GRANT_SIGNATURE_INVALID', jws: () => signedBy([kdcB64, issuingB64], otherKdcKeys.privateKey) },
  // 5. claims
  { name: 'payload not JSON', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw('not json') },
  { name: 'payload an array', code: 'GRANT_MALFORMED', jws: () => fleet.signRaw('[1]') },
  { name: 'v 2', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.v = 2; }) },
  { name: 'unknown claim', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.extra = 1; }) },
  { name: 'exp missing', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { delete p.exp; }) },
  { name: 'exp a string', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.exp = String(p.exp); }) },
  { name: 'epoch 0', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.epoch = 0; }) },
  { name: 'grant beyond u32', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.grant = 2 ** 32; }) },
  { name: 'device grant without grant number', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { delete p.grant; }) },
  { name: 'req not a 16-byte nonce', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.req = 'short'; }) },
  { name: 'sub not a device id', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.sub = 'a/b'; }) },
  { name: 'key not a string', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.key = 1; }) },
  { name: 'key not a JWE', code: 'GRANT_MALFORMED', jws: () => resigned((p) => { p.key = 'a.b.c'; }) },
  { name: 'epoch grant offered to a device', code: 'GRANT_MALFORMED', jws: async () => fleet.signRaw({ ...payloadOf(await fleet.epochGrant(consumer)), sub: device.id }) },
  { name: 'device grant offered to a consumer', code: 'GRANT_MALFORMED', as: consumer, jws: () => resigned((p) => { p.sub = consumer.id; }) },
  { name: 'JWE enc A128GCM', code: 'GRANT_MALFORMED', jws: () => jweWith({ alg: 'ECDH-ES+A256KW', enc: 'A128GCM' }, 32) },
  { name: 'JWE alg dir', code: 'GRANT_MALFORMED', jws: () => jweEdited(0, () => Buffer.from('{"alg":"dir","enc":"A256GCM"}').toString('base64url')) },
  // 6–7. subject and time
  { name: 'sub is another device', code: 'GRANT_SUBJECT_MISMATCH', jws: () => fleet.deviceGrant(otherDevice) },
  { name: 'epoch grant for another consumer', code: 'GRANT_SUBJECT_MISMATCH', as: consumer, jws: async () => fleet.epochGrant(fleet.party('consumer', 'other')) },
  { name: 'exp now', code: 'GRANT_EXPIRED', jws: () => fleet.deviceGrant(device, { exp: Math.floor(fleet.now / 1000) }) },
  { name: 'exp past', code: 'GRANT_EXPIRED', jws: () => fleet.deviceGrant(device, { exp: fleet.times.iat - 60 }) },
  // 8–9. the JWE
  { name: 'encrypted to another device\'s key (kid)', code: 'GRANT_WRONG_RECIPIENT', jws: async () => fleet.signRaw({ ...payloadOf(await fleet.deviceGrant(otherDevice)), sub: device.id }) },
  {
    name: 'RSA-OAEP JWE for an EC device', code: 'GRANT_WRONG_RECIPIENT',
    jws: async () => { const rsa = fleet.party('device', 'dev-rsa', 'rsa'); return fleet.signRaw({ ...payloadOf(await fleet.deviceGrant(rsa)), sub: device.id }); },
  },
  { name: 'ciphertext changed', code: 'GRANT_KEY_UNWRAP_FAILED', jws: () => jweEdited(3, (s) => flipChar(s, 5)) },
  { name: 'GCM tag changed', code: 'GRANT_KEY_UNWRAP_FAILED', jws: () => jweEdited(4, (s) => flipChar(s, 5)) },
  { name: 'wrapped CEK changed', code: 'GRANT_KEY_UNWRAP_FAILED', jws: () => jweEdited(1, (s) => flipChar(s, 5)) },
  { name: 'IV changed', code: 'GRANT_KEY_UNWRAP_FAILED', jws: () => jweEdited(2, (s) => flipChar(s, 5)) },
  {
    name: 'JWE header changed (kid dropped)', code: 'GRANT_KEY_UNWRAP_FAILED',
    jws: () => jweEdited(0, (s) => { const h = JSON.parse(Buffer.from(s, 'base64url').toString()); delete h.kid; return Buffer.from(JSON.stringify(h)).toString('base64url'); }),
  },
  {
    name: 'another device\'s key, no kid', code: 'GRANT_KEY_UNWRAP_FAILED',
    jws: async () => resigned((p) => { p.key = jweNoKid; }),
  },
  { name: 'JWE plaintext 16 bytes', code: 'GRANT_KEY_UNWRAP_FAILED', jws: () => jweWith({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: keyThumbprint(device.publicKey) }, 16) },
];

let jweNoKid = '';
t.before(async () => {
  jweNoKid = await new CompactEncrypt(randomBytes(32)).setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' }).encrypt(otherDevice.publicKey);
});

async function jweWith(header: { alg: string; enc: string; kid?: string }, bytes: number): Promise<string> {
  const jwe = await new CompactEncrypt(randomBytes(bytes)).setProtectedHeader(header).encrypt(device.publicKey);
  return resigned((p) => { p.key = jwe; });
}

t.test('verify refuses, each with its code', async (t) => {
  for (const c of cases) {
    const jws = await c.jws();
    const err = await fleet.verifyAs(c.as ?? device, jws, c.now).then(() => undefined, (e: unknown) => e);
    t.ok(isFleetkeyError(err, c.code), `fail/${c.name}: ${c.code}${isFleetkeyError(err) ? ` (got ${err.code}: ${err.detail})` : ` (got ${String(err)})`}`);
    if (isFleetkeyError(err)) t.equal(err.status, 400);
  }
});

t.test('the cert kit builds what production builds, so only the property under test differs', async (t) => {
  const odd = signerCert({});
  const jws = await signedBy(odd.x5c, odd.keys.privateKey, payloadOf(await fleet.deviceGrant(device)));
  t.ok(await fleet.verifyAs(device, jws), 'a kit-built KDC certificate verifies');
});

t.test('a grant encrypted with jose directly verifies (interop with other JOSE builders)', async (t) => {
  const key = randomBytes(32);
  const jwe = await encryptGrantKey(device.publicKey, key);
  const v = await verifyGrant(await resigned((p) => { p.key = jwe; }), { fleetRoot: fleet.ca.root.certificate.x509, expectedSubject: device.id, recipientKey: device.privateKey, expect: 'device', now: fleet.now });
  t.ok(v.key.equals(key));
  const bare = await new CompactEncrypt(key).setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' }).encrypt(device.publicKey);
  const w = await fleet.verifyAs(device, await resigned((p) => { p.key = bare; }));
  t.ok(w.key.equals(key), 'kid is optional on the verifying side');
});
