import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createFleetCa } from '../../certs/ca.js';
import { decodeCertsOnlyBase64 } from '../../certs/cms.js';
import { createCsr } from '../../certs/csr-build.js';
import { issueDeviceCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { toPem } from '../../certs/pem.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';
import { auditOf, basic, bearer, call, startProvisioner, stateOf, type ProvisionerFixture } from './fixture.js';

// Every way EST refuses (RFC 7030 endpoints), as a table: status, code, the same 401 body for every
// token/device problem (no device-existence oracle), an audit entry when a device is concerned, and no state change.

const csrFor = (cn: string, keys = generateDeviceKey()) => createCsr(keys, cn).toString('base64');

interface Identity {
  cert: string;
  key: string;
}

async function enroll(fx: ProvisionerFixture, id: string, token: string): Promise<Identity> {
  const keys = generateDeviceKey();
  const answer = await call(fx, 'POST', '/.well-known/est/simpleenroll', { headers: basic(id, token), body: csrFor(id, keys) });
  if (answer.status !== 200) throw new Error(`setup enrollment of ${id}: ${answer.status} ${answer.body.toString()}`);
  const [der] = decodeCertsOnlyBase64(answer.body);
  return { cert: toPem('CERTIFICATE', der!) + fx.fleet.ca.issuing.certificate.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function asIdentity(fx: ProvisionerFixture, issued: { pem: string }, privateKey: ReturnType<typeof generateDeviceKey>['privateKey']): Identity {
  return { cert: issued.pem + fx.fleet.ca.issuing.certificate.pem, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

t.test('fail/ EST refusals', async (t) => {
  const fx = await startProvisioner(t, { ipRateLimit: { perSecond: 1000, burst: 1000 }, deviceRateLimit: { perSecond: 1000, burst: 1000 } });
  const tokens = await fx.register(['fresh', 'used', 'gone', 'active', 'moved']);
  const expired = await fx.register(['expired'], -10);
  await enroll(fx, 'used', tokens.get('used')!);
  const goneIdentity = await enroll(fx, 'gone', tokens.get('gone')!);
  const active = await enroll(fx, 'active', tokens.get('active')!);
  const movedOld = await enroll(fx, 'moved', tokens.get('moved')!);
  const movedKeys = generateDeviceKey();
  const moved = await call(fx, 'POST', '/.well-known/est/simplereenroll', { cert: movedOld.cert, key: movedOld.key, body: csrFor('moved', movedKeys) });
  t.equal(moved.status, 200, 'setup: moved re-enrolled');
  const movedNew = { cert: toPem('CERTIFICATE', decodeCertsOnlyBase64(moved.body)[0]!) + fx.fleet.ca.issuing.certificate.pem, key: movedKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  const used = await call(fx, 'POST', '/.well-known/est/simplereenroll', { cert: movedNew.cert, key: movedNew.key, body: csrFor('moved') });
  t.equal(used.status, 200, 'setup: moved used its new certificate, so its first one is superseded');
  const operator = await fx.apiToken('operator');
  t.equal((await call(fx, 'POST', '/v1/devices/gone/revoke', { headers: bearer(operator), json: { reason: 'cessationOfOperation' } })).status, 200);

  const foreignCa = createFleetCa({ name: 'Attacker' });
  const foreignKeys = generateDeviceKey();
  const foreign = asIdentity(fx, issueDeviceCertificate(foreignCa, { deviceId: 'active', publicKey: foreignKeys.publicKey }), foreignKeys.privateKey);
  const oldKeys = generateDeviceKey();
  const expiredCert = asIdentity(fx, issueDeviceCertificate(fx.fleet.ca, {
    deviceId: 'active', publicKey: oldKeys.publicKey, lifetimeDays: 1, now: new Date(Date.now() - 5 * 86_400_000),
  }), oldKeys.privateKey);
  const unrecordedKeys = generateDeviceKey();
  const unrecorded = asIdentity(fx, issueDeviceCertificate(fx.fleet.ca, { deviceId: 'active', publicKey: unrecordedKeys.publicKey }), unrecordedKeys.privateKey);
  const kdcKeys = generateDeviceKey();
  const kdc = asIdentity(fx, issueServiceCertificate(fx.fleet.ca, { role: 'kdc', name: 'main', publicKey: kdcKeys.publicKey }), kdcKeys.privateKey);
  const p521File = join(tempDir(t), 'p521.csr');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=fresh', '-outform', 'DER', '-out', p521File]);
  const badSignature = Buffer.from(createCsr(generateDeviceKey(), 'fresh'));
  badSignature[badSignature.length - 5]! ^= 0x01;

  const enrollAs = (user: string, password: string, body: string | Buffer = csrFor(user)) => ({ headers: basic(user, password), body });
  const reenrollWith = (id: Identity | undefined, cn = 'active') => ({ ...(id ? { cert: id.cert, key: id.key } : {}), body: csrFor(cn) });
  const cases: { name: string; path: string; opts: Parameters<typeof call>[3]; status: number; code: string; audited?: string; header?: [string, RegExp] }[] = [
    { name: 'no credentials', path: 'simpleenroll', opts: { body: csrFor('fresh') }, status: 401, code: 'ENROLL_AUTH_REQUIRED', header: ['www-authenticate', /^Basic realm="fleetkey EST"/] },
    { name: 'bearer instead of basic', path: 'simpleenroll', opts: { headers: bearer('x'), body: csrFor('fresh') }, status: 401, code: 'ENROLL_AUTH_REQUIRED' },
    { name: 'wrong token', path: 'simpleenroll', opts: enrollAs('fresh', 'not-the-token-at-all'), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'fresh', header: ['www-authenticate', /^Basic/] },
    { name: 'unknown device', path: 'simpleenroll', opts: enrollAs('nobody', tokens.get('fresh')!), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'nobody' },
    { name: 'used token', path: 'simpleenroll', opts: enrollAs('used', tokens.get('used')!), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'used' },
    { name: 'expired token', path: 'simpleenroll', opts: enrollAs('expired', expired.get('expired')!), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'expired' },
    { name: 'revoked device', path: 'simpleenroll', opts: enrollAs('gone', tokens.get('gone')!), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'gone' },
    { name: 'user name not a device id', path: 'simpleenroll', opts: enrollAs('../etc', 'whatever-token-value', csrFor('fresh')), status: 401, code: 'ENROLLMENT_REFUSED' },
    { name: 'empty body', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, ''), status: 400, code: 'CSR_EMPTY', audited: 'fresh' },
    { name: 'not base64', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, 'this is not a CSR!'), status: 400, code: 'CSR_ENCODING_INVALID', audited: 'fresh' },
    { name: 'wrong token with a junk body: the token is checked before any CSR work', path: 'simpleenroll', opts: enrollAs('fresh', 'not-the-token-at-all', Buffer.from('junk junk junk').toString('base64')), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'fresh' },
    { name: 'base64 of junk', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, Buffer.from('junk junk junk').toString('base64')), status: 400, code: 'CSR_MALFORMED', audited: 'fresh' },
    { name: 'bad signature', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, badSignature.toString('base64')), status: 400, code: 'CSR_SIGNATURE_INVALID', audited: 'fresh' },
    { name: 'CN of another device', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, csrFor('active')), status: 400, code: 'CSR_CN_MISMATCH', audited: 'fresh' },
    { name: 'P-521 key', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, readFileSync(p521File).toString('base64')), status: 400, code: 'KEY_UNSUPPORTED', audited: 'fresh' },
    { name: 'body over 64 KiB', path: 'simpleenroll', opts: enrollAs('fresh', tokens.get('fresh')!, 'A'.repeat(64 * 1024 + 4)), status: 413, code: 'BODY_TOO_LARGE' },
    { name: 'serverkeygen wrong token', path: 'serverkeygen', opts: enrollAs('fresh', 'not-the-token-at-all'), status: 401, code: 'ENROLLMENT_REFUSED', audited: 'fresh' },
    { name: 'serverkeygen no credentials', path: 'serverkeygen', opts: { body: csrFor('fresh') }, status: 401, code: 'ENROLL_AUTH_REQUIRED' },
    { name: 'reenroll without a certificate', path: 'simplereenroll', opts: reenrollWith(undefined), status: 401, code: 'REENROLL_CERT_REQUIRED' },
    { name: 'reenroll with Basic credentials only', path: 'simplereenroll', opts: enrollAs('fresh', tokens.get('fresh')!), status: 401, code: 'REENROLL_CERT_REQUIRED' },
    { name: 'reenroll with a foreign CA\'s CN=active', path: 'simplereenroll', opts: reenrollWith(foreign), status: 401, code: 'REENROLL_CERT_REQUIRED' },
    { name: 'reenroll with an expired certificate', path: 'simplereenroll', opts: reenrollWith(expiredCert), status: 403, code: 'CERT_HAS_EXPIRED' },
    { name: 'reenroll with a service certificate', path: 'simplereenroll', opts: reenrollWith(kdc), status: 403, code: 'REENROLL_REFUSED' },
    { name: 'reenroll with a certificate the store never recorded', path: 'simplereenroll', opts: reenrollWith(unrecorded), status: 403, code: 'REENROLL_REFUSED', audited: 'active' },
    { name: 'reenroll with a superseded certificate', path: 'simplereenroll', opts: reenrollWith(movedOld, 'moved'), status: 403, code: 'REENROLL_REFUSED', audited: 'moved' },
    { name: 'reenroll of a revoked device', path: 'simplereenroll', opts: reenrollWith(goneIdentity, 'gone'), status: 403, code: 'REENROLL_REFUSED', audited: 'gone' },
    { name: 'reenroll for another identity', path: 'simplereenroll', opts: reenrollWith(active, 'fresh'), status: 400, code: 'CSR_CN_MISMATCH', audited: 'active' },
  ];

  const bodies401 = new Set<string>();
  for (const c of cases) {
    await t.test(`fail/${c.path} ${c.name}`, async (t) => {
      const before = await stateOf(fx.fleet.store);
      const auditBefore = (await auditOf(fx.fleet.store)).length;
      const answer = await call(fx, 'POST', `/.well-known/est/${c.path}`, c.opts);
      t.equal(answer.status, c.status, 'status');
      t.match(answer.headers['content-type'], /^application\/json/);
      const body = answer.json();
      t.equal(body.error.code, c.code, 'code');
      t.type(body.error.message, 'string');
      t.same(Object.keys(body), ['error']);
      if (c.code === 'ENROLLMENT_REFUSED') bodies401.add(answer.body.toString());
      if (c.header) t.match(answer.headers[c.header[0]], c.header[1], c.header[0]);
      t.equal(await stateOf(fx.fleet.store), before, 'no state change');
      const audit = await auditOf(fx.fleet.store);
      if (c.audited) {
        t.equal(audit.length, auditBefore + 1, 'one audit entry');
        t.match(audit.at(-1), { action: 'enroll.refused', subject: c.audited, detail: { code: c.code } });
      } else {
        t.equal(audit.length, auditBefore, 'not audited: no device concerned');
      }
    });
  }
  t.equal(bodies401.size, 1, 'wrong, used, expired token, unknown and revoked device: the very same 401 body');

  // The fresh device was never disturbed: its token still enrolls.
  t.equal((await call(fx, 'POST', '/.well-known/est/simpleenroll', enrollAs('fresh', tokens.get('fresh')!))).status, 200);
  t.equal((await call(fx, 'POST', '/.well-known/est/simplereenroll', reenrollWith(active))).status, 200, 'active still re-enrolls with its current certificate');
});

