import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';
import { bearer, call, curl, startProvisioner } from './fixture.js';

// EST as an operator drives it: openssl makes keys and requests, curl talks to the provisioner,
// openssl reads and verifies what comes back. Nothing here is fleetkey code but the server.

function ok(t: Test, run: { status: number | null; stderr: string }, what: string): void {
  t.equal(run.status, 0, `${what} (${run.stderr.trim()})`);
}

t.test('simpleenroll, a second use of the token, simplereenroll, revoked re-enrollment, cacerts, csrattrs', async (t) => {
  const fx = await startProvisioner(t, { deviceRateLimit: { perSecond: 100, burst: 100 } });
  const dir = tempDir(t);
  const est = `${fx.url}/.well-known/est`;
  const f = (name: string) => join(dir, name);
  writeFileSync(f('root.pem'), fx.fleet.ca.root.certificate.pem);
  writeFileSync(f('issuing.pem'), fx.fleet.ca.issuing.certificate.pem);
  const tokens = await fx.register(['dev1']);
  const token = tokens.get('dev1')!;

  // A P-256 key and a CSR for CN=dev1, base64 DER as RFC 7030 wants it.
  const newCsr = (prefix: string) => {
    ok(t, openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${prefix}.key`),
      '-subj', '/CN=dev1', '-outform', 'DER', '-out', f(`${prefix}.csr.der`)]), `openssl req (${prefix})`);
    ok(t, openssl(['base64', '-in', f(`${prefix}.csr.der`), '-out', f(`${prefix}.csr.b64`)]), 'openssl base64');
  };
  const readCerts = (b64: string, out: string) => {
    ok(t, openssl(['base64', '-d', '-in', b64, '-out', `${b64}.der`]), 'openssl base64 -d');
    const print = openssl(['pkcs7', '-inform', 'DER', '-in', `${b64}.der`, '-print_certs', '-out', out]);
    ok(t, print, 'openssl pkcs7 -print_certs');
    return readFileSync(out, 'utf8');
  };

  newCsr('first');
  const enroll = await curl(['--cacert', fx.fleet.caFile, '-u', `dev1:${token}`, '-H', 'Content-Type: application/pkcs10',
    '--data-binary', `@${f('first.csr.b64')}`, '-D', f('enroll.headers'), '-o', f('enroll.b64'), '-w', '%{http_code}', `${est}/simpleenroll`]);
  t.equal(enroll.stdout, '200', `simpleenroll answers 200 (${enroll.stderr})`);
  t.match(readFileSync(f('enroll.headers'), 'utf8'), /content-type: application\/pkcs7-mime; smime-type=certs-only/i);
  t.match(readFileSync(f('enroll.headers'), 'utf8'), /content-transfer-encoding: base64/i);
  const certs = readCerts(f('enroll.b64'), f('dev1.pem'));
  t.equal(certs.match(/BEGIN CERTIFICATE/g)?.length, 1, 'only the issued certificate (RFC 7030 §4.2.3)');
  const verify = openssl(['verify', '-CAfile', f('root.pem'), '-untrusted', f('issuing.pem'), '-purpose', 'sslclient', f('dev1.pem')]);
  t.match(verify.stdout, /dev1\.pem: OK/, `openssl verify accepts it (${verify.stderr.trim()})`);
  const text = openssl(['x509', '-in', f('dev1.pem'), '-noout', '-subject', '-ext', 'subjectAltName']).stdout;
  t.match(text, /CN ?= ?dev1/);
  t.match(text, /URI:urn:fleetkey:device:dev1/);

  const sameKey = await curl(['--cacert', fx.fleet.caFile, '-u', `dev1:${token}`, '-H', 'Content-Type: application/pkcs10',
    '--data-binary', `@${f('first.csr.b64')}`, '-o', f('retry.b64'), '-w', '%{http_code}', `${est}/simpleenroll`]);
  t.equal(sameKey.stdout, '200', 'the same token and key again (a lost answer retried): 200');
  t.equal(readFileSync(f('retry.b64'), 'utf8'), readFileSync(f('enroll.b64'), 'utf8'), 'the same certificate, byte for byte');

  newCsr('other');
  const again = await curl(['--cacert', fx.fleet.caFile, '-u', `dev1:${token}`, '--data-binary', `@${f('other.csr.b64')}`,
    '-D', f('again.headers'), '-w', '\n%{http_code}', `${est}/simpleenroll`]);
  const [againBody, againStatus] = again.stdout.split('\n');
  t.equal(againStatus, '401', 'the same token for another key: 401');
  t.same(JSON.parse(againBody!).error.code, 'ENROLLMENT_REFUSED');
  t.match(readFileSync(f('again.headers'), 'utf8'), /www-authenticate: Basic realm="fleetkey EST"/i);

  const anonymous = await curl(['--cacert', fx.fleet.caFile, '--data-binary', `@${f('first.csr.b64')}`, '-D', f('anon.headers'), '-o', '/dev/null', '-w', '%{http_code}', `${est}/simpleenroll`]);
  t.equal(anonymous.stdout, '401', 'no credentials: 401');
  t.match(readFileSync(f('anon.headers'), 'utf8'), /www-authenticate: Basic realm=/i);

  // simplereenroll: the current certificate (with the issuing CA, as the server trusts the root) and a new key.
  const chainOf = (name: string) => {
    writeFileSync(f(`${name}-chain.pem`), readFileSync(f(`${name}.pem`), 'utf8') + fx.fleet.ca.issuing.certificate.pem);
    return f(`${name}-chain.pem`);
  };
  const reenrollWith = (cert: string, key: string, csr: string, out: string) =>
    curl(['--cacert', fx.fleet.caFile, '--cert', chainOf(cert), '--key', f(`${key}.key`),
      '--data-binary', `@${f(`${csr}.csr.b64`)}`, '-o', f(out), '-w', '%{http_code}', `${est}/simplereenroll`]);
  const serialOf = (name: string) => openssl(['x509', '-in', f(`${name}.pem`), '-noout', '-serial']).stdout.trim().replace(/^serial=/, '').toUpperCase();
  const superseded = async () => (await fx.fleet.store.listRevocations()).filter((r) => r.reason === 'superseded').map((r) => r.serial).sort();
  const operator = await fx.apiToken('operator');

  newCsr('second');
  const reenroll = await reenrollWith('dev1', 'first', 'second', 'reenroll.b64');
  t.equal(reenroll.stdout, '200', `simplereenroll with curl --cert --key works (${reenroll.stderr})`);
  readCerts(f('reenroll.b64'), f('dev1-new.pem'));
  t.match(openssl(['verify', '-CAfile', f('root.pem'), '-untrusted', f('issuing.pem'), f('dev1-new.pem')]).stdout, /OK/);
  const newKeyMatches = openssl(['x509', '-in', f('dev1-new.pem'), '-noout', '-pubkey']).stdout === openssl(['pkey', '-in', f('second.key'), '-pubout']).stdout;
  t.ok(newKeyMatches, 'the new certificate carries the new key');
  t.same(await superseded(), [], 'the old certificate stays valid until the new one is used');
  const view = await call(fx, 'GET', '/v1/devices/dev1', { headers: bearer(operator) });
  const listed = (view.json() as { certificates: { serial: string; supersedes: string | null; pending: boolean; revoked: boolean }[] }).certificates;
  t.same(listed.map((c) => [c.serial, c.supersedes, c.pending, c.revoked]), [[serialOf('dev1'), null, false, false], [serialOf('dev1-new'), serialOf('dev1'), true, false]],
    'GET /v1/devices/dev1 shows the new certificate pending, superseding the old one');

  // The answer was lost: the device asks again with the certificate it still holds.
  newCsr('third');
  const retry = await reenrollWith('dev1', 'first', 'third', 'retry.b64');
  t.equal(retry.stdout, '200', 'a device whose answer was lost re-enrolls again with its old certificate');
  readCerts(f('retry.b64'), f('dev1-retry.pem'));
  t.same(await superseded(), [serialOf('dev1-new')], 'the unused first answer is revoked as superseded');
  const unused = await reenrollWith('dev1-new', 'second', 'third', 'unused.b64');
  t.equal(unused.stdout, '403', 'the unused first answer cannot re-enroll');

  // First use of the retried answer: it re-enrolls (a key rollover), and the old certificate is superseded.
  newCsr('fourth');
  const rollover = await reenrollWith('dev1-retry', 'third', 'fourth', 'rollover.b64');
  t.equal(rollover.stdout, '200', 'the retried answer re-enrolls');
  readCerts(f('rollover.b64'), f('dev1-rollover.pem'));
  t.same(await superseded(), [serialOf('dev1'), serialOf('dev1-new')].sort(), 'its first use supersedes the original certificate');
  const stale = await reenrollWith('dev1', 'first', 'fourth', 'stale.b64');
  t.equal(stale.stdout, '403', 'the superseded certificate cannot re-enroll');

  // Revoke the device through the API; its certificates no longer re-enroll.
  const revoked = await call(fx, 'POST', '/v1/devices/dev1/revoke', { headers: bearer(operator), json: { reason: 'keyCompromise' } });
  t.equal(revoked.status, 200);
  const refused = await reenrollWith('dev1-rollover', 'fourth', 'fourth', 'refused.json');
  t.equal(refused.stdout, '403', 'simplereenroll with a revoked certificate fails');
  t.equal(JSON.parse(readFileSync(f('refused.json'), 'utf8')).error.code, 'REENROLL_REFUSED');

  // cacerts: issuing CA and root, as openssl reads them.
  const cacerts = await curl(['--cacert', fx.fleet.caFile, '-o', f('cacerts.b64'), '-w', '%{http_code}', `${est}/cacerts`]);
  t.equal(cacerts.stdout, '200');
  const caText = readCerts(f('cacerts.b64'), f('cacerts.pem'));
  t.equal(caText.match(/BEGIN CERTIFICATE/g)?.length, 2, 'cacerts carries the issuing CA and the root');
  t.match(caText, /Provisioner Test Issuing CA/);
  t.match(caText, /Provisioner Test Root CA/);

  const attrs = await curl(['--cacert', fx.fleet.caFile, '-D', f('attrs.headers'), '-o', f('attrs.b64'), `${est}/csrattrs`]);
  ok(t, attrs, 'csrattrs');
  t.match(readFileSync(f('attrs.headers'), 'utf8'), /content-type: application\/csrattrs/i);
  ok(t, openssl(['base64', '-d', '-in', f('attrs.b64'), '-out', f('attrs.der')]), 'csrattrs base64');
  const parsed = openssl(['asn1parse', '-inform', 'DER', '-in', f('attrs.der')]).stdout;
  t.match(parsed, /prime256v1/);
  t.match(parsed, /ecdsa-with-SHA256/);
});

t.test('serverkeygen answers a multipart PKCS#8 key and certs-only that belong together', async (t) => {
  const fx = await startProvisioner(t);
  const dir = tempDir(t);
  const f = (name: string) => join(dir, name);
  const tokens = await fx.register(['dev2']);
  ok(t, openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('throwaway.key'),
    '-subj', '/CN=dev2', '-outform', 'DER', '-out', f('csr.der')]), 'openssl req');
  ok(t, openssl(['base64', '-in', f('csr.der'), '-out', f('csr.b64')]), 'openssl base64');
  const run = await curl(['--cacert', fx.fleet.caFile, '-u', `dev2:${tokens.get('dev2')}`, '--data-binary', `@${f('csr.b64')}`,
    '-D', f('headers'), '-o', f('body'), `${fx.url}/.well-known/est/serverkeygen`]);
  ok(t, run, 'curl serverkeygen');
  const boundary = /content-type: multipart\/mixed; boundary=([^\r\n]+)/i.exec(readFileSync(f('headers'), 'utf8'))?.[1];
  t.ok(boundary, 'multipart/mixed with a boundary');
  const parts = readFileSync(f('body'), 'utf8').split(`--${boundary}`).slice(1, -1);
  t.equal(parts.length, 2);
  const [keyPart, certPart] = parts as [string, string];
  t.match(keyPart, /Content-Type: application\/pkcs8/);
  t.match(certPart, /Content-Type: application\/pkcs7-mime; smime-type=certs-only/);
  const b64 = (part: string) => Buffer.from(part.split('\r\n\r\n')[1]!.replace(/\s+/g, ''), 'base64');
  writeFileSync(f('key.der'), b64(keyPart));
  writeFileSync(f('certs.der'), b64(certPart));
  const pub = openssl(['pkey', '-inform', 'DER', '-in', f('key.der'), '-pubout']);
  ok(t, pub, 'openssl reads the PKCS#8 key');
  ok(t, openssl(['pkcs7', '-inform', 'DER', '-in', f('certs.der'), '-print_certs', '-out', f('cert.pem')]), 'openssl reads the certs-only');
  t.equal(openssl(['x509', '-in', f('cert.pem'), '-noout', '-pubkey']).stdout, pub.stdout, 'the certificate is for the server-made key');
  t.not(pub.stdout, openssl(['pkey', '-in', f('throwaway.key'), '-pubout']).stdout, 'not for the CSR key');
  t.equal((await fx.fleet.store.getDevice('dev2'))?.status, 'active');
});
