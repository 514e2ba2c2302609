import t from 'tap';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { catalogue } from '../../errors/index.js';
import { readCrl } from '../../certs/crl.js';
import { initDataDir, type InitOptions, type InitResult } from '../../certs/init.js';
import { readPassphrase, registerInit } from '../../cli/commands/init.js';
import { buildProgram } from '../../cli/program.js';
import { pemBlocks, pemHeader } from '../../certs/pem.js';
import { openssl } from '../helpers/openssl.js';
import { compiled } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

// The real CLI in a child node: cli/main.ts transpiled once for this file (no build step needed).
const cli = compiled(t, 'cli/main.ts');
const fleetkey = (...args: string[]) => {
  const run = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
};

const mode = (path: string): number => statSync(path).mode & 0o777;
const walk = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile())
  .map((e) => relative(dir, join(e.parentPath, e.name)))
  .sort();
const KEYS = ['ca/root.key', 'ca/issuing.key', 'broker/server.key', 'services/kdc.key', 'services/consumer.key', 'services/operator.key', 'kek'];

t.test('ok/ init --json makes the documented data dir', async (t) => {
  const tmp = tempDir(t);
  const dir = join(tmp, 'data');
  writeFileSync(join(tmp, 'pass'), 'root secret phrase\n');
  const run = fleetkey(
    'init', '--dir', dir, '--name', 'Acme', '--dns', 'mqtt.example.com', 'broker.local', '--ip', '10.0.0.5',
    '--root-passphrase-file', join(tmp, 'pass'), '--json',
  );
  t.equal(run.status, 0, run.stderr);
  t.notMatch(run.stdout, /PRIVATE KEY|BEGIN/, 'no key or certificate material printed');
  const result = JSON.parse(run.stdout) as InitResult;

  t.same(walk(dir), [
    'broker/server.key', 'broker/server.pem', 'ca/chain.pem', 'ca/issuing.key', 'ca/issuing.pem', 'ca/root-crl.pem',
    'ca/root.key', 'ca/root.pem', 'fleetkey.json', 'kek', 'services/consumer.key', 'services/consumer.pem',
    'services/kdc.key', 'services/kdc.pem', 'services/operator.key', 'services/operator.pem',
  ]);
  t.same([...result.files].sort(), walk(dir), 'the file list is complete');
  for (const sub of ['', 'ca', 'broker', 'services']) t.equal(mode(join(dir, sub)), 0o700, `${sub || 'data dir'} is 0700`);
  for (const key of KEYS) t.equal(mode(join(dir, key)), 0o600, `${key} is 0600`);
  t.equal(readFileSync(join(dir, 'kek')).length, 32);

  const { dir: absolute, ...manifest } = result;
  t.equal(absolute, dir);
  t.same(JSON.parse(readFileSync(join(dir, 'fleetkey.json'), 'utf8')), manifest, 'fleetkey.json is the result without dir');
  t.match(result, {
    version: 1, name: 'Acme', kek: 'kek',
    ca: { root: { path: 'ca/root.pem', key: 'ca/root.key', keyEncrypted: true, subject: 'O=Acme\nCN=Acme Root CA' } },
    broker: { dnsNames: ['localhost', 'mqtt.example.com', 'broker.local'], ipAddresses: ['127.0.0.1', '::1', '10.0.0.5'] },
    services: { kdc: { path: 'services/kdc.pem' }, consumer: { path: 'services/consumer.pem' }, operator: { path: 'services/operator.pem' } },
  });

  const issuingPem = readFileSync(join(dir, 'ca/issuing.pem'), 'utf8');
  for (const summary of [result.ca.root, result.ca.issuing, result.broker, ...Object.values(result.services)]) {
    const blocks = pemBlocks(readFileSync(join(dir, summary.path), 'utf8'), 'CERTIFICATE');
    t.equal(new X509Certificate(blocks[0]!).fingerprint256.replaceAll(':', '').toLowerCase(), summary.fingerprint, summary.path);
  }
  for (const leaf of [result.broker, ...Object.values(result.services)]) {
    const path = join(dir, leaf.path);
    t.same(pemBlocks(readFileSync(path, 'utf8'))[1], pemBlocks(issuingPem)[0], `${leaf.path}: leaf, then the issuing CA`);
    const verified = openssl(['verify', '-CAfile', join(dir, 'ca/root.pem'), '-untrusted', join(dir, 'ca/issuing.pem'), path]);
    t.equal(verified.stdout.trim(), `${path}: OK`);
  }
  const server = openssl(['x509', '-in', join(dir, 'broker/server.pem'), '-noout', '-ext', 'subjectAltName,extendedKeyUsage']).stdout;
  t.match(server, 'DNS:localhost, DNS:mqtt.example.com, DNS:broker.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.5');
  t.match(server, 'TLS Web Server Authentication');
  for (const role of ['kdc', 'consumer', 'operator']) {
    const text = openssl(['x509', '-in', join(dir, `services/${role}.pem`), '-noout', '-subject', '-ext', 'subjectAltName']).stdout;
    t.match(text, `CN = ${role}-main`);
    t.match(text, `URI:urn:fleetkey:service:${role}`);
  }

  const crl = openssl(['crl', '-in', join(dir, 'ca/root-crl.pem'), '-noout', '-CAfile', join(dir, 'ca/root.pem')]);
  t.match(crl.stdout + crl.stderr, 'verify OK');
  t.equal(readCrl(pemBlocks(readFileSync(join(dir, 'ca/root-crl.pem'), 'utf8'))[0]!).nextUpdate?.toISOString(), result.rootCrl.nextUpdate);

  const rootKey = join(dir, 'ca/root.key');
  t.match(readFileSync(rootKey, 'utf8'), pemHeader('ENCRYPTED PRIVATE KEY'));
  t.equal(openssl(['pkey', '-in', rootKey, '-passin', 'pass:root secret phrase', '-noout']).status, 0, 'the newline is not part of it');
});

