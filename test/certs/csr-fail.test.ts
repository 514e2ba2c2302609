import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFleetCa } from '../../certs/ca.js';
import { createCsr } from '../../certs/csr-build.js';
import { issueFromCsr, MAX_CSR_BYTES } from '../../certs/csr.js';
import { bitString, sequence } from '../../certs/der.js';
import { children, readRoot, whole } from '../../certs/der-reader.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { catalogue, isFleetkeyError, type ErrorCode } from '../../errors/index.js';
import { tempDir } from '../helpers/tmp.js';
import { opensslCsr, opensslCsrFromKey } from './x509-text.js';

const ca = createFleetCa({ name: 'CSR Fail Test' });
const good = createCsr(generateDeviceKey(), 'dev-1');

/** A copy of `der` with the byte at `at` (negative: from the end) XOR-ed. */
function flip(der: Buffer, at: number): Buffer {
  const copy = Buffer.from(der);
  const i = at < 0 ? copy.length + at : at;
  copy[i] = (copy[i] as number) ^ 0x01;
  return copy;
}

/** A request whose info carries key A but is signed by key B. */
function signedByAnotherKey(): Buffer {
  const mine = createCsr(generateDeviceKey(), 'dev-1');
  const theirs = createCsr(generateDeviceKey(), 'dev-1');
  const [info] = children(mine, readRoot(mine));
  const [, algorithm, signature] = children(theirs, readRoot(theirs));
  return sequence(whole(mine, info!), whole(theirs, algorithm!), whole(theirs, signature!));
}

/** The same request with its signature BIT STRING replaced. */
function withSignature(der: Buffer, signature: Buffer): Buffer {
  const [info, algorithm] = children(der, readRoot(der));
  return sequence(whole(der, info!), whole(der, algorithm!), signature);
}

interface FailCase {
  readonly name: string;
  readonly input: (dir: string) => Buffer | string;
  readonly deviceId?: string;
  readonly code: ErrorCode;
}

const ec = (curve: string): [string, string[]] => ['ec', ['-pkeyopt', `ec_paramgen_curve:${curve}`]];

