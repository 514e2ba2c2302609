import t from 'tap';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { catalogue } from '../../errors/index.js';
import { createFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate } from '../../certs/issue.js';
import { generateDeviceKey, type KeyType } from '../../certs/keys.js';
import { buildPkcs12, PKCS12_ITERATIONS, type Pkcs12Input } from '../../certs/pkcs12.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';

const ca = createFleetCa({ name: 'P12 Test' });
const chain = [ca.issuing.certificate.der, ca.root.certificate.der];

function bundleInput(type: KeyType, deviceId: string, password = 'correct horse'): Pkcs12Input {
  const key = generateDeviceKey(type);
  const cert = issueDeviceCertificate(ca, { deviceId, publicKey: key.publicKey });
  return { privateKey: key.privateKey, certificate: cert.der, chain, password, friendlyName: deviceId };
}

const spki = (key: KeyObject): string => createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('hex');

t.test('fail/ every refusal has its code and message', async (t) => {
  const ok = bundleInput('ec-p256', 'p12-fail');
  const other = generateDeviceKey();
  const cases: [string, Pkcs12Input, keyof typeof catalogue][] = [
    ['empty password', { ...ok, password: '' }, 'PKCS12_PASSWORD_TOO_SHORT'],
    ['7-character password', { ...ok, password: '1234567' }, 'PKCS12_PASSWORD_TOO_SHORT'],
    ['7 characters even if 14 UTF-8 bytes', { ...ok, password: 'äöüäöüä' }, 'PKCS12_PASSWORD_TOO_SHORT'],
    ['key of another certificate', { ...ok, privateKey: other.privateKey }, 'PKCS12_KEY_MISMATCH'],
    ['public key', { ...ok, privateKey: other.publicKey }, 'KEY_UNSUPPORTED'],
    ['Ed25519 key', { ...ok, privateKey: generateKeyPairSync('ed25519').privateKey }, 'KEY_UNSUPPORTED'],
    ['RSA 1024', { ...ok, privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey }, 'KEY_UNSUPPORTED'],
    ['certificate garbage', { ...ok, certificate: Buffer.from('nope') }, 'PKCS12_CERTIFICATE_INVALID'],
    ['certificate as PEM', { ...ok, certificate: Buffer.from(ca.root.certificate.pem) }, 'PKCS12_CERTIFICATE_INVALID'],
    ['chain entry garbage', { ...ok, chain: [chain[0]!, Buffer.alloc(3)] }, 'PKCS12_CERTIFICATE_INVALID'],
  ];
  for (const [name, input, code] of cases) {
    await t.rejects(buildPkcs12(input), { code, message: catalogue[code].message }, name);
  }
});

for (const [type, password] of [['ec-p256', 'correct horse'], ['ec-p384', 'pässwörd-ü8'], ['rsa', 'correct horse battery']] as const) {
  t.test(`ok/ ${type}: openssl pkcs12 -info (no -legacy) and Node's pfx read the bundle`, async (t) => {
    const dir = tempDir(t);
    const input = bundleInput(type, `p12-${type}`, password);
    const pfx = await buildPkcs12(input);
    const file = join(dir, 'bundle.p12');
    writeFileSync(file, pfx);

    const info = openssl(['pkcs12', '-info', '-in', file, '-passin', `pass:${password}`, '-nodes']);
    t.equal(info.status, 0, info.stderr);
    t.match(info.stderr, `MAC: sha256, Iteration ${PKCS12_ITERATIONS}`);
    t.match(info.stderr, `Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration ${PKCS12_ITERATIONS}, PRF hmacWithSHA256`);
    t.equal(info.stderr.match(/Certificate bag/g)?.length, 3);
    t.equal(info.stdout.match(/friendlyName: p12-/g)?.length, 2, 'key and leaf carry the friendlyName');
    t.equal(info.stdout.match(/localKeyID: /g)?.length, 2, 'key and leaf share a localKeyID');
    t.match(info.stdout, /subject=CN = p12-[\s\S]*subject=O = P12 Test, CN = P12 Test Issuing CA[\s\S]*CN = P12 Test Root CA/);

    const keyPem = openssl(['pkcs12', '-in', file, '-passin', `pass:${password}`, '-nocerts', '-nodes']).stdout;
    t.equal(spki(createPrivateKey(keyPem)), spki(input.privateKey), 'the same key comes back');
    const wrong = openssl(['pkcs12', '-info', '-in', file, '-passin', 'pass:wrong password', '-noout']);
    t.not(wrong.status, 0);
    t.match(wrong.stderr, /mac verify/i);

    t.doesNotThrow(() => createSecureContext({ pfx, passphrase: password }));
    t.throws(() => createSecureContext({ pfx, passphrase: 'wrong password' }));
  });
}

t.test('ok/ without friendlyName and without chain', async (t) => {
  const { friendlyName: _unused, ...input } = bundleInput('ec-p256', 'p12-bare');
  const pfx = await buildPkcs12({ ...input, chain: [] });
  const info = openssl(['pkcs12', '-info', '-passin', 'pass:correct horse', '-nodes'], pfx);
  t.equal(info.status, 0, info.stderr);
  t.equal(info.stderr.match(/Certificate bag/g)?.length, 1);
  t.notMatch(info.stdout, 'friendlyName');
  t.doesNotThrow(() => createSecureContext({ pfx, passphrase: 'correct horse' }));
});