t.test('fail/ enrollment rate limits: per device and per client IP, 429 with Retry-After', async (t) => {
  const fx = await startProvisioner(t, { ipRateLimit: { perSecond: 0.01, burst: 6 }, deviceRateLimit: { perSecond: 0.01, burst: 2 } });
  const tokens = await fx.register(['limited', 'other']);
  const wrong = (id: string) => ({ headers: basic(id, 'wrong-token-wrong-token'), body: csrFor(id) });
  for (let i = 0; i < 2; i++) t.equal((await call(fx, 'POST', '/.well-known/est/simpleenroll', wrong('limited'))).status, 401);
  const before = await stateOf(fx.fleet.store);
  const limited = await call(fx, 'POST', '/.well-known/est/simpleenroll', { headers: basic('limited', tokens.get('limited')!), body: csrFor('limited') });
  t.equal(limited.status, 429, 'the third attempt for one device: 429, even with the right token');
  t.equal(limited.json().error.code, 'RATE_LIMITED');
  t.ok(Number(limited.headers['retry-after']) >= 90 && Number(limited.headers['retry-after']) <= 100, 'Retry-After: whole seconds until a token is back');
  t.equal(await stateOf(fx.fleet.store), before, 'no state change');
  t.match((await auditOf(fx.fleet.store)).at(-1), { action: 'enroll.refused', subject: 'limited', detail: { code: 'RATE_LIMITED' } });
  t.equal((await call(fx, 'POST', '/.well-known/est/simpleenroll', { headers: basic('other', tokens.get('other')!), body: csrFor('other') })).status, 200, 'another device is not affected');
  for (let i = 0; i < 2; i++) await call(fx, 'POST', '/.well-known/est/simpleenroll', wrong(`x${i}`));
  const ipLimited = await call(fx, 'POST', '/.well-known/est/simpleenroll', wrong('x9'));
  t.equal(ipLimited.status, 429, 'past the burst of one client IP: 429');
  t.ok(Number(ipLimited.headers['retry-after']) >= 90 && Number(ipLimited.headers['retry-after']) <= 100);
  const metrics = (await call(fx, 'GET', '/metrics')).body.toString();
  t.match(metrics, /fleetkey_provisioner_rate_limited_total\{limit="device"\} 1/);
  t.match(metrics, /fleetkey_provisioner_rate_limited_total\{limit="ip"\} 1/);
  t.match(metrics, /fleetkey_provisioner_enrollments_total\{method="simpleenroll",outcome="issued"\} 1/);
});
