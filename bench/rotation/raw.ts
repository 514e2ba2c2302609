/**
 * The raw per-grant crypto of issue 6 — a fresh P-256 key + ECDH + an ES256 signature, through
 * createECDH (the fastest Node route) — on `threads` worker threads at once, for `ms` of wall time.
 * This is the limit the KDC's grant rate is compared with, measured in the same run.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Worker } from 'node:worker_threads';

const LOOP = `
const { parentPort, workerData } = require('node:worker_threads');
const { createECDH, createPrivateKey, sign } = require('node:crypto');
const key = createPrivateKey(workerData.keyPem);
const points = workerData.points.map((p) => Buffer.from(p));
const payload = Buffer.alloc(400, 0x61);
parentPort.once('message', () => {
  const deadline = Date.now() + workerData.ms;
  let n = 0;
  while (Date.now() < deadline) {
    for (let j = 0; j < 16; j++, n++) {
      const e = createECDH('prime256v1');
      e.generateKeys();
      e.computeSecret(points[n % points.length]);
      sign('sha256', payload, { key, dsaEncoding: 'ieee-p1363' });
    }
  }
  parentPort.postMessage(n);
});`;

/**
 * Raw per-grant operations per second of wall time, summed over `threads` threads running together,
 * and per CPU-second of this process (measured while nothing else in it runs: the rate on one core,
 * whatever else shares the machine).
 */
export async function rawGrantCrypto(threads: number, ms: number): Promise<{ perSec: number; perCpuSec: number }> {
  const kdc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const points = Array.from({ length: 64 }, () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  });
  const keyPem = kdc.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const workers = Array.from({ length: threads }, () => new Worker(LOOP, { eval: true, workerData: { keyPem, points, ms } }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('online', resolve))));
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const counts = await Promise.all(workers.map((w) => new Promise<number>((resolve) => {
    w.once('message', resolve);
    w.postMessage('go');
  })));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await Promise.all(workers.map((w) => w.terminate()));
  const total = counts.reduce((a, b) => a + b, 0);
  return { perSec: total / seconds, perCpuSec: total / ((used.user + used.system) / 1e6) };
}
