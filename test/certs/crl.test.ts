import t from 'tap';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { catalogue } from '../../errors/index.js';
import { createFleetCa } from '../../certs/ca.js';
import { buildCrl, buildRootCrl, readCrl, verifyCrl, type CrlEntry } from '../../certs/crl.js';
import { issueDeviceCertificate, issueServerCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import type { FleetCa } from '../../certs/types.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';

const ca = createFleetCa({ name: 'CRL Test' });
const device = (id: string) => issueDeviceCertificate(ca, { deviceId: id, publicKey: generateDeviceKey().publicKey });
const thisUpdate = new Date('2030-03-01T12:00:00.750Z');

t.test('fail/ every refusal has its code and message', async (t) => {
  const entry: CrlEntry = { serial: 'AB12', revokedAt: thisUpdate, reason: 'keyCompromise' };
  const offline: FleetCa = { ...ca, root: { ...ca.root, privateKey: undefined } };
  const cases: [string, () => unknown, keyof typeof catalogue][] = [
    ['serial not hex', () => buildCrl(ca, [{ ...entry, serial: 'XYZ' }]), 'CRL_ENTRY_INVALID'],
    ['serial empty', () => buildCrl(ca, [{ ...entry, serial: '' }]), 'CRL_ENTRY_INVALID'],
    ['serial over 20 octets', () => buildCrl(ca, [{ ...entry, serial: 'A'.repeat(41) }]), 'CRL_ENTRY_INVALID'],
    ['serial zero', () => buildCrl(ca, [{ ...entry, serial: '00' }]), 'CRL_ENTRY_INVALID'],
    ['serial repeated', () => buildCrl(ca, [entry, { ...entry, serial: 'ab12' }]), 'CRL_ENTRY_INVALID'],
    ['bad date', () => buildCrl(ca, [{ ...entry, revokedAt: new Date('nope') }]), 'CRL_ENTRY_INVALID'],
    ['unknown reason', () => buildCrl(ca, [{ ...entry, reason: 'bored' as never }]), 'CRL_ENTRY_INVALID'],
    ['inherited reason name', () => buildCrl(ca, [{ ...entry, reason: 'toString' as never }]), 'CRL_ENTRY_INVALID'],
    ['removeFromCRL outside a delta CRL', () => buildCrl(ca, [{ ...entry, reason: 'removeFromCRL' }]), 'CRL_ENTRY_INVALID'],
    ['nextUpdateHours 0', () => buildCrl(ca, [], { nextUpdateHours: 0 }), 'CONFIG_INVALID'],
    ['nextUpdateHours NaN', () => buildCrl(ca, [], { nextUpdateHours: Number.NaN }), 'CONFIG_INVALID'],
    ['negative crlNumber', () => buildCrl(ca, [], { crlNumber: -1n }), 'CONFIG_INVALID'],
    ['crlNumber over 20 octets', () => buildCrl(ca, [], { crlNumber: 2n ** 160n }), 'CONFIG_INVALID'],
    ['root key offline', () => buildRootCrl(offline), 'CA_ROOT_KEY_UNAVAILABLE'],
    ['readCrl garbage', () => readCrl(Buffer.from('not a crl')), 'CRL_INVALID'],
    ['readCrl a certificate', () => readCrl(ca.root.certificate.der), 'CRL_INVALID'],
    ['verifyCrl garbage', () => verifyCrl(Buffer.alloc(0), ca.issuing.certificate.x509), 'CRL_INVALID'],
  ];
  for (const [name, run, code] of cases) {
    t.throws(run, { code, message: catalogue[code].message }, name);
  }
});

t.test('ok/ openssl lists revoked serials with reasons and verifies the signature', async (t) => {
  const dir = tempDir(t);
  const [a, b, c] = [device('crl-a'), device('crl-b'), device('crl-c')];
  const crl = buildCrl(ca, [
    { serial: a.serial, revokedAt: new Date('2030-02-01T08:00:00Z'), reason: 'keyCompromise' },
    { serial: b.serial, revokedAt: new Date('2030-02-02T08:00:00Z'), reason: 'unspecified' },
    { serial: c.serial, revokedAt: new Date('2030-02-03T08:00:00Z'), reason: 'superseded' },
  ], { thisUpdate, crlNumber: 7n });
  const file = join(dir, 'issuing.crl');
  writeFileSync(file, crl.pem);
  writeFileSync(join(dir, 'chain.pem'), ca.issuing.certificate.pem + ca.root.certificate.pem);

  const text = openssl(['crl', '-in', file, '-noout', '-text']).stdout;
  t.match(text, 'Version 2 (0x1)');
  t.match(text, 'Signature Algorithm: ecdsa-with-SHA256');
  t.match(text, 'Issuer: O = CRL Test, CN = CRL Test Issuing CA');
  t.match(text, 'Last Update: Mar  1 12:00:00 2030 GMT');
  t.match(text, 'Next Update: Mar  2 12:00:00 2030 GMT');
  t.match(text, /CRL Number: \n\s+7\n/);
  t.match(text, /Authority Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/);
  t.match(text, new RegExp(`Serial Number: ${a.serial}\\n\\s+Revocation Date: Feb  1 08:00:00 2030 GMT\\n\\s+CRL entry extensions:\\n\\s+X509v3 CRL Reason Code: \\n\\s+Key Compromise`));
  t.match(text, new RegExp(`Serial Number: ${b.serial}\\n\\s+Revocation Date: Feb  2 08:00:00 2030 GMT\\n\\s+Serial Number`), 'unspecified: no reasonCode');
  t.match(text, new RegExp(`Serial Number: ${c.serial}[\\s\\S]*?Superseded`));
  const verified = openssl(['crl', '-in', file, '-noout', '-CAfile', join(dir, 'chain.pem')]);
  t.equal(verified.status, 0);
  t.match(verified.stderr + verified.stdout, 'verify OK');

  const wrongIssuer = join(dir, 'root.pem');
  writeFileSync(wrongIssuer, ca.root.certificate.pem);
  t.not(openssl(['crl', '-in', file, '-noout', '-CAfile', wrongIssuer]).status, 0, 'the root did not sign it');
});

t.test('ok/ the AKI is the issuing CA key id, DER times have whole seconds', async (t) => {
  const crl = buildCrl(ca, [], { thisUpdate: new Date('2050-06-01T00:00:00.999Z') });
  const ski = openssl(['x509', '-noout', '-ext', 'subjectKeyIdentifier'], ca.issuing.certificate.pem).stdout.split('\n')[1]!.trim();
  t.match(openssl(['crl', '-inform', 'DER', '-noout', '-text'], crl.der).stdout, ski);
  const asn1 = openssl(['asn1parse', '-inform', 'DER'], crl.der).stdout;
  t.match(asn1, 'GENERALIZEDTIME   :20500601000000Z', 'RFC 5280 §5.1.2.4: GeneralizedTime from 2050');
  t.notMatch(asn1, /l=\s+0 cons: SEQUENCE/, 'RFC 5280 §5.1.2.6: no empty revokedCertificates');
  t.match(openssl(['crl', '-inform', 'DER', '-noout', '-text'], crl.der).stdout, 'No Revoked Certificates.');
});

t.test('ok/ readCrl and verifyCrl read back what buildCrl wrote', async (t) => {
  const entries: CrlEntry[] = [
    { serial: '00FF01', revokedAt: new Date('2030-01-01T00:00:00Z'), reason: 'cessationOfOperation' },
    { serial: '7F', revokedAt: new Date('2030-01-02T00:00:00.400Z'), reason: 'unspecified' },
  ];
  const crl = buildCrl(ca, entries, { thisUpdate, nextUpdateHours: 6 });
  const parsed = readCrl(crl.der);
  t.equal(parsed.issuer, ca.issuing.certificate.x509.subject);
  t.same(parsed.thisUpdate, new Date('2030-03-01T12:00:00Z'));
  t.same(parsed.nextUpdate, new Date('2030-03-01T18:00:00Z'));
  t.equal(parsed.crlNumber, BigInt(new Date('2030-03-01T12:00:00Z').getTime()), 'default crlNumber: thisUpdate in ms');
  t.same(parsed.entries, [
    { serial: 'FF01', revokedAt: new Date('2030-01-01T00:00:00Z'), reason: 'cessationOfOperation' },
    { serial: '7F', revokedAt: new Date('2030-01-02T00:00:00Z'), reason: 'unspecified' },
  ]);
  t.equal(verifyCrl(crl.der, ca.issuing.certificate.x509), true);
  t.equal(verifyCrl(crl.der, ca.root.certificate.x509), false, 'another issuer');
  const tampered = Buffer.from(crl.der);
  tampered[tampered.length - 40]! ^= 1;
  t.equal(verifyCrl(tampered, ca.issuing.certificate.x509), false, 'a flipped signature bit');
});

t.test('ok/ the root CRL: signed by the root, ecdsa-with-SHA384 for a P-384 root, a year long', async (t) => {
  const crl = buildRootCrl(ca, [], { thisUpdate });
  const text = openssl(['crl', '-inform', 'DER', '-noout', '-text'], crl.der).stdout;
  t.match(text, 'Signature Algorithm: ecdsa-with-SHA384');
  t.match(text, 'Issuer: O = CRL Test, CN = CRL Test Root CA');
  t.same(readCrl(crl.der).nextUpdate, new Date('2031-03-01T12:00:00Z'));
  t.equal(verifyCrl(crl.der, ca.root.certificate.x509), true);
});

t.test('ok/ OpenSSL chain checking needs both CRLs and sees the revocation', async (t) => {
  const dir = tempDir(t);
  const [good, revoked] = [device('crl-good'), device('crl-revoked')];
  const files = {
    root: [join(dir, 'root.pem'), ca.root.certificate.pem],
    issuing: [join(dir, 'issuing.pem'), ca.issuing.certificate.pem],
    issuingCrl: [join(dir, 'issuing.crl'), buildCrl(ca, [{ serial: revoked.serial, revokedAt: new Date(), reason: 'keyCompromise' }]).pem],
    rootCrl: [join(dir, 'root.crl'), buildRootCrl(ca).pem],
    good: [join(dir, 'good.pem'), good.pem],
    revoked: [join(dir, 'revoked.pem'), revoked.pem],
  } as const;
  for (const [path, pem] of Object.values(files)) writeFileSync(path, pem);
  const verify = (leaf: string, crls: string[]) => openssl([
    'verify', '-crl_check_all', '-CAfile', files.root[0], '-untrusted', files.issuing[0],
    ...crls.flatMap((c) => ['-CRLfile', c]), leaf,
  ]);
  const noRootCrl = verify(files.good[0], [files.issuingCrl[0]]);
  t.not(noRootCrl.status, 0);
  t.match(noRootCrl.stdout + noRootCrl.stderr, 'unable to get certificate CRL', 'the issuing CA cannot be checked without the root CRL');
  t.equal(verify(files.good[0], [files.issuingCrl[0], files.rootCrl[0]]).status, 0);
  const refused = verify(files.revoked[0], [files.issuingCrl[0], files.rootCrl[0]]);
  t.not(refused.status, 0);
  t.match(refused.stdout + refused.stderr, 'certificate revoked');
});

t.test('ok/ Node TLS: the crl option wants the root CRL too, and refuses a revoked device', async (t) => {
  const serverKey = generateDeviceKey();
  const serverCert = issueServerCertificate(ca, {
    commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: [], publicKey: serverKey.publicKey,
  });
  const keys = { good: generateDeviceKey(), revoked: generateDeviceKey() };
  const certs = {
    good: issueDeviceCertificate(ca, { deviceId: 'tls-good', publicKey: keys.good.publicKey }),
    revoked: issueDeviceCertificate(ca, { deviceId: 'tls-revoked', publicKey: keys.revoked.publicKey }),
  };
  const issuingCrl = buildCrl(ca, [{ serial: certs.revoked.serial, revokedAt: new Date(), reason: 'keyCompromise' }]).pem;
  const rootCrl = buildRootCrl(ca).pem;

  // Decided on the server side: with TLS 1.3 the client may finish before the server refuses it.
  const handshake = async (crl: string[], who: 'good' | 'revoked'): Promise<'accepted' | 'refused'> => {
    const server = createServer({
      key: serverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: serverCert.pem + ca.issuing.certificate.pem,
      ca: [ca.root.certificate.pem],
      requestCert: true,
      rejectUnauthorized: true,
      crl,
    });
    t.teardown(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new Promise((resolve) => {
      server.on('secureConnection', (socket) => { socket.destroy(); resolve('accepted'); });
      server.on('tlsClientError', () => resolve('refused'));
      const client = connect({
        port: (server.address() as AddressInfo).port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: [ca.root.certificate.pem],
        key: keys[who].privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: certs[who].pem + ca.issuing.certificate.pem,
      });
      client.on('error', () => {});
      client.on('close', () => client.destroy());
    });
  };
  t.equal(await handshake([issuingCrl], 'good'), 'refused', 'issuing CRL alone: the root level has no CRL');
  t.equal(await handshake([issuingCrl, rootCrl], 'good'), 'accepted');
  t.equal(await handshake([issuingCrl, rootCrl], 'revoked'), 'refused');
});