const cases: FailCase[] = [
  { name: 'fail/empty buffer', input: () => Buffer.alloc(0), code: 'CSR_EMPTY' },
  { name: 'fail/empty string', input: () => '', code: 'CSR_EMPTY' },
  { name: 'fail/whitespace only', input: () => ' \r\n\t ', code: 'CSR_EMPTY' },
  { name: 'fail/over 16 KiB as text', input: () => 'A'.repeat(MAX_CSR_BYTES + 1), code: 'CSR_TOO_LARGE' },
  { name: 'fail/over 16 KiB as DER', input: () => Buffer.concat([good, Buffer.alloc(MAX_CSR_BYTES)]), code: 'CSR_TOO_LARGE' },
  { name: 'fail/not base64', input: () => 'this is not a request!', code: 'CSR_ENCODING_INVALID' },
  { name: 'fail/binary junk', input: () => Buffer.from([0xde, 0xad, 0xbe, 0xef]), code: 'CSR_ENCODING_INVALID' },
  { name: 'fail/PEM of another kind', input: () => `-----BEGIN CERTIFICATE-----\n${good.toString('base64')}\n-----END CERTIFICATE-----\n`, code: 'CSR_ENCODING_INVALID' },
  { name: 'fail/PEM with broken base64', input: () => `-----BEGIN CERTIFICATE REQUEST-----\n${good.toString('base64').slice(1)}\n-----END CERTIFICATE REQUEST-----\n`, code: 'CSR_ENCODING_INVALID' },
  { name: 'fail/base64 of something not DER', input: () => Buffer.from('hello world').toString('base64'), code: 'CSR_MALFORMED' },
  { name: 'fail/truncated DER', input: () => good.subarray(0, good.length - 10), code: 'CSR_MALFORMED' },
  { name: 'fail/truncated base64', input: () => good.subarray(0, 100).toString('base64'), code: 'CSR_MALFORMED' },
  { name: 'fail/trailing garbage', input: () => Buffer.concat([good, Buffer.from([0, 0])]), code: 'CSR_MALFORMED' },
  { name: 'fail/indefinite length (BER)', input: () => Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(3), Buffer.from([0, 0])]), code: 'CSR_MALFORMED' },
  { name: 'fail/a certificate, not a request', input: () => ca.issuing.certificate.der, code: 'CSR_MALFORMED' },
  { name: 'fail/version other than v1', input: () => flip(good, good.indexOf(Buffer.from([2, 1, 0])) + 2), code: 'CSR_MALFORMED' },
  { name: 'fail/EC point off the curve', input: () => flip(good, good.indexOf(Buffer.from([0x03, 0x42, 0x00, 0x04])) + 10), code: 'CSR_MALFORMED' },
  { name: 'fail/bad signature', input: () => flip(good, -1), code: 'CSR_SIGNATURE_INVALID' },
  { name: 'fail/signed content altered', input: () => Buffer.from(good.toString('latin1').replace('dev-1', 'dev-2'), 'latin1'), deviceId: 'dev-2', code: 'CSR_SIGNATURE_INVALID' },
  { name: 'fail/signed by another key', input: signedByAnotherKey, code: 'CSR_SIGNATURE_INVALID' },
  { name: 'fail/signature not an ECDSA-Sig-Value', input: () => withSignature(good, bitString(Buffer.alloc(70, 7))), code: 'CSR_SIGNATURE_INVALID' },
  { name: 'fail/SHA-1 signature', input: (dir) => opensslCsr(dir, 'sha1', '/CN=dev-1', 'ec', ['-pkeyopt', 'ec_paramgen_curve:P-256', '-sha1']).der, code: 'CSR_ALGORITHM_UNSUPPORTED' },
  { name: 'fail/RSA-PSS signature', input: (dir) => opensslCsr(dir, 'pss', '/CN=dev-1', 'rsa:2048', ['-sigopt', 'rsa_padding_mode:pss']).der, code: 'CSR_ALGORITHM_UNSUPPORTED' },
  { name: 'fail/RSA 1024', input: (dir) => opensslCsr(dir, 'rsa1024', '/CN=dev-1', 'rsa:1024').der, code: 'KEY_UNSUPPORTED' },
  { name: 'fail/secp256k1', input: (dir) => opensslCsr(dir, 'k1', '/CN=dev-1', ...ec('secp256k1')).der, code: 'KEY_UNSUPPORTED' },
  { name: 'fail/P-521', input: (dir) => opensslCsr(dir, 'p521', '/CN=dev-1', ...ec('P-521')).der, code: 'KEY_UNSUPPORTED' },
  { name: 'fail/brainpoolP256r1', input: (dir) => opensslCsr(dir, 'bp', '/CN=dev-1', ...ec('brainpoolP256r1')).der, code: 'KEY_UNSUPPORTED' },
  { name: 'fail/EC with explicit curve parameters', input: (dir) => opensslCsr(dir, 'explicit', '/CN=dev-1', 'ec', ['-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'encoding:explicit']).der, code: 'KEY_UNSUPPORTED' },
  { name: 'fail/Ed25519', input: (dir) => opensslCsr(dir, 'ed25519', '/CN=dev-1', 'ed25519').der, code: 'KEY_UNSUPPORTED' },
  { name: 'fail/Ed448', input: (dir) => opensslCsr(dir, 'ed448', '/CN=dev-1', 'ed448').der, code: 'KEY_UNSUPPORTED' },
  {
    name: 'fail/DSA',
    input: (dir) => {
      const { privateKey } = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });
      writeFileSync(join(dir, 'dsa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      return opensslCsrFromKey(dir, 'dsa', '/CN=dev-1', join(dir, 'dsa.key'), ['-sha256']);
    },
    code: 'KEY_UNSUPPORTED',
  },
  { name: 'fail/no CN', input: (dir) => opensslCsr(dir, 'nocn', '/O=Acme/OU=devices', ...ec('P-256')).pem, code: 'CSR_CN_MISSING' },
  { name: 'fail/empty subject', input: (dir) => opensslCsr(dir, 'nosubj', '/', ...ec('P-256')).pem, code: 'CSR_CN_MISSING' },
  { name: 'fail/CN is another device', input: (dir) => opensslCsr(dir, 'other', '/CN=dev-2', ...ec('P-256')).pem, code: 'CSR_CN_MISMATCH' },
  { name: 'fail/CN differs in case', input: (dir) => opensslCsr(dir, 'case', '/CN=DEV-1', ...ec('P-256')).pem, code: 'CSR_CN_MISMATCH' },
  { name: 'fail/CN with the id as a prefix', input: () => createCsr(generateDeviceKey(), 'dev-10'), code: 'CSR_CN_MISMATCH' },
  { name: 'fail/two CNs', input: (dir) => opensslCsr(dir, 'two', '/CN=dev-1/CN=dev-2', ...ec('P-256')).pem, code: 'CSR_SUBJECT_INVALID' },
  { name: 'fail/invalid device id', input: () => createCsr(generateDeviceKey(), 'bad id'), deviceId: 'bad id', code: 'DEVICE_ID_INVALID' },
  { name: 'fail/device id too long', input: () => good, deviceId: 'a'.repeat(65), code: 'DEVICE_ID_INVALID' },
  { name: 'fail/device id starting with a dot', input: () => good, deviceId: '.dev', code: 'DEVICE_ID_INVALID' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const input = c.input(tempDir(t));
    let caught: unknown;
    try {
      issueFromCsr(ca, input, c.deviceId ?? 'dev-1');
    } catch (err) {
      caught = err;
    }
    t.ok(isFleetkeyError(caught, c.code), `code ${c.code}, got ${(caught as { code?: string })?.code} ${(caught as Error)?.message}`);
    t.comment(`${c.code}: ${(caught as { detail?: string })?.detail}`);
    if (!isFleetkeyError(caught)) return;
    t.equal(caught.status, 400);
    t.equal(caught.message, catalogue[c.code].message);
    t.same(caught.toJSON(), { error: { code: c.code, message: catalogue[c.code].message } });
    t.type(caught.detail, 'string', 'the cause is kept for the log');
  });
}
