/**
 * The store's hot paths on both backends: grant increments per second (nextGrants in batches, as the
 * KDC grants a fleet at rotation) and token consumes per second (enrollDevice, many in flight); on
 * Redis also the event latency between two store connections (a revocation on one, heard by the other's
 * handler: what a broker process learns of a revocation another process recorded).
 * Usage: node dist/bench/store.js [--devices 10000] [--rounds 10] [--enrolls 5000] [--inflight 256] [--events 500]
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
    events: { type: 'string', default: '500' },
  },
});
const devices = Number(values.devices);
const rounds = Number(values.rounds);
const enrolls = Number(values.enrolls);
const inflight = Number(values.inflight);
const events = Number(values.events);

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

/** Revocations on one Redis store connection, each timed until the other connection's handler sees it. */
async function eventLatency(url: string): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }> {
  const sender = await openStore(url, { prefix: 'bench-events:' });
  const receiver = await openStore(url, { prefix: 'bench-events:' });
  try {
    const expires = new Date(Date.now() + 3600_000);
    const ids = Array.from({ length: events }, (_, i) => `event-${i}`);
    await sender.registerDevices(ids.map((id) => ({ id, token: randomBytes(24).toString('base64url'), tokenExpiresAt: expires })), 'bench');
    const waiting = new Map<string, () => void>();
    const stop = receiver.on('revoked', (event) => waiting.get(event.subject)?.());
    const ms: number[] = [];
    for (const id of ids) {
      const heard = new Promise<void>((resolve) => waiting.set(id, resolve));
      const start = process.hrtime.bigint();
      await sender.revokeDevice(id, 'keyCompromise', 'bench');
      await heard;
      ms.push(Number(process.hrtime.bigint() - start) / 1e6);
      waiting.delete(id);
    }
    stop();
    ms.sort((a, b) => a - b);
    const at = (q: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]! * 100) / 100;
    return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
  } finally {
    await receiver.close();
    await sender.close();
  }
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
let latency: Awaited<ReturnType<typeof eventLatency>>;
try {
  results.push(await measure('redis:', () => openStore(redis.url, { prefix: 'bench:' })));
  latency = await eventLatency(redis.url);
} finally {
  await redis.stop();
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`store bench: ${devices} devices per nextGrants × ${rounds} rounds; ${enrolls} enrollments, ${inflight} in flight`);
console.log(`${'store'.padEnd(8)}${pad('grant incr/s', 14)}${pad('ms/batch', 10)}${pad('consumes/s', 12)}`);
for (const r of results) console.log(`${r.store.padEnd(8)}${pad(r.grantIncrementsPerSec, 14)}${pad(r.grantBatchMs, 10)}${pad(r.consumesPerSec, 12)}`);
console.log(`redis: revocation heard by another connection's handler (${events} events, one at a time): p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms`);
console.log(JSON.stringify({ bench: 'store', devices, rounds, enrolls, inflight, results, eventLatency: { events, ...latency } }));
