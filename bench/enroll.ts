/**
 * EST enrollments per second through the provisioner (HTTPS keep-alive, `--clients` concurrent
 * clients posting pre-made P-256 CSRs to simpleenroll, each consuming a one-time token on the embedded
 * file: store), beside the in-process `issueFromCsr` rate measured in the same run, interleaved in rounds.
 * The clients run in a child process; the server is this process, so its CPU time is the server's.
 * Usage: node dist/bench/enroll.js [--rounds 5] [--per-round 2000] [--warmup 4000] [--seconds 2] [--clients 16] [--workers N] [--profile out.cpuprofile]
 * `--workers` sets the provisioner's issuing worker threads (default: one per core beyond the first, 1 to 4).
 * `--warmup` enrollments go through the server first, unmeasured: with 500, successive rounds still sped up
 * by a third (JIT of the HTTP, TLS and store paths); from about 4,000 on they stay level.
 * `--profile` writes a V8 CPU profile of the server side of the EST rounds only (open it in Chrome DevTools).
 * Target (issue 4): EST enrollments/s >= 60% of the in-process issueFromCsr rate.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createFleetCa } from '../certs/ca.js';
import { createCsr } from '../certs/csr-build.js';
import { issueFromCsr } from '../certs/csr.js';
import { issueServerCertificate } from '../certs/issue.js';
import { generateDeviceKey } from '../certs/keys.js';
import { createProvisioner } from '../provisioner/index.js';
import { newEnrollmentToken } from '../provisioner/registration.js';
import { openStore } from '../store/index.js';
import type { LoadJob, LoadResult } from './enroll/load.js';
import { threadCpuMs } from './broker/procstat.js';
import { cpuProfiler } from './cpu-profiler.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'per-round': { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16' },
    warmup: { type: 'string', default: '4000' },
    profile: { type: 'string' },
    workers: { type: 'string' },
  },
});
const TARGET = 0.6;
const rounds = Number(values.rounds);
const perRound = Number(values['per-round']);
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const warmup = Number(values.warmup);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const ca = createFleetCa({ name: 'Bench Fleet' });
const serverKey = generateDeviceKey();
const serverCert = issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], publicKey: serverKey.publicKey });
const caPems = [ca.root.certificate.pem, ca.issuing.certificate.pem];
const dir = mkdtempSync(join(tmpdir(), 'fleetkey-bench-enroll-'));
const store = await openStore(`file:${dir}`);
const total = warmup + rounds * perRound;
console.error(`making ${total} keys, CSRs and registrations…`);
const enrollments = Array.from({ length: total }, (_, i) => {
  const id = `bench-${i}`;
  return { id, token: newEnrollmentToken(), csr: createCsr(generateDeviceKey(), id).toString('base64') };
});
const expires = new Date(Date.now() + 3_600_000);
for (let i = 0; i < total; i += 10_000) {
  await store.registerDevices(enrollments.slice(i, i + 10_000).map((e) => ({ id: e.id, token: e.token, tokenExpiresAt: expires })), 'bench');
}

const provisioner = await createProvisioner({
  host: '127.0.0.1',
  port: 0,
  tls: () => ({ ca: caPems, cert: serverCert.pem + ca.issuing.certificate.pem, key: serverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }),
  ca,
  store,
  logger: pino({ level: 'silent' }),
  ipRateLimit: { perSecond: 1e6, burst: 1e6 },
  deviceRateLimit: { perSecond: 1e6, burst: 1e6 },
  ...(values.workers === undefined ? {} : { issuingWorkers: Number(values.workers) }),
});
const { port } = await provisioner.listen();
const url = `https://127.0.0.1:${port}`;
const profiler = values.profile === undefined ? undefined : await cpuProfiler(values.profile);
const child = fork(new URL('./enroll/load.js', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

async function load(slice: LoadJob['enrollments'], profile = false): Promise<LoadResult & { serverCpuMs: number; loopCpuMs: number }> {
  if (profile) await profiler?.start();
  const cpu = process.cpuUsage();
  const loop = threadCpuMs();
  child.send({ url, ca: caPems, concurrency: clients, enrollments: slice } satisfies LoadJob);
  const [result] = (await once(child, 'message')) as [LoadResult | { error: string }];
  if ('error' in result) throw new Error(result.error);
  const used = process.cpuUsage(cpu);
  const loopCpuMs = threadCpuMs() - loop;
  if (profile) await profiler?.stop();
  if (result.failed > 0) throw new Error(`${result.failed} enrollments failed, first: ${result.firstFailure}`);
  return { ...result, serverCpuMs: (used.user + used.system) / 1000, loopCpuMs };
}

/** issueFromCsr over the pre-made CSRs for `seconds`: wall rate and CPU time per issue. */
function inProcess(): { perSec: number; cpuUs: number } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < seconds * 1000) {
    for (let j = 0; j < 32; j++, n++) {
      const e = enrollments[n % enrollments.length]!;
      issueFromCsr(ca, e.csr, e.id);
    }
  }
  const used = process.cpuUsage(cpu);
  return { perSec: n / ((performance.now() - start) / 1000), cpuUs: (used.user + used.system) / n };
}