t.test('fail/ an existing CA is refused without --force and left alone; --force replaces it', async (t) => {
  const dir = join(tempDir(t), 'data');
  const first = fleetkey('init', '--dir', dir);
  t.equal(first.status, 0, first.stderr);
  const manifest = JSON.parse(readFileSync(join(dir, 'fleetkey.json'), 'utf8')) as Omit<InitResult, 'dir'>;
  t.match(first.stdout, `Initialized fleet "fleetkey" in ${dir}`);
  t.match(first.stdout, `broker/server.pem       sha256 ${manifest.broker.fingerprint}`);
  t.match(first.stdout, manifest.services.kdc.fingerprint);
  t.notMatch(first.stdout, /PRIVATE KEY|BEGIN/, 'human output: no key or certificate material');
  const before = { manifest: readFileSync(join(dir, 'fleetkey.json')), root: readFileSync(join(dir, 'ca/root.pem')) };

  const refused = fleetkey('init', '--dir', dir);
  t.equal(refused.status, 2);
  t.match(refused.stderr, `fleetkey: INIT_CA_EXISTS: ${catalogue.INIT_CA_EXISTS.message}`);
  const refusedJson = fleetkey('init', '--dir', dir, '--json');
  t.equal(refusedJson.status, 2);
  t.match(JSON.parse(refusedJson.stdout), { error: { code: 'INIT_CA_EXISTS', message: catalogue.INIT_CA_EXISTS.message } });
  t.throws(() => initDataDir({ dir, name: 'again' }), { code: 'INIT_CA_EXISTS', message: catalogue.INIT_CA_EXISTS.message });
  t.same(readFileSync(join(dir, 'fleetkey.json')), before.manifest);
  t.same(readFileSync(join(dir, 'ca/root.pem')), before.root);

  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'broker/server.key'), 0o644);
  chmodSync(join(dir, 'ca/issuing.key'), 0o644);
  const forced = fleetkey('init', '--dir', dir, '--force', '--json');
  t.equal(forced.status, 0, forced.stderr);
  t.not(readFileSync(join(dir, 'ca/root.pem')).toString(), before.root.toString(), 'a new root');
  t.equal(mode(dir), 0o700);
  for (const key of KEYS) t.equal(mode(join(dir, key)), 0o600, `${key} is 0600 again`);
});

