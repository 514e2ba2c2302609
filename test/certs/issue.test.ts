import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { createFleetCa } from '../../certs/ca.js';
import { identityFromCertificate } from '../../certs/identity.js';
import { issueDeviceCertificate, issueServerCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { createCsr } from '../../certs/csr-build.js';
import { parseCsr } from '../../certs/csr.js';
import { generateDeviceKey } from '../../certs/keys.js';
import type { IssuedCertificate } from '../../certs/types.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';
import { LEAF_PROFILE_EXTENSIONS, serialFromText, x509Text } from './x509-text.js';

const ca = createFleetCa({ name: 'Issue Test' });
const now = new Date();

/** `openssl verify` of a leaf against root + untrusted issuing CA, for one purpose. */
function opensslVerify(dir: string, leaf: IssuedCertificate, purpose: 'sslclient' | 'sslserver') {
  const root = join(dir, 'root.pem');
  const issuing = join(dir, 'issuing.pem');
  const file = join(dir, `leaf-${leaf.serial}.pem`);
  writeFileSync(root, ca.root.certificate.pem);
  writeFileSync(issuing, ca.issuing.certificate.pem);
  writeFileSync(file, leaf.pem);
  return openssl(['verify', '-CAfile', root, '-untrusted', issuing, '-purpose', purpose, file]);
}

const AKI = x509Text(ca.issuing.certificate.pem).extensions.get('X509v3 Subject Key Identifier')?.value;

const cases = [
  {
    name: 'ok/device EC P-256',
    issue: () => issueDeviceCertificate(ca, { deviceId: 'dev-1', publicKey: generateDeviceKey('ec-p256').publicKey, now }),
    purpose: 'sslclient' as const,
    cn: 'dev-1',
    keyUsage: 'Digital Signature, Key Agreement',
    eku: 'TLS Web Client Authentication',
    san: 'URI:urn:fleetkey:device:dev-1',
    days: 90,
    identity: { kind: 'device', id: 'dev-1' },
  },
  {
    name: 'ok/device EC P-384',
    issue: () => issueDeviceCertificate(ca, { deviceId: 'Dev.2_x', publicKey: generateDeviceKey('ec-p384').publicKey, now }),
    purpose: 'sslclient' as const,
    cn: 'Dev.2_x',
    keyUsage: 'Digital Signature, Key Agreement',
    eku: 'TLS Web Client Authentication',
    san: 'URI:urn:fleetkey:device:Dev.2_x',
    days: 90,
    identity: { kind: 'device', id: 'Dev.2_x' },
  },
  {
    name: 'ok/device RSA 2048',
    issue: () => issueDeviceCertificate(ca, { deviceId: 'rsa-dev', publicKey: generateDeviceKey('rsa').publicKey, lifetimeDays: 30, now }),
    purpose: 'sslclient' as const,
    cn: 'rsa-dev',
    keyUsage: 'Digital Signature, Key Encipherment',
    eku: 'TLS Web Client Authentication',
    san: 'URI:urn:fleetkey:device:rsa-dev',
    days: 30,
    identity: { kind: 'device', id: 'rsa-dev' },
  },
  {
    name: 'ok/server',
    issue: () =>
      issueServerCertificate(ca, {
        commonName: 'broker',
        dnsNames: ['localhost', 'Broker.Example.com'],
        ipAddresses: ['127.0.0.1', '::1', '2001:db8::ffff:10.0.0.1'],
        publicKey: generateDeviceKey('ec-p256').publicKey,
        now,
      }),
    purpose: 'sslserver' as const,
    cn: 'broker',
    keyUsage: 'Digital Signature, Key Agreement',
    eku: 'TLS Web Server Authentication',
    san: 'DNS:localhost, DNS:broker.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:FFFF:A00:1',
    days: 397,
    identity: undefined,
  },
  ...(['kdc', 'consumer', 'operator'] as const).map((role) => ({
    name: `ok/service ${role}`,
    issue: () => issueServiceCertificate(ca, { role, name: 'main', publicKey: generateDeviceKey('ec-p256').publicKey, now }),
    purpose: 'sslclient' as const,
    cn: `${role}-main`,
    keyUsage: 'Digital Signature, Key Agreement',
    eku: 'TLS Web Client Authentication',
    san: `URI:urn:fleetkey:service:${role}`,
    days: 365,
    identity: { kind: 'service', role },
  })),
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const dir = tempDir(t);
    const leaf = c.issue();
    const verified = opensslVerify(dir, leaf, c.purpose);
    t.equal(verified.status, 0, `openssl verify -purpose ${c.purpose}: ${verified.stderr}${verified.stdout}`);
    t.match(verified.stdout, /: OK/);
    const other = opensslVerify(dir, leaf, c.purpose === 'sslclient' ? 'sslserver' : 'sslclient');
    t.not(other.status, 0, 'the other TLS purpose is refused');

    const { text, extensions } = x509Text(leaf.pem);
    t.same([...extensions.keys()].sort(), LEAF_PROFILE_EXTENSIONS, 'exactly the profile extensions');
    t.same(extensions.get('X509v3 Basic Constraints'), { critical: true, value: 'CA:FALSE' });
    t.same(extensions.get('X509v3 Key Usage'), { critical: true, value: c.keyUsage });
    t.same(extensions.get('X509v3 Extended Key Usage'), { critical: false, value: c.eku });
    t.same(extensions.get('X509v3 Subject Alternative Name'), { critical: false, value: c.san });
    t.equal(extensions.get('X509v3 Authority Key Identifier')?.value, AKI, 'AKI = issuing CA SKI');
    t.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    t.match(text, new RegExp(`Subject: CN = ${c.cn.replace('.', '\\.')}\\n`));
    t.match(text, /Issuer: O = Issue Test, CN = Issue Test Issuing CA\n/);

    const serial = serialFromText(text);
    t.equal(serial, leaf.serial, 'serial as openssl prints it');
    t.match(serial, /^[89A-F][0-9A-F]{31}$/, '128-bit serial, top bit set, positive');

    const x509 = new X509Certificate(leaf.der);
    t.equal(x509.serialNumber, leaf.serial);
    t.ok(x509.checkIssued(ca.issuing.certificate.x509));
    t.ok(x509.verify(ca.issuing.certificate.x509.publicKey));
    t.notOk(x509.ca);
    t.equal(x509.subject, `CN=${c.cn}`);
    t.equal(new Date(x509.validFrom).getTime(), leaf.notBefore.getTime());
    t.equal(new Date(x509.validTo).getTime(), leaf.notAfter.getTime());
    const nowSeconds = Math.floor(now.getTime() / 1000) * 1000;
    t.equal(leaf.notBefore.getTime(), nowSeconds - 5 * 60_000, 'notBefore 5 minutes back');
    t.equal(leaf.notAfter.getTime(), nowSeconds + c.days * 86_400_000, `lifetime ${c.days} days`);
    t.match(leaf.fingerprint, /^[0-9a-f]{64}$/);
    t.equal(leaf.fingerprint, x509.fingerprint256.replace(/:/g, '').toLowerCase());
    t.same(identityFromCertificate(x509), c.identity);
  });
}

