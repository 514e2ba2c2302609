import t from 'tap';
import { randomBytes } from 'node:crypto';
import { deriveSessionKey } from '../../protocol/session-key.js';
import { GrantPool } from '../../kdc/grant-pool.js';
import type { GrantJob } from '../../kdc/grant-jobs.js';
import { loadSigner } from '../../kdc/signer.js';
import { testLogger } from '../helpers/fleet.js';
import { protocolFleet } from '../protocol/fixture.js';

const fleet = protocolFleet();
const kdcKeyPem = fleet.signer.key.export({ type: 'pkcs8', format: 'pem' }).toString();
const kdcCertPem = fleet.kdcCert.pem + fleet.ca.issuing.certificate.pem;
const { material } = loadSigner(kdcCertPem, kdcKeyPem);
const devices = Array.from({ length: 6 }, (_, i) => fleet.party('device', `pool-${i}`, i === 5 ? 'ec-p384' : 'ec-p256'));
const secret = randomBytes(32);
const sec = Math.floor(fleet.now / 1000);
const jobs: GrantJob[] = Array.from({ length: 150 }, (_, i) => {
  const d = devices[i % devices.length]!;
  return { deviceId: d.id, spki: d.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), epoch: 2, grant: i + 1, iat: sec, nbf: sec, exp: sec + 60 };
});

for (const size of [0, 2]) {
  t.test(`ok/ ${size === 0 ? 'inline' : `${size} workers`}: every grant verifies and carries HKDF(S_e, D, e, g)`, async (t) => {
    const pool = new GrantPool(material, size, testLogger());
    t.teardown(() => pool.close());
    const chunks: number[] = [];
    const results = await pool.build(jobs, new Map([[2, secret]]), (offset) => chunks.push(offset));
    t.equal(results.length, jobs.length);
    t.ok(chunks.length > 1, 'streamed in chunks');
    for (const [i, r] of results.entries()) {
      if (!('jws' in r)) throw new Error(`job ${i}: ${r.error}`);
      if (i % 25 !== 0 && i !== 5) continue; // verifying is slow: a sample (with the P-384 device)
      const d = devices[i % devices.length]!;
      const v = await fleet.verifyAs(d, r.jws);
      t.ok(v.key.equals(deriveSessionKey(secret, d.id, 2, i + 1)), `job ${i}`);
    }
    t.ok(secret.some((b) => b !== 0), 'the caller\'s secret is left intact');
  });
}

t.test('fail/ a job whose epoch secret is missing or whose key is unusable fails alone', async (t) => {
  const pool = new GrantPool(material, 1, testLogger());
  t.teardown(() => pool.close());
  const bad: GrantJob[] = [jobs[0]!, { ...jobs[1]!, epoch: 9 }, { ...jobs[2]!, spki: Buffer.from('not a key').toString('base64') }];
  const [ok, noSecret, badKey] = await pool.build(bad, new Map([[2, secret]]));
  t.ok(ok && 'jws' in ok);
  t.match(noSecret, { error: 'KDC_EPOCH_SECRET_MISSING' });
  t.match(badKey, { error: 'KDC_GRANT_FAILED' });
});

t.test('fail/ a closed pool refuses work', async (t) => {
  const pool = new GrantPool(material, 1, testLogger());
  await pool.close();
  await t.rejects(pool.build(jobs.slice(0, 1), new Map([[2, secret]])), { code: 'KDC_CLOSED' });
});

t.test('fail/ a signer that is not a KDC certificate', async (t) => {
  const consumer = fleet.party('consumer', 'x');
  const pem = consumer.cert.pem + fleet.ca.issuing.certificate.pem;
  t.throws(() => loadSigner(pem, consumer.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), { code: 'KDC_SIGNER_INVALID' });
  t.throws(() => loadSigner(kdcCertPem, consumer.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), { code: 'KDC_SIGNER_INVALID' }, 'key of another certificate');
  t.throws(() => loadSigner(fleet.kdcCert.pem, kdcKeyPem), { code: 'KDC_SIGNER_INVALID' }, 'no issuing CA');
});