t.test('fail/ bad options: code and message, nothing written', async (t) => {
  const tmp = tempDir(t);
  writeFileSync(join(tmp, 'empty'), '\n');
  for (const [name, file] of [['empty passphrase file', join(tmp, 'empty')], ['missing passphrase file', join(tmp, 'nope')]] as const) {
    t.throws(() => readPassphrase(file), {
      code: 'INIT_PASSPHRASE_FILE_INVALID', message: catalogue.INIT_PASSPHRASE_FILE_INVALID.message,
    }, name);
  }
  const cases: [string, Partial<InitOptions>, keyof typeof catalogue][] = [
    ['bad DNS name', { dnsNames: ['bad_name!'] }, 'CERT_NAME_INVALID'],
    ['wildcard DNS name', { dnsNames: ['*.example.com'] }, 'CERT_NAME_INVALID'],
    ['bad IP address', { ipAddresses: ['300.1.2.3'] }, 'CERT_NAME_INVALID'],
    ['name too long', { name: 'x'.repeat(51) }, 'CA_NAME_INVALID'],
    ['name with a newline', { name: 'a\nb' }, 'CA_NAME_INVALID'],
    ['empty root passphrase', { rootPassphrase: '' }, 'CONFIG_INVALID'],
  ];
  for (const [name, opts, code] of cases) {
    const dir = join(tmp, name.replaceAll(' ', '-'));
    t.throws(() => initDataDir({ dir, name: 'fleet', ...opts }), { code, message: catalogue[code].message }, name);
    t.notOk(existsSync(dir), `${name}: no data dir`);
  }
});

t.test('ok/ --root-curve picks the root key (P-384 unless asked); anything else is refused, nothing written', async (t) => {
  const tmp = tempDir(t);
  const rootCurve = (dir: string) => new X509Certificate(readFileSync(join(dir, 'ca/root.pem'))).publicKey.asymmetricKeyDetails?.namedCurve;
  const issuingCurve = (dir: string) => new X509Certificate(readFileSync(join(dir, 'ca/issuing.pem'))).publicKey.asymmetricKeyDetails?.namedCurve;
  t.equal(fleetkey('init', '--dir', join(tmp, 'default'), '--json').status, 0);
  t.equal(rootCurve(join(tmp, 'default')), 'secp384r1');
  const p256 = fleetkey('init', '--dir', join(tmp, 'p256'), '--root-curve', 'P-256', '--json');
  t.equal(p256.status, 0, p256.stderr);
  t.equal(rootCurve(join(tmp, 'p256')), 'prime256v1');
  t.equal(issuingCurve(join(tmp, 'p256')), 'prime256v1', 'the issuing CA is P-256 either way');
  t.equal(openssl(['verify', '-CAfile', join(tmp, 'p256', 'ca/root.pem'), '-untrusted', join(tmp, 'p256', 'ca/issuing.pem'), join(tmp, 'p256', 'broker/server.pem')]).status, 0, 'the chain verifies');
  const bad = fleetkey('init', '--dir', join(tmp, 'p521'), '--root-curve', 'P-521');
  t.not(bad.status, 0);
  t.match(bad.stderr, /P-384|P-256/);
  t.notOk(existsSync(join(tmp, 'p521')), 'nothing written');
  t.throws(() => initDataDir({ dir: join(tmp, 'lib'), name: 'fleet', rootCurve: 'P-521' as 'P-256' }), { code: 'CONFIG_INVALID' });
  t.notOk(existsSync(join(tmp, 'lib')), 'nothing written');
});

t.test('ok/ --help documents options and the layout', async (t) => {
  let help = '';
  const init = buildProgram([registerInit]).commands.find((c) => c.name() === 'init')!;
  init.configureOutput({ writeOut: (text) => { help += text; } }).outputHelp();
  for (const line of ['--root-passphrase-file <file>', '--root-curve <curve>', '--force', '--dns <name...>', '--ip <addr...>', '--json', 'ca/root-crl.pem', 'services/<role>.pem', 'kek', '0600']) {
    t.match(help, line);
  }
});
