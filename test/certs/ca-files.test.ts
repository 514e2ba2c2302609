import t from 'tap';
import { pemHeader } from '../../certs/pem.js';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFleetCa, loadFleetCa, saveFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { catalogue, type ErrorCode } from '../../errors/index.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';

const ca = createFleetCa({ name: 'Files Test' });
const mode = (path: string): number => statSync(path).mode & 0o777;

t.test('ok/save writes PEM files with keys 0600, and load round-trips', async (t) => {
  const dir = join(tempDir(t), 'ca');
  saveFleetCa(ca, dir);
  t.same(readdirSync(dir).sort(), ['chain.pem', 'issuing.key', 'issuing.pem', 'root.key', 'root.pem'], 'no temp files left');
  t.equal(mode(join(dir, 'root.key')), 0o600);
  t.equal(mode(join(dir, 'issuing.key')), 0o600);
  t.equal(mode(join(dir, 'root.pem')) & 0o600, 0o600);
  t.equal(mode(dir), 0o700);
  t.match(readFileSync(join(dir, 'root.key'), 'utf8'), new RegExp(`^${pemHeader('PRIVATE KEY')}\n`), 'PKCS#8');
  t.equal(readFileSync(join(dir, 'chain.pem'), 'utf8'), ca.issuing.certificate.pem + ca.root.certificate.pem, 'issuing then root');
  t.equal(openssl(['pkey', '-in', join(dir, 'issuing.key'), '-noout']).status, 0, 'openssl reads the key');

  const loaded = loadFleetCa(dir);
  t.ok(loaded.root.certificate.der.equals(ca.root.certificate.der));
  t.ok(loaded.issuing.certificate.der.equals(ca.issuing.certificate.der));
  t.equal(loaded.root.certificate.serial, ca.root.certificate.serial);
  t.equal(loaded.issuing.certificate.notAfter.getTime(), ca.issuing.certificate.notAfter.getTime());
  t.ok(loaded.root.privateKey?.equals(ca.root.privateKey!));
  t.ok(loaded.issuing.privateKey.equals(ca.issuing.privateKey));
  const leaf = issueDeviceCertificate(loaded, { deviceId: 'dev-1', publicKey: generateDeviceKey().publicKey });
  t.ok(leaf.x509.verify(ca.issuing.certificate.x509.publicKey), 'the loaded CA issues');
});

t.test('ok/encrypted root key: offline without a passphrase, loaded with it', async (t) => {
  const dir = tempDir(t);
  saveFleetCa(ca, dir, { rootPassphrase: 'correct horse' });
  const pem = readFileSync(join(dir, 'root.key'), 'utf8');
  t.match(pem, new RegExp(`^${pemHeader('ENCRYPTED PRIVATE KEY')}\n`));
  const info = openssl(['asn1parse', '-i'], pem);
  t.match(info.stdout, /aes-256-cbc/, 'PBES2 with AES-256-CBC');
  t.equal(openssl(['pkey', '-in', join(dir, 'root.key'), '-passin', 'pass:correct horse', '-noout']).status, 0);
  t.equal(loadFleetCa(dir).root.privateKey, undefined, 'no passphrase: root kept offline');
  t.ok(loadFleetCa(dir, { rootPassphrase: 'correct horse' }).root.privateKey?.equals(ca.root.privateKey!));
});

t.test('ok/a root kept offline: no root.key at all', async (t) => {
  const dir = tempDir(t);
  saveFleetCa(ca, dir);
  rmSync(join(dir, 'root.key'));
  const loaded = loadFleetCa(dir);
  t.equal(loaded.root.privateKey, undefined);
  saveFleetCa(loaded, dir);
  t.notOk(existsSync(join(dir, 'root.key')), 'saving an offline root writes no key');
});

const other = createFleetCa({ name: 'Other Fleet' });

const failures: Array<{ name: string; mangle: (dir: string) => void; code: ErrorCode; passphrase?: string }> = [
  { name: 'fail/missing directory', mangle: (dir) => rmSync(dir, { recursive: true }), code: 'CA_FILE_MISSING' },
  { name: 'fail/missing issuing.pem', mangle: (dir) => rmSync(join(dir, 'issuing.pem')), code: 'CA_FILE_MISSING' },
  { name: 'fail/missing issuing.key', mangle: (dir) => rmSync(join(dir, 'issuing.key')), code: 'CA_FILE_MISSING' },
  { name: 'fail/wrong passphrase', mangle: () => undefined, passphrase: 'wrong', code: 'CA_PASSPHRASE_WRONG' },
  { name: 'fail/key readable by others', mangle: (dir) => chmodSync(join(dir, 'issuing.key'), 0o644), code: 'CA_KEY_PERMISSIONS' },
  { name: 'fail/key readable by group', mangle: (dir) => chmodSync(join(dir, 'root.key'), 0o640), code: 'CA_KEY_PERMISSIONS' },
  { name: 'fail/certificate file is junk', mangle: (dir) => writeFileSync(join(dir, 'root.pem'), 'not a certificate'), code: 'CA_FILE_INVALID' },
  { name: 'fail/key file is junk', mangle: (dir) => writeFileSync(join(dir, 'issuing.key'), 'junk', { mode: 0o600 }), code: 'CA_FILE_INVALID' },
  {
    name: 'fail/key of another CA',
    mangle: (dir) => writeFileSync(join(dir, 'issuing.key'), other.issuing.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 }),
    code: 'CA_KEY_MISMATCH',
  },
  {
    name: 'fail/issuing CA of another root',
    mangle: (dir) => {
      const elsewhere = tempDir(t);
      saveFleetCa(other, elsewhere);
      for (const file of ['issuing.pem', 'issuing.key']) copyFileSync(join(elsewhere, file), join(dir, file));
    },
    code: 'CA_CHAIN_INVALID',
  },
  {
    name: 'fail/a leaf where the issuing CA belongs',
    mangle: (dir) => {
      const keys = generateDeviceKey();
      writeFileSync(join(dir, 'issuing.pem'), issueDeviceCertificate(ca, { deviceId: 'leaf', publicKey: keys.publicKey }).pem);
      writeFileSync(join(dir, 'issuing.key'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    },
    code: 'CA_CHAIN_INVALID',
  },
];

for (const f of failures) {
  t.test(f.name, async (t) => {
    const dir = tempDir(t);
    saveFleetCa(ca, dir, f.code === 'CA_PASSPHRASE_WRONG' ? { rootPassphrase: 'right' } : {});
    f.mangle(dir);
    t.throws(() => loadFleetCa(dir, f.passphrase ? { rootPassphrase: f.passphrase } : {}), {
      code: f.code,
      message: catalogue[f.code].message,
      status: 500,
    });
  });
}

t.test('fail/empty passphrase on save', async (t) => {
  t.throws(() => saveFleetCa(ca, tempDir(t), { rootPassphrase: '' }), { code: 'CONFIG_INVALID' });
});
