import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogue } from '../../errors/index.js';
import { createFleetCa } from '../../certs/ca.js';
import {
  CERTS_ONLY_MEDIA_TYPE, decodeCertsOnly, decodeCertsOnlyBase64, encodeCertsOnly, encodeCertsOnlyBase64,
} from '../../certs/cms.js';
import { buildCrl } from '../../certs/crl.js';
import { issueDeviceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { toPem } from '../../certs/pem.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';

const ca = createFleetCa({ name: 'CMS Test' });
const leaf = issueDeviceCertificate(ca, { deviceId: 'cms-dev-1', publicKey: generateDeviceKey().publicKey });
const ders = [leaf.der, ca.issuing.certificate.der, ca.root.certificate.der];
const subjects = ['subject=CN = cms-dev-1', 'subject=O = CMS Test, CN = CMS Test Issuing CA', 'subject=O = CMS Test, CN = CMS Test Root CA'];

const subjectsIn = (printed: string): string[] => printed.split('\n').filter((l) => l.startsWith('subject='));

t.test('fail/ every refusal has its code and message', async (t) => {
  const crlOnly = join(tempDir(t), 'crl-only.p7b');
  t.equal(openssl(['crl2pkcs7', '-outform', 'DER', '-out', crlOnly], buildCrl(ca, []).pem).status, 0);
  const cases: [string, () => unknown, keyof typeof catalogue][] = [
    ['encode no certificates', () => encodeCertsOnly([]), 'CMS_CERTIFICATE_INVALID'],
    ['encode garbage', () => encodeCertsOnly([leaf.der, Buffer.from('nope')]), 'CMS_CERTIFICATE_INVALID'],
    ['encode PEM', () => encodeCertsOnly([Buffer.from(leaf.pem)]), 'CMS_CERTIFICATE_INVALID'],
    ['decode empty', () => decodeCertsOnly(Buffer.alloc(0)), 'CMS_INVALID'],
    ['decode garbage', () => decodeCertsOnly(Buffer.from('nope')), 'CMS_INVALID'],
    ['decode a certificate', () => decodeCertsOnly(leaf.der), 'CMS_INVALID'],
    ['decode truncated', () => decodeCertsOnly(encodeCertsOnly(ders).subarray(0, 200)), 'CMS_INVALID'],
    ['decode no certificates (CRL only)', () => decodeCertsOnly(readFileSync(crlOnly)), 'CMS_INVALID'],
    ['base64 empty', () => decodeCertsOnlyBase64(''), 'CMS_INVALID'],
    ['base64 bad characters', () => decodeCertsOnlyBase64(`${encodeCertsOnlyBase64(ders)}!`), 'CMS_INVALID'],
    ['base64 bad length', () => decodeCertsOnlyBase64('QUJD\r\nRA'), 'CMS_INVALID'],
  ];
  for (const [name, run, code] of cases) {
    t.throws(run, { code, message: catalogue[code].message }, name);
  }
});

t.test('ok/ openssl pkcs7 -print_certs reads DER, PEM and the EST base64 body', async (t) => {
  const dir = tempDir(t);
  const der = encodeCertsOnly(ders);
  const files = { der: join(dir, 'certs.p7b'), pem: join(dir, 'certs.p7.pem'), b64: join(dir, 'certs.b64') };
  writeFileSync(files.der, der);
  writeFileSync(files.pem, toPem('PKCS7', der));
  writeFileSync(files.b64, encodeCertsOnlyBase64(ders));

  t.same(subjectsIn(openssl(['pkcs7', '-inform', 'DER', '-in', files.der, '-print_certs', '-noout']).stdout), subjects);
  t.same(subjectsIn(openssl(['pkcs7', '-in', files.pem, '-print_certs', '-noout']).stdout), subjects);
  // What `curl …/cacerts | openssl base64 -d | openssl pkcs7 -inform DER -print_certs` does.
  const decoded = join(dir, 'decoded.p7b');
  t.equal(openssl(['base64', '-d', '-in', files.b64, '-out', decoded]).status, 0);
  t.same(subjectsIn(openssl(['pkcs7', '-inform', 'DER', '-in', decoded, '-print_certs', '-noout']).stdout), subjects);

  const asn1 = openssl(['asn1parse', '-inform', 'DER', '-in', files.der]).stdout;
  t.match(asn1, /OBJECT\s+:pkcs7-signedData/);
  t.match(asn1, /INTEGER\s+:01\n.*cons: SET\s*\n.*cons: SEQUENCE\s*\n.*OBJECT\s+:pkcs7-data/, 'v1, no digest algorithms, id-data without content');
  t.equal(CERTS_ONLY_MEDIA_TYPE, 'application/pkcs7-mime; smime-type=certs-only');
});

t.test('ok/ the base64 body has 64-character CRLF lines, and any wrapping reads back', async (t) => {
  const body = encodeCertsOnlyBase64(ders);
  const lines = body.split('\r\n');
  t.equal(lines.pop(), '', 'ends with CRLF');
  t.ok(lines.every((l) => l.length > 0 && l.length <= 64 && !l.includes('\n')));
  t.same(decodeCertsOnlyBase64(body), ders);
  t.same(decodeCertsOnlyBase64(Buffer.from(`  ${lines.join('')}\n`)), ders, 'one line, Buffer, surrounding whitespace');
});

t.test('ok/ decode returns the exact DER, in order, from ours and from openssl', async (t) => {
  t.same(decodeCertsOnly(encodeCertsOnly(ders)), ders);
  t.same(decodeCertsOnly(encodeCertsOnly([ca.root.certificate.der])), [ca.root.certificate.der]);
  const dir = tempDir(t);
  writeFileSync(join(dir, 'certs.pem'), ders.map((d) => toPem('CERTIFICATE', d)).join(''));
  const out = join(dir, 'openssl.p7b');
  t.equal(openssl(['crl2pkcs7', '-nocrl', '-outform', 'DER', '-certfile', join(dir, 'certs.pem'), '-out', out]).status, 0);
  t.same(decodeCertsOnly(readFileSync(out)), ders);
});
