import { request } from 'node:https';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readCrl } from '../../certs/crl.js';
import { createCsr } from '../../certs/csr-build.js';
import { initDataDir } from '../../certs/init.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { readCaPems } from '../../cli/data-dir.js';
import { newEnrollmentToken } from '../../provisioner/registration.js';
import { newApiSecret } from '../../provisioner/rest-fleet.js';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

// Two `fleetkey provisioner` processes on one Redis store: a token enrolls exactly once whichever
// replica the requests reach, and a revocation through one replica shows on the other's CRL.

function post(url: string, path: string, ca: string[], headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', ca, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (s: string) => (data += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function get(url: string, path: string, ca: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(`${url}${path}`, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    }).on('error', reject).end();
  });
}

async function startReplica(t: Test, dir: string, storeUrl: string): Promise<string> {
  const child = spawnTs(t, 'cli/main.ts', [
    'provisioner', '--dir', dir, '--store', storeUrl, '--store-prefix', 'cluster-test:', '--port', '0', '--json', '--log-level', 'warn',
    '--no-admin-token', '--device-burst', '1000', '--ip-burst', '1000',
  ]);
  return new Promise((resolve) => onLine(child, (line) => {
    const parsed = JSON.parse(line) as { service?: string; url?: string };
    if (parsed.service === 'provisioner') resolve(parsed.url!);
  }));
}

t.test('50 concurrent enrollments with one token over two replicas: exactly one certificate', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Cluster Test' });
  const ca = readCaPems(dir);
  const store = await openStore(redis.url, { prefix: 'cluster-test:' });
  t.teardown(() => store.close());
  const token = newEnrollmentToken();
  await store.registerDevices([{ id: 'racer', token, tokenExpiresAt: new Date(Date.now() + 3_600_000) }], 'test');
  const urls = await Promise.all([startReplica(t, dir, redis.url), startReplica(t, dir, redis.url)]);
  t.not(urls[0], urls[1], 'two replicas on two ports');

  const csrs = Array.from({ length: 50 }, () => createCsr(generateDeviceKey(), 'racer').toString('base64'));
  const auth = { authorization: `Basic ${Buffer.from(`racer:${token}`).toString('base64')}`, 'content-type': 'application/pkcs10' };
  const answers = await Promise.all(csrs.map((csr, i) => post(urls[i % 2]!, '/.well-known/est/simpleenroll', ca, auth, csr)));
  const statuses = answers.map((a) => a.status);
  t.equal(statuses.filter((s) => s === 200).length, 1, 'exactly one enrollment succeeds');
  t.equal(statuses.filter((s) => s === 401).length, 49, 'the other 49 get 401');
  const refused = answers.find((a) => a.status === 401)!;
  t.equal(JSON.parse(refused.body).error.code, 'ENROLLMENT_REFUSED');
  const certificates = await store.listCertificates('racer');
  t.equal(certificates.length, 1, 'exactly one certificate recorded');
  t.equal((await store.getDevice('racer'))?.status, 'active');
  const audit = await store.readAudit({ subject: 'racer', limit: 1000 });
  t.equal(audit.entries.filter((e) => e.action === 'device.enroll').length, 1, 'one enrollment in the audit log');
  t.equal(audit.entries.filter((e) => e.action === 'enroll.refused').length, 49, 'every refusal audited');

  // Revoke through replica 0; replica 1 rebuilds its CRL on the store event.
  const secret = newApiSecret();
  await store.createApiToken({ id: 'ops', secret, role: 'operator' }, 'test');
  const revoked = await post(urls[0]!, '/v1/devices/racer/revoke', ca, { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, '{"reason":"keyCompromise"}');
  t.equal(revoked.status, 200, revoked.body);
  const serial = certificates[0]!.serial;
  let listed = false;
  for (let i = 0; i < 100 && !listed; i++) {
    listed = readCrl(await get(urls[1]!, '/v1/crl', ca)).entries.some((e) => e.serial === serial);
    if (!listed) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(listed, 'the other replica serves a CRL with the revoked serial');
});
