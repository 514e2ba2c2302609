/**
 * Per-grant cost of the rekey grant (issue 6): protocol/ building (node:crypto, grant-crypto.ts) and
 * jose verifying grants, beside the raw per-grant crypto (ephemeral P-256 key + ECDH + ES256 sign)
 * measured in the same run, and the inline node:crypto prototype the protocol/ builder grew from
 * (both checked against jose's verifier at start).
 * Rates are per CPU-second of the whole process (jose's WebCrypto work runs on libuv threads).
 * Usage: npm run build && node dist/bench/grant-crypto.js [--seconds 2] [--rounds 3]
 * Target (issue 6): KDC grant rate >= 50% of the raw per-grant crypto.
 */
import { createCipheriv, createECDH, createHash, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { parseArgs } from 'node:util';
import { compactDecrypt, compactVerify } from 'jose';
import { createFleetCa } from '../certs/ca.js';
import { issueServiceCertificate } from '../certs/issue.js';
import { buildDeviceGrant, grantRecipient, keyThumbprint } from '../protocol/grant.js';
import { verifyGrant } from '../protocol/grant-verify.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const TARGET_RATIO = 0.5;

async function rate(op: (i: number) => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const limit = start + BigInt(Math.round(seconds * 1e9));
  let n = 0;
  while (process.hrtime.bigint() < limit) for (let j = 0; j < 16; j++) await op(n++);
  const used = process.cpuUsage(cpu);
  return n / ((used.user + used.system) / 1e6);
}

const ca = createFleetCa({ name: 'Bench' });
const kdc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kdcCert = issueServiceCertificate(ca, { role: 'kdc', name: 'bench', publicKey: kdc.publicKey });
const signer = { key: kdc.privateKey, x5c: [kdcCert.der, ca.issuing.certificate.der] };
const DEVICES = 256;
const devices = Array.from({ length: DEVICES }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
const spki = devices.map((d) => d.publicKey.export({ type: 'spki', format: 'der' }));
const points = devices.map((d) => {
  const jwk = d.publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
});
const kids = devices.map((d) => keyThumbprint(d.publicKey));
const K = randomBytes(32);
const now = Math.floor(Date.now() / 1000);
const payload400 = Buffer.alloc(400, 0x61);
const dev = (i: number) => i % DEVICES;

// --- what a node:crypto-only builder does: same header, payload and JWE members as protocol/grant.ts
const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const ALG = Buffer.from('ECDH-ES+A256KW');
const OTHER_INFO = Buffer.concat([u32(ALG.length), ALG, u32(0), u32(0), u32(256)]); // RFC 7518 §4.6.2
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex'); // RFC 3394 §2.2.3.1
const jwsHeader = b64u(JSON.stringify({ alg: 'ES256', x5c: signer.x5c.map((d) => d.toString('base64')) }));

function nodeJwe(i: number, plaintext: Buffer): string {
  const ecdh = createECDH('prime256v1');
  const epk = ecdh.generateKeys();
  const kek = createHash('sha256').update(u32(1)).update(ecdh.computeSecret(points[dev(i)]!)).update(OTHER_INFO).digest();
  const cek = randomBytes(32);
  const kw = createCipheriv('id-aes256-wrap', kek, KW_IV);
  const wrapped = Buffer.concat([kw.update(cek), kw.final()]);
  const header = b64u(JSON.stringify({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: kids[dev(i)], epk: { x: b64u(epk.subarray(1, 33)), crv: 'P-256', kty: 'EC', y: b64u(epk.subarray(33)) } }));
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
  gcm.setAAD(Buffer.from(header, 'ascii'));
  const ct = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  return `${header}.${b64u(wrapped)}.${b64u(iv)}.${b64u(ct)}.${b64u(gcm.getAuthTag())}`;
}

function nodeGrant(i: number): string {
  const payload = JSON.stringify({ v: 1, sub: `dev-${dev(i)}`, epoch: 1, grant: i, iat: now, nbf: now, exp: now + 600, key: nodeJwe(i, K) });
  const input = `${jwsHeader}.${b64u(payload)}`;
  return `${input}.${b64u(sign('sha256', Buffer.from(input), { key: kdc.privateKey, dsaEncoding: 'ieee-p1363' }))}`;
}

const fleetRoot = new X509Certificate(ca.root.certificate.der);
const verifyAs = (jws: string, i: number) => verifyGrant(jws, { fleetRoot, expectedSubject: `dev-${dev(i)}`, recipientKey: devices[dev(i)]!.privateKey, expect: 'device' });
for (let i = 0; i < 4; i++) {
  const got = await verifyAs(nodeGrant(i), i);
  if (!got.key.equals(K)) throw new Error('node:crypto builder does not interoperate with jose');
}

const protocolGrant = (i: number, key: KeyObject) =>
  buildDeviceGrant({ signer, deviceId: `dev-${dev(i)}`, devicePublicKey: key, epoch: 1, grant: i, key: K, iat: now, nbf: now, exp: now + 600 });
const made = await Promise.all(devices.map((d, i) => protocolGrant(i, d.publicKey)));
const jwes = made.map((g) => JSON.parse(Buffer.from(g.split('.')[1]!, 'base64url').toString()).key as string);

const cases: Array<[string, (i: number) => unknown]> = [
  ['raw: createECDH keygen + ECDH + ES256 sign', (i) => {
    const e = createECDH('prime256v1');
    e.generateKeys();
    e.computeSecret(points[dev(i)]!);
    sign('sha256', payload400, { key: kdc.privateKey, dsaEncoding: 'ieee-p1363' });
  }],
  ['raw: KeyObject keygen + ECDH + ES256 sign', (i) => {
    const e = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    diffieHellman({ privateKey: e.privateKey, publicKey: devices[dev(i)]!.publicKey });
    sign('sha256', payload400, { key: kdc.privateKey, dsaEncoding: 'ieee-p1363' });
  }],
  ['protocol buildDeviceGrant (device KeyObjects reused)', (i) => protocolGrant(i, devices[dev(i)]!.publicKey)],
  ['protocol buildDeviceGrant (new device KeyObject each)', (i) => protocolGrant(i, createPublicKey({ key: spki[dev(i)]!, format: 'der', type: 'spki' }))],
  ['protocol build, recipient read from SPKI each time', (i) => buildDeviceGrant({ signer, deviceId: `dev-${dev(i)}`, devicePublicKey: grantRecipient(spki[dev(i)]!), epoch: 1, grant: i, key: K, iat: now, nbf: now, exp: now + 600 })],
  ['node:crypto builder, same wire format', (i) => nodeGrant(i)],
  ['jose verifyGrant (chain + ES256 + unwrap)', (i) => verifyAs(made[dev(i)]!, i)],
  ['jose compactVerify + compactDecrypt only', async (i) => {
    await compactVerify(made[dev(i)]!, kdc.publicKey, { algorithms: ['ES256'] });
    await compactDecrypt(jwes[dev(i)]!, devices[dev(i)]!.privateKey);
  }],
];

const results = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) for (const [label, op] of cases) results.set(label, [...(results.get(label) ?? []), await rate(op)]);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const raw = median(results.get(cases[0]![0])!);
console.log(`per CPU-second, median of ${rounds} rounds of ${seconds}s; % of the raw per-grant crypto (first line)`);
for (const [label, xs] of results) console.log(`${label.padEnd(54)} ${median(xs).toFixed(0).padStart(7)} ops/s ${((median(xs) / raw) * 100).toFixed(0).padStart(5)}%`);
const built = median(results.get(cases[2]![0])!);
console.log(`protocol build at ${((built / raw) * 100).toFixed(0)}% of raw: ${built / raw >= TARGET_RATIO ? 'meets' : 'misses'} the ${TARGET_RATIO * 100}% target`);