await load(enrollments.slice(0, warmup)); // JIT, TLS sessions, the store's first journal segment
inProcess();
const samples = { est: [] as number[], local: [] as number[], ratio: [] as number[], estCpuUs: [] as number[], loopCpuUs: [] as number[], clientCpuUs: [] as number[], localCpuUs: [] as number[], cpuRatio: [] as number[], p50: [] as number[], p99: [] as number[] };
for (let r = 0; r < rounds; r++) {
  const local = inProcess();
  const est = await load(enrollments.slice(warmup + r * perRound, warmup + (r + 1) * perRound), true);
  const estPerSec = est.done / (est.elapsedMs / 1000);
  const estCpuUs = (est.serverCpuMs * 1000) / est.done;
  samples.est.push(estPerSec);
  samples.local.push(local.perSec);
  samples.ratio.push(estPerSec / local.perSec);
  samples.estCpuUs.push(estCpuUs);
  samples.clientCpuUs.push((est.clientCpuMs * 1000) / est.done);
  samples.loopCpuUs.push((est.loopCpuMs * 1000) / est.done);
  samples.localCpuUs.push(local.cpuUs);
  samples.cpuRatio.push(local.cpuUs / estCpuUs);
  samples.p50.push(est.p50Ms);
  samples.p99.push(est.p99Ms);
  console.error(`round ${r + 1}: EST ${Math.round(estPerSec)}/s, in-process ${Math.round(local.perSec)}/s, load ${loadavg()[0]!.toFixed(2)}`);
}
child.send('exit');
await profiler?.write();
await provisioner.close();
await store.close();
rmSync(dir, { recursive: true, force: true });

const m = (k: keyof typeof samples) => median(samples[k]);
console.log(`EST simpleenroll over HTTPS keep-alive, ${clients} clients (child process), file: store; medians of ${rounds} interleaved rounds`);
console.log('| path | enrollments/s | server CPU µs each | vs in-process |');
console.log('|---|---:|---:|---:|');
console.log(`| in-process issueFromCsr | ${Math.round(m('local')).toLocaleString('en')} | ${m('localCpuUs').toFixed(0)} | 100% |`);
console.log(`| EST simpleenroll (HTTPS + token + store) | ${Math.round(m('est')).toLocaleString('en')} | ${m('estCpuUs').toFixed(0)} | ${(m('ratio') * 100).toFixed(1)}% (CPU: ${(m('cpuRatio') * 100).toFixed(1)}%) |`);
console.log(`server event loop (main thread) CPU per enrollment: ${m('loopCpuUs').toFixed(0)} µs of the ${m('estCpuUs').toFixed(0)}; the rest is the issuing worker (CSR check, CA signature), libuv's pool (journal writes) and V8's threads`);
console.log(`load generator (the ${clients} clients' process) CPU per enrollment: ${m('clientCpuUs').toFixed(0)} µs`);
console.log(`latency p50 ${m('p50').toFixed(1)} ms, p99 ${m('p99').toFixed(1)} ms; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${(await import('node:os')).cpus().length} cores`);
console.log(JSON.stringify({
  bench: 'enroll',
  node: process.version,
  clients,
  rounds,
  perRound,
  estPerSec: Math.round(m('est')),
  inProcessPerSec: Math.round(m('local')),
  ratio: Number(m('ratio').toFixed(4)),
  estServerCpuUs: Number(m('estCpuUs').toFixed(1)),
  inProcessCpuUs: Number(m('localCpuUs').toFixed(1)),
  estLoopCpuUs: Number(m('loopCpuUs').toFixed(1)),
  clientCpuUs: Number(m('clientCpuUs').toFixed(1)),
  cpuRatio: Number(m('cpuRatio').toFixed(4)),
  p50Ms: Number(m('p50').toFixed(2)),
  p99Ms: Number(m('p99').toFixed(2)),
  loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  target: TARGET,
  meetsTarget: m('ratio') >= TARGET,
}));
