import t from 'tap';
import { createFleetCa } from '../../certs/ca.js';
import { assertDeviceId, deviceUri, identityFromCertificate, isValidDeviceId, parseIdentityUri, serviceUri } from '../../certs/identity.js';
import { issueLeaf } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { dnsName, uriName } from '../../certs/profile.js';
import type { ServiceRole } from '../../certs/types.js';

t.test('ok/device ids (DESIGN.md pattern)', async (t) => {
  for (const id of ['a', 'A1', '0', 'dev-1', 'dev_1.x', 'a'.repeat(64), 'Z.-_']) t.ok(isValidDeviceId(id), id);
  for (const id of ['', '-a', '.a', '_a', 'a'.repeat(65), 'a b', 'a/b', 'a+b', 'dév', 'a#', 'a\n', 42, undefined]) {
    t.notOk(isValidDeviceId(id), String(id));
  }
  t.throws(() => assertDeviceId('a/b'), { code: 'DEVICE_ID_INVALID', status: 400 });
  t.throws(() => deviceUri('+'), { code: 'DEVICE_ID_INVALID' });
  t.throws(() => serviceUri('admin' as ServiceRole), { code: 'CERT_NAME_INVALID' });
});

t.test('ok/URIs round-trip', async (t) => {
  t.equal(deviceUri('dev-1'), 'urn:fleetkey:device:dev-1');
  t.equal(serviceUri('kdc'), 'urn:fleetkey:service:kdc');
  t.same(parseIdentityUri('urn:fleetkey:device:dev-1'), { kind: 'device', id: 'dev-1' });
  t.same(parseIdentityUri('urn:fleetkey:service:consumer'), { kind: 'service', role: 'consumer' });
  for (const uri of ['urn:fleetkey:device:', 'urn:fleetkey:device:a b', 'urn:fleetkey:service:root', 'urn:other:device:x', 'URN:FLEETKEY:DEVICE:x']) {
    t.equal(parseIdentityUri(uri), undefined, uri);
  }
});

const ca = createFleetCa({ name: 'Identity Test' });
const { publicKey } = generateDeviceKey();
const leafWith = (altNames: Buffer[]) =>
  issueLeaf(ca, { commonName: 'x', altNames, purpose: 'client', spki: publicKey.export({ type: 'spki', format: 'der' }), keyType: 'ec-p256', lifetimeDays: 1, now: undefined }).x509;

t.test('identityFromCertificate reads exactly one fleetkey URI from the SAN DER', async (t) => {
  t.same(identityFromCertificate(leafWith([dnsName('a.example'), uriName('urn:fleetkey:device:d1')])), { kind: 'device', id: 'd1' });
  t.same(identityFromCertificate(leafWith([uriName('https://x.example'), uriName('urn:fleetkey:service:operator')])), { kind: 'service', role: 'operator' });
  t.equal(identityFromCertificate(leafWith([uriName('urn:fleetkey:device:d1'), uriName('urn:fleetkey:device:d2')])), undefined, 'two identities: none');
  t.equal(identityFromCertificate(leafWith([uriName('urn:fleetkey:device:d1'), uriName('urn:fleetkey:device:bad id')])), undefined, 'one malformed: none');
  t.equal(identityFromCertificate(leafWith([uriName('urn:fleetkey:device:d1, URI:urn:fleetkey:device:d2')])), undefined, 'no string tricks');
  t.equal(identityFromCertificate(leafWith([dnsName('localhost')])), undefined);
  t.equal(identityFromCertificate(ca.root.certificate.x509), undefined, 'no SAN at all');
});

t.test('readPeerCertificate agrees with Node on identity, serial and notAfter', async (t) => {
  const { createFleetCa } = await import('../../certs/ca.js');
  const { issueDeviceCertificate, issueServiceCertificate } = await import('../../certs/issue.js');
  const { generateDeviceKey } = await import('../../certs/keys.js');
  const { readPeerCertificate } = await import('../../certs/identity.js');
  const ca = createFleetCa({ name: 'Peer Test' });
  for (let i = 0; i < 20; i++) {
    const cert = issueDeviceCertificate(ca, { deviceId: `dev-${i}`, publicKey: generateDeviceKey().publicKey });
    const peer = readPeerCertificate(cert.der);
    t.same(peer?.identity, { kind: 'device', id: `dev-${i}` });
    t.equal(peer?.serial, cert.x509.serialNumber, 'serial as X509Certificate prints it');
    t.equal(peer?.notAfter.getTime(), new Date(cert.x509.validTo).getTime());
  }
  const kdc = issueServiceCertificate(ca, { role: 'kdc', name: 'a', publicKey: generateDeviceKey().publicKey });
  t.same(readPeerCertificate(kdc.der)?.identity, { kind: 'service', role: 'kdc' });
  t.equal(readPeerCertificate(ca.root.certificate.der)?.identity, undefined, 'a CA certificate carries no identity');
  t.equal(readPeerCertificate(Buffer.from('not a certificate')), undefined);
});
