import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFleetCa } from '../../certs/ca.js';
import { createCsr } from '../../certs/csr-build.js';
import { issueFromCsr, parseCsr, validateDeviceCsr } from '../../certs/csr.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';
import { LEAF_PROFILE_EXTENSIONS, opensslCsr, opensslCsrFromKey, x509Text } from './x509-text.js';

const ca = createFleetCa({ name: 'CSR Test' });

const kinds = [
  { name: 'EC P-256', newkey: 'ec', extra: ['-pkeyopt', 'ec_paramgen_curve:P-256'], keyType: 'ec-p256', keyUsage: 'Digital Signature, Key Agreement' },
  { name: 'EC P-384', newkey: 'ec', extra: ['-pkeyopt', 'ec_paramgen_curve:P-384'], keyType: 'ec-p384', keyUsage: 'Digital Signature, Key Agreement' },
  { name: 'RSA 2048', newkey: 'rsa:2048', extra: [], keyType: 'rsa', keyUsage: 'Digital Signature, Key Encipherment' },
] as const;

for (const kind of kinds) {
  t.test(`ok/openssl req ${kind.name} as DER, PEM and base64 with newlines`, async (t) => {
    const dir = tempDir(t);
    const csr = opensslCsr(dir, 'dev', '/CN=dev-7', kind.newkey, kind.extra);
    const base64 = csr.der.toString('base64').replace(/.{1,60}/g, '$&\r\n');
    for (const [form, input] of [['DER', csr.der], ['PEM', csr.pem], ['base64', base64], ['base64 bytes', Buffer.from(base64)]] as const) {
      const parsed = parseCsr(input);
      t.equal(parsed.commonName, 'dev-7', `${form}: CN`);
      t.equal(parsed.keyType, kind.keyType, `${form}: key type`);
      t.ok(parsed.der.equals(csr.der), `${form}: DER`);
      t.doesNotThrow(() => validateDeviceCsr(parsed, 'dev-7'));
    }
    const leaf = issueFromCsr(ca, csr.pem, 'dev-7');
    const keyPub = openssl(['pkey', '-in', csr.keyFile, '-pubout']).stdout;
    t.equal(leaf.x509.publicKey.export({ type: 'spki', format: 'pem' }), keyPub, 'the certificate carries the request key');
    t.same(x509Text(leaf.pem).extensions.get('X509v3 Key Usage'), { critical: true, value: kind.keyUsage });
    writeFileSync(join(dir, 'root.pem'), ca.root.certificate.pem);
    writeFileSync(join(dir, 'issuing.pem'), ca.issuing.certificate.pem);
    writeFileSync(join(dir, 'leaf.pem'), leaf.pem);
    const verified = openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), '-purpose', 'sslclient', join(dir, 'leaf.pem')]);
    t.equal(verified.status, 0, verified.stderr);
  });
}

t.test('ok/what a CSR asks for beyond key and CN is never copied', async (t) => {
  const dir = tempDir(t);
  const csr = opensslCsr(dir, 'greedy', '/CN=dev-8/O=Evil Corp/OU=admins', 'ec', [
    '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:5',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-addext', 'extendedKeyUsage=serverAuth,codeSigning,clientAuth',
    '-addext', 'subjectAltName=DNS:evil.example,URI:urn:fleetkey:device:victim,URI:urn:fleetkey:service:kdc,IP:10.0.0.1',
    '-addext', 'nameConstraints=permitted;DNS:example.com',
  ]);
  t.match(openssl(['req', '-in', '-', '-noout', '-text'], csr.pem).stdout, /CA:TRUE/, 'the request really asks for CA:TRUE');
  const leaf = issueFromCsr(ca, csr.der, 'dev-8', { lifetimeDays: 7 });
  const { text, extensions } = x509Text(leaf.pem);
  t.same([...extensions.keys()].sort(), LEAF_PROFILE_EXTENSIONS);
  t.same(extensions.get('X509v3 Basic Constraints'), { critical: true, value: 'CA:FALSE' });
  t.same(extensions.get('X509v3 Key Usage'), { critical: true, value: 'Digital Signature, Key Agreement' });
  t.same(extensions.get('X509v3 Extended Key Usage'), { critical: false, value: 'TLS Web Client Authentication' });
  t.same(extensions.get('X509v3 Subject Alternative Name'), { critical: false, value: 'URI:urn:fleetkey:device:dev-8' });
  t.match(text, /Subject: CN = dev-8\n/, 'only the CN of the subject');
  t.notMatch(text, /Evil|admins|evil\.example|victim/);
  t.equal(leaf.notAfter.getTime() - leaf.notBefore.getTime(), 7 * 86_400_000 + 5 * 60_000);
});

t.test('ok/a compressed EC point is accepted and written uncompressed', async (t) => {
  const dir = tempDir(t);
  const plain = opensslCsr(dir, 'plain', '/CN=dev-9', 'ec', ['-pkeyopt', 'ec_paramgen_curve:P-256']);
  const compressedKey = join(dir, 'compressed.key');
  t.equal(openssl(['ec', '-in', plain.keyFile, '-conv_form', 'compressed', '-out', compressedKey]).status, 0);
  const der = opensslCsrFromKey(dir, 'compressed', '/CN=dev-9', compressedKey);
  t.match(openssl(['req', '-inform', 'DER', '-in', '-', '-noout', '-text'], der).stdout, /pub:\s+0[23]:/, 'the request carries a compressed point');
  const leaf = issueFromCsr(ca, der, 'dev-9');
  const expected = openssl(['pkey', '-in', plain.keyFile, '-pubout']).stdout;
  t.equal(leaf.x509.publicKey.export({ type: 'spki', format: 'pem' }), expected, 'same key, uncompressed named-curve SPKI');
});

t.test('ok/createCsr makes requests openssl accepts', async (t) => {
  for (const type of ['ec-p256', 'ec-p384', 'rsa'] as const) {
    const der = createCsr(generateDeviceKey(type), 'sim-1');
    const check = openssl(['req', '-inform', 'DER', '-in', '-', '-noout', '-verify', '-subject'], der);
    t.equal(check.status, 0, `${type}: ${check.stderr}`);
    t.match(check.stdout + check.stderr, /verify OK/i, type);
    t.match(check.stdout, /subject=CN = sim-1/, type);
    t.equal(parseCsr(der).keyType, type);
  }
});