t.test('serials differ and SKI is SHA-1 of the key bits (RFC 5280 §4.2.1.2 method 1)', async (t) => {
  const { publicKey } = generateDeviceKey();
  const a = issueDeviceCertificate(ca, { deviceId: 'same', publicKey });
  const b = issueDeviceCertificate(ca, { deviceId: 'same', publicKey });
  t.not(a.serial, b.serial);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const expected = createHash('sha1').update(spki.subarray(spki.length - 65)).digest('hex').toUpperCase().match(/../g)!.join(':');
  t.equal(x509Text(a.pem).extensions.get('X509v3 Subject Key Identifier')?.value, expected);
});

t.test('a leaf never outlives the issuing CA', async (t) => {
  const short = createFleetCa({ name: 'Short', issuingLifetimeDays: 10, now });
  const leaf = issueDeviceCertificate(short, { deviceId: 'dev', publicKey: generateDeviceKey().publicKey, now });
  t.equal(leaf.notAfter.getTime(), short.issuing.certificate.notAfter.getTime());
});

t.test('a parsed request key is issued for as read: the same certificate body as its KeyObject', async (t) => {
  const keys = generateDeviceKey();
  const parsed = parseCsr(createCsr(keys, 'dev-csr'));
  const fromParsed = new X509Certificate(issueDeviceCertificate(ca, { deviceId: 'dev-csr', publicKey: parsed, now }).der);
  const fromKey = new X509Certificate(issueDeviceCertificate(ca, { deviceId: 'dev-csr', publicKey: keys.publicKey, now }).der);
  t.ok(fromParsed.publicKey.equals(keys.publicKey));
  t.same(fromParsed.publicKey.export({ type: 'spki', format: 'der' }), parsed.spki);
  t.same([...x509Text(fromParsed.toString()).extensions], [...x509Text(fromKey.toString()).extensions], 'same extensions, SKI included');
  t.equal(fromParsed.subject, fromKey.subject);
});
