import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { createFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate, issueServerCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import type { ServiceRole } from '../../certs/types.js';
import { catalogue, type ErrorCode } from '../../errors/index.js';

const ca = createFleetCa({ name: 'Issue Fail Test' });
const ec = generateDeviceKey();
const server = { commonName: 'broker', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], publicKey: ec.publicKey };

const cases: Array<[string, () => unknown, ErrorCode]> = [
  ['fail/device id with a space', () => issueDeviceCertificate(ca, { deviceId: 'a b', publicKey: ec.publicKey }), 'DEVICE_ID_INVALID'],
  ['fail/device id with a slash', () => issueDeviceCertificate(ca, { deviceId: 'a/b', publicKey: ec.publicKey }), 'DEVICE_ID_INVALID'],
  ['fail/private key handed over', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: ec.privateKey }), 'KEY_UNSUPPORTED'],
  ['fail/RSA 1024', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey }), 'KEY_UNSUPPORTED'],
  ['fail/secp256k1', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey }), 'KEY_UNSUPPORTED'],
  ['fail/Ed25519', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: generateKeyPairSync('ed25519').publicKey }), 'KEY_UNSUPPORTED'],
  ['fail/X25519', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: generateKeyPairSync('x25519').publicKey }), 'KEY_UNSUPPORTED'],
  ['fail/RSA-PSS key', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey }), 'KEY_UNSUPPORTED'],
  ['fail/lifetime 0', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: ec.publicKey, lifetimeDays: 0 }), 'CERT_LIFETIME_INVALID'],
  ['fail/lifetime 1.5', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: ec.publicKey, lifetimeDays: 1.5 }), 'CERT_LIFETIME_INVALID'],
  ['fail/lifetime 3651', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: ec.publicKey, lifetimeDays: 3651 }), 'CERT_LIFETIME_INVALID'],
  ['fail/invalid now', () => issueDeviceCertificate(ca, { deviceId: 'd', publicKey: ec.publicKey, now: new Date('nope') }), 'CERT_LIFETIME_INVALID'],
  ['fail/server without names', () => issueServerCertificate(ca, { ...server, dnsNames: [], ipAddresses: [] }), 'CERT_NAME_INVALID'],
  ['fail/server wildcard DNS name', () => issueServerCertificate(ca, { ...server, dnsNames: ['*.example.com'] }), 'CERT_NAME_INVALID'],
  ['fail/server DNS label with a leading hyphen', () => issueServerCertificate(ca, { ...server, dnsNames: ['-a.example'] }), 'CERT_NAME_INVALID'],
  ['fail/server DNS name with a trailing dot', () => issueServerCertificate(ca, { ...server, dnsNames: ['a.example.'] }), 'CERT_NAME_INVALID'],
  ['fail/server DNS label over 63', () => issueServerCertificate(ca, { ...server, dnsNames: [`${'a'.repeat(64)}.example`] }), 'CERT_NAME_INVALID'],
  ['fail/server IP with a zone', () => issueServerCertificate(ca, { ...server, ipAddresses: ['fe80::1%eth0'] }), 'CERT_NAME_INVALID'],
  ['fail/server IP out of range', () => issueServerCertificate(ca, { ...server, ipAddresses: ['256.0.0.1'] }), 'CERT_NAME_INVALID'],
  ['fail/server IP as a host name', () => issueServerCertificate(ca, { ...server, ipAddresses: ['localhost'] }), 'CERT_NAME_INVALID'],
  ['fail/server CN empty', () => issueServerCertificate(ca, { ...server, commonName: '' }), 'CERT_NAME_INVALID'],
  ['fail/server CN over 64', () => issueServerCertificate(ca, { ...server, commonName: 'b'.repeat(65) }), 'CERT_NAME_INVALID'],
  ['fail/server CN with a newline', () => issueServerCertificate(ca, { ...server, commonName: 'a\nb' }), 'CERT_NAME_INVALID'],
  ['fail/service role unknown', () => issueServiceCertificate(ca, { role: 'admin' as ServiceRole, name: 'x', publicKey: ec.publicKey }), 'CERT_NAME_INVALID'],
  ['fail/service name with a space', () => issueServiceCertificate(ca, { role: 'kdc', name: 'a b', publicKey: ec.publicKey }), 'CERT_NAME_INVALID'],
  ['fail/service CN over 64', () => issueServiceCertificate(ca, { role: 'consumer', name: 'c'.repeat(60), publicKey: ec.publicKey }), 'CERT_NAME_INVALID'],
];

for (const [name, run, code] of cases) {
  t.test(name, async (t) => {
    t.throws(run, { code, message: catalogue[code].message, status: 400 });
  });
}
