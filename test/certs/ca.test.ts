import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { createFleetCa, requireRootKey } from '../../certs/ca.js';
import { catalogue, isFleetkeyError } from '../../errors/index.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';
import { serialFromText, x509Text } from './x509-text.js';

const now = new Date('2030-06-01T12:00:00.500Z');

t.test('ok/root and issuing CA carry the CA profile', async (t) => {
  const ca = createFleetCa({ name: 'Acme Fleet', now });
  const root = x509Text(ca.root.certificate.pem);
  const issuing = x509Text(ca.issuing.certificate.pem);

  t.match(root.text, /Subject: O = Acme Fleet, CN = Acme Fleet Root CA\n/, 'one attribute per RDN');
  t.match(root.text, /Issuer: O = Acme Fleet, CN = Acme Fleet Root CA\n/);
  t.match(root.text, /NIST CURVE: P-384/);
  t.match(root.text, /Signature Algorithm: ecdsa-with-SHA384/);
  t.same([...root.extensions.keys()].sort(), ['X509v3 Basic Constraints', 'X509v3 Key Usage', 'X509v3 Subject Key Identifier']);
  t.same(root.extensions.get('X509v3 Basic Constraints'), { critical: true, value: 'CA:TRUE' });
  t.same(root.extensions.get('X509v3 Key Usage'), { critical: true, value: 'Certificate Sign, CRL Sign' });

  t.match(issuing.text, /Subject: O = Acme Fleet, CN = Acme Fleet Issuing CA\n/);
  t.match(issuing.text, /Issuer: O = Acme Fleet, CN = Acme Fleet Root CA\n/);
  t.match(issuing.text, /NIST CURVE: P-256/);
  t.match(issuing.text, /Signature Algorithm: ecdsa-with-SHA384/, 'signed by the P-384 root');
  t.same([...issuing.extensions.keys()].sort(), [
    'X509v3 Authority Key Identifier',
    'X509v3 Basic Constraints',
    'X509v3 Key Usage',
    'X509v3 Subject Key Identifier',
  ]);
  t.same(issuing.extensions.get('X509v3 Basic Constraints'), { critical: true, value: 'CA:TRUE, pathlen:0' });
  t.same(issuing.extensions.get('X509v3 Key Usage'), { critical: true, value: 'Certificate Sign, CRL Sign' });
  t.equal(issuing.extensions.get('X509v3 Authority Key Identifier')?.value, root.extensions.get('X509v3 Subject Key Identifier')?.value);
  t.equal(serialFromText(root.text), ca.root.certificate.serial);
  t.equal(serialFromText(issuing.text), ca.issuing.certificate.serial);

  t.equal(ca.root.certificate.notBefore.toISOString(), '2030-06-01T11:55:00.000Z');
  t.equal(ca.root.certificate.notAfter.toISOString(), '2040-05-29T12:00:00.000Z', '3650 days');
  t.equal(ca.issuing.certificate.notAfter.toISOString(), '2035-05-31T12:00:00.000Z', '1825 days');
  t.equal(new Date(ca.root.certificate.x509.validTo).getTime(), ca.root.certificate.notAfter.getTime());
  t.ok(ca.issuing.certificate.x509.checkIssued(ca.root.certificate.x509));
  t.ok(ca.issuing.certificate.x509.verify(ca.root.certificate.x509.publicKey));
  t.ok(ca.root.certificate.x509.verify(ca.root.certificate.x509.publicKey));
  t.equal(requireRootKey(ca), ca.root.privateKey);

  const dir = tempDir(t);
  writeFileSync(join(dir, 'root.pem'), ca.root.certificate.pem);
  writeFileSync(join(dir, 'issuing.pem'), ca.issuing.certificate.pem);
  const verified = openssl(['verify', '-attime', String(Math.floor(now.getTime() / 1000)), '-CAfile', join(dir, 'root.pem'), join(dir, 'issuing.pem')]);
  t.equal(verified.status, 0, verified.stderr);
});

t.test('ok/pkijs reads what the DER writer made, as an independent parser', async (t) => {
  const ca = createFleetCa({ name: 'Cross Check', rootCurve: 'P-256', rootLifetimeDays: 100, issuingLifetimeDays: 200, now });
  const cert = pkijs.Certificate.fromBER(ca.issuing.certificate.der);
  t.equal(cert.version, 2);
  t.equal(cert.subject.typesAndValues.length, 2);
  t.equal(cert.notAfter.value.toISOString(), ca.root.certificate.notAfter.toISOString(), 'issuing CA capped at the root');
  const bc = cert.extensions?.find((e) => e.extnID === '2.5.29.19');
  t.equal(bc?.critical, true);
  t.equal((bc?.parsedValue as pkijs.BasicConstraints).pathLenConstraint, 0);
  const ski = cert.extensions?.find((e) => e.extnID === '2.5.29.14');
  t.type(ski?.parsedValue, asn1js.OctetString);
  t.match(x509Text(ca.root.certificate.pem).text, /Signature Algorithm: ecdsa-with-SHA256/, 'a P-256 root signs with SHA-256');
});

t.test('ok/a 2050+ expiry is written as GeneralizedTime (RFC 5280 §4.1.2.5)', async (t) => {
  const ca = createFleetCa({ name: 'Late', now: new Date('2045-01-01T00:00:00Z') });
  t.equal(ca.root.certificate.notAfter.toISOString(), '2054-12-30T00:00:00.000Z');
  t.equal(new Date(ca.root.certificate.x509.validTo).toISOString(), '2054-12-30T00:00:00.000Z');
  const parsed = pkijs.Certificate.fromBER(ca.root.certificate.der);
  t.equal(parsed.notAfter.type, 1, 'GeneralizedTime');
  t.equal(parsed.notBefore.type, 0, 'UTCTime');
});

for (const name of ['', ' padded', 'x'.repeat(51), 'line\nbreak', 'nul\u0000']) {
  t.test(`fail/CA name ${JSON.stringify(name).slice(0, 20)}`, async (t) => {
    t.throws(() => createFleetCa({ name }), { code: 'CA_NAME_INVALID', message: catalogue.CA_NAME_INVALID.message });
  });
}

t.test('fail/CA lifetimes outside 1..3650 days', async (t) => {
  for (const days of [0, -1, 1.5, 3651, Number.NaN]) {
    t.throws(() => createFleetCa({ name: 'X', rootLifetimeDays: days }), { code: 'CERT_LIFETIME_INVALID' }, String(days));
  }
});

t.test('fail/requireRootKey on a CA without its root key', async (t) => {
  const ca = createFleetCa({ name: 'Offline' });
  const offline = { ...ca, root: { certificate: ca.root.certificate, privateKey: undefined } };
  try {
    requireRootKey(offline);
    t.fail('should throw');
  } catch (err) {
    t.ok(isFleetkeyError(err, 'CA_ROOT_KEY_UNAVAILABLE'));
  }
});
