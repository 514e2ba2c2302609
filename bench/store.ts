/**
 * The store's hot paths on both backends: grant increments per second (nextGrants in batches, as the
 * KDC grants a fleet at rotation) and token consumes per second (enrollDevice, many in flight).
 * Usage: node dist/bench/store.js [--devices 10000] [--rounds 10] [--enrolls 5000] [--inflight 256]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../store/index.js';
import type { CertificateRecord, Store } from '../store/types.js';
import { startBenchRedis } from './redis-server.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '10' },
    enrolls: { type: 'string', default: '5000' },
    inflight: { type: 'string', default: '256' },
  },
});
const devices = Number(values.devices);
const rounds = Number(values.rounds);
const enrolls = Number(values.enrolls);
const inflight = Number(values.inflight);

interface Result {
  store: string;
  grantIncrementsPerSec: number;
  grantBatchMs: number;
  consumesPerSec: number;
}

/** nextGrants over `devices` ids, `rounds` times; every number checked. */
async function grants(store: Store): Promise<{ perSec: number; batchMs: number }> {
  await store.createNextEpoch(0, randomBytes(32), randomBytes(32), new Date());
  const ids = Array.from({ length: devices }, (_, i) => `bench-${String(i).padStart(7, '0')}`);
  const start = process.hrtime.bigint();
  for (let round = 1; round <= rounds; round++) {
    const granted = await store.nextGrants(ids, 1);
    if (granted.size !== devices || granted.get(ids[devices - 1]!) !== round) throw new Error(`round ${round}: wrong grant numbers`);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { perSec: (devices * rounds) / seconds, batchMs: (seconds * 1000) / rounds };
}

/** enrollDevice for `enrolls` registered devices, `inflight` at a time. */
async function consumes(store: Store): Promise<number> {
  const expires = new Date(Date.now() + 3600_000);
  const all = Array.from({ length: enrolls }, (_, i) => ({ id: `enroll-${i}`, token: randomBytes(24).toString('base64url'), tokenExpiresAt: expires }));
  for (let i = 0; i < all.length; i += 10_000) await store.registerDevices(all.slice(i, i + 10_000), 'bench');
  const certs = all.map((d) => certificate(d.id));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < all.length) {
      const i = next++;
      await store.enrollDevice(all[i]!.id, all[i]!.token, certs[i]!);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(inflight, all.length) }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const counts = await store.countDevices();
  if (counts.active !== enrolls) throw new Error(`expected ${enrolls} enrolled, found ${counts.active}`);
  return enrolls / seconds;
}

function certificate(subject: string): CertificateRecord {
  const now = Date.now();
  return {
    serial: `1${randomBytes(15).toString('hex').toUpperCase()}`,
    subject,
    spki: randomBytes(91),
    notBefore: new Date(now - 300_000),
    notAfter: new Date(now + 90 * 86400_000),
    fingerprint: randomBytes(32).toString('hex'),
    issuedAt: new Date(now),
  };
}

async function measure(name: string, open: () => Promise<Store>): Promise<Result> {
  const store = await open();
  try {
    const g = await grants(store);
    const c = await consumes(store);
    return { store: name, grantIncrementsPerSec: Math.round(g.perSec), grantBatchMs: Math.round(g.batchMs * 10) / 10, consumesPerSec: Math.round(c) };
  } finally {
    await store.close();
  }
}

const results: Result[] = [];
const dir = mkdtempSync(join(tmpdir(), 'fleetkey-bench-store-'));
try {
  results.push(await measure('file:', () => openStore(`file:${dir}`)));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const redis = await startBenchRedis();
try {
  results.push(await measure('redis:', () => openStore(redis.url, { prefix: 'bench:' })));
} finally {
  await redis.stop();
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`store bench: ${devices} devices per nextGrants × ${rounds} rounds; ${enrolls} enrollments, ${inflight} in flight`);
console.log(`${'store'.padEnd(8)}${pad('grant incr/s', 14)}${pad('ms/batch', 10)}${pad('consumes/s', 12)}`);
for (const r of results) console.log(`${r.store.padEnd(8)}${pad(r.grantIncrementsPerSec, 14)}${pad(r.grantBatchMs, 10)}${pad(r.consumesPerSec, 12)}`);
console.log(JSON.stringify({ bench: 'store', devices, rounds, enrolls, inflight, results }));
