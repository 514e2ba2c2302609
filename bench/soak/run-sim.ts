/**
 * Child entry: one simulator process of the soak, driven over stdin/stdout so that the bench opens
 * telemetry and stops every simulator at the same moment. Its devices are the bundles of one
 * directory; each keeps its own outage record (disconnected after being online, then connected
 * again), from which the bench reads when the first and the last device came back.
 * stdin lines: `open` (every device starts sending), `stop` (drain, disconnect, report).
 * stdout lines (JSON): `progress` every second, `ready` once every device is connected with a key,
 * `report` at the end (SimReport + outages), then the process exits.
 * Usage: node dist/bench/soak/run-sim.js <bundles dir> <broker url> <ca chain.pem> <rate> [connect concurrency]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createFleet, fleetTrust, loadBundle } from '../../device-sim/index.js';
import { OutageLog } from './outages.js';

const [bundles, brokerUrl, chain, rate, concurrency] = process.argv.slice(2);
if (!bundles || !brokerUrl || !chain || !rate) {
  process.stderr.write('usage: run-sim.js <bundles dir> <broker url> <ca chain.pem> <rate> [connect concurrency]\n');
  process.exit(2);
}
const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const baseline = process.memoryUsage().rss;
const trust = fleetTrust(readFileSync(chain, 'utf8'));
const ids = readdirSync(bundles, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
const outages = new OutageLog();
const sim = createFleet({
  brokerUrl, trust, rate: Number(rate), qos: 1, holdTelemetry: true, renew: false,
  connectConcurrency: Number(concurrency ?? 64),
  devices: ids.map((id) => ({ id, identity: loadBundle(bundles, id, trust).identity })),
  observe: (event) => outages.observe(event, Date.now()),
}, baseline);

const progress = setInterval(() => say({ type: 'progress', t: Date.now(), ...sim.progress(), outages: outages.summary() }), 1000);
sim.start();
void sim.ready(3_600_000).then(() => say({ type: 'ready', t: Date.now(), ...sim.progress() }));

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'open') sim.openTelemetry();
  if (line === 'stop') void stop();
});

async function stop(): Promise<void> {
  clearInterval(progress);
  const report = await sim.stop();
  say({ type: 'report', t: Date.now(), report, outages: outages.summary() });
  process.exit(0);
}
