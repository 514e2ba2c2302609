/**
 * The fleet bench (issue 7): N simulated devices (factory bundles made beforehand, so enrollment is
 * not measured) connect over mutual TLS, get session keys, then send 1 sealed message a second each;
 * a decrypting consumer counts what arrives. Every part is its own child process so its CPU and RSS
 * are its own: simulator (`fleetkey sim`), broker, KDC (`fleetkey kdc`), consumer (`fleetkey tail`),
 * on a throwaway Redis store. Reports connects/s, sustained messages/s end to end, loss (must be 0),
 * RSS per device and per broker connection, the CPU split, and how per-device costs grow with N.
 * Usage: node dist/bench/fleet.js [--quick] [--sizes 1000,5000,10000] [--duration 60]
 */
import { parseArgs } from 'node:util';
import { ensureFdLimit, printMachine } from './broker/machine.js';
import { measure, type RunFigures } from './fleet/measure.js';
import { setUp } from './fleet/setup.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, sizes: { type: 'string' }, duration: { type: 'string' } } });
const sizes = (values.sizes ?? (values.quick ? '200,1000' : '1000,5000,10000')).split(',').map(Number);
const duration = Number(values.duration ?? (values.quick ? 15 : 60));
if (sizes.some((n) => !(n >= 1)) || !(duration >= 1)) throw new Error('--sizes n,n,… and --duration s must be positive');

// Each device is a socket in the simulator and one in the broker child (they inherit this limit).
ensureFdLimit(Math.max(...sizes) + 1024);
printMachine();
const largest = Math.max(...sizes);
console.log(`making ${largest} device bundles (key, certificate, store record)…`);
const setup = await setUp(largest);
console.log(`  done in ${setup.seconds.toFixed(1)} s`);

const runs: RunFigures[] = [];
try {
  for (const n of sizes) {
    console.log(`\n${n} devices: connect, key, then 1 msg/s each for ${duration} s`);
    const r = await measure(setup, n, duration);
    runs.push(r);
    console.log(`  load ${r.load1.start.toFixed(2)} → ${r.load1.end.toFixed(2)}; failed ${JSON.stringify(r.failed)}; errors ${JSON.stringify(r.errors)}`);
  }
} finally {
  await setup.cleanup();
}

const col = (v: string | number) => String(v).padStart(16);
const row = (label: string, f: (r: RunFigures) => string | number) => console.log(`${label.padEnd(40)}${runs.map((r) => col(f(r))).join('')}`);
console.log(`\n${'devices'.padEnd(40)}${runs.map((r) => col(r.devices)).join('')}`);
row('load1 at start / end', (r) => `${r.load1.start.toFixed(1)}/${r.load1.end.toFixed(1)}`);
row('ramp: connected + keyed per s', (r) => r.ramp.devicesPerSecond);
row('  connect p50 / p99 ms', (r) => `${r.ramp.connectP50}/${r.ramp.connectP99}`);
row('  first key p50 / p99 ms', (r) => `${Math.round(r.ramp.firstKeyP50)}/${Math.round(r.ramp.firstKeyP99)}`);
for (const p of ['sim', 'broker', 'kdc', 'consumer'] as const) row(`  CPU ms per device: ${p}`, (r) => r.ramp.cpuMsPerDevice[p]);
row('steady: sealed msg/s sent (sim)', (r) => r.steady.simSentPerSecond);
row('steady: msg/s opened (consumer)', (r) => r.steady.consumerOpenedPerSecond);
row('messages sent / opened', (r) => `${r.messages.sent}/${r.messages.opened}`);
row('loss (sent − opened)', (r) => r.messages.loss);
row('duplicates / undecryptable', (r) => `${r.messages.duplicate}/${r.messages.undecryptable}`);
row('readings lost to sim overload (late)', (r) => r.messages.late);
for (const p of ['sim', 'broker', 'kdc', 'consumer'] as const) row(`  CPU µs per message: ${p}`, (r) => r.steady.cpuMicrosPerMessage[p]);
for (const p of ['sim', 'broker', 'kdc', 'consumer'] as const) row(`  cores busy: ${p}`, (r) => r.steady.cpuCores[p]);
row('RSS per device, sim (KB)', (r) => r.memory.simRssPerDeviceKb);
row('RSS per connection, broker (KB)', (r) => r.memory.brokerRssPerConnectionKb);

// Linear growth means flat per-device costs: compare the largest run with the smallest.
const [small, big] = [runs[0]!, runs.at(-1)!];
if (runs.length > 1) {
  const ratio = (a: number, b: number) => (a > 0 ? (b / a).toFixed(2) : '-');
  console.log(`\ngrowth ${small.devices} → ${big.devices} devices (${(big.devices / small.devices).toFixed(0)}x): per-device / per-message cost ratios (1.00 = linear)`);
  console.log(`  sim CPU per connect ${ratio(small.ramp.cpuMsPerDevice.sim, big.ramp.cpuMsPerDevice.sim)}, broker CPU per connect ${ratio(small.ramp.cpuMsPerDevice.broker, big.ramp.cpuMsPerDevice.broker)}, KDC CPU per grant ${ratio(small.ramp.cpuMsPerDevice.kdc, big.ramp.cpuMsPerDevice.kdc)}`);
  console.log(`  sim CPU per message ${ratio(small.steady.cpuMicrosPerMessage.sim, big.steady.cpuMicrosPerMessage.sim)}, broker CPU per message ${ratio(small.steady.cpuMicrosPerMessage.broker, big.steady.cpuMicrosPerMessage.broker)}, consumer CPU per message ${ratio(small.steady.cpuMicrosPerMessage.consumer, big.steady.cpuMicrosPerMessage.consumer)}`);
  console.log(`  sim RSS per device ${ratio(small.memory.simRssPerDeviceKb, big.memory.simRssPerDeviceKb)}, broker RSS per connection ${ratio(small.memory.brokerRssPerConnectionKb, big.memory.brokerRssPerConnectionKb)}`);
}
const lossy = runs.filter((r) => r.messages.loss !== 0 || Object.keys(r.failed).length > 0);
console.log(`\n${JSON.stringify({ bench: 'fleet', duration, runs })}`);
if (lossy.length > 0) {
  console.log(`LOSS or failed devices at ${lossy.map((r) => r.devices).join(', ')} devices`);
  process.exitCode = 1;
}
