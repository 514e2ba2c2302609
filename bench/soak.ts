/**
 * The soak (issue 18): a fleet on QoS 1 telemetry for minutes, through a broker SIGKILL and restart
 * (the whole fleet reconnects) and a rotation requested in the middle of the reconnect storm. Every
 * part is its own process: the services (`fleetkey up` on its file: store, or with --cluster two
 * `fleetkey broker` on one Redis store and a `fleetkey kdc`), the simulators (bench/soak/run-sim.ts),
 * and a consumer (`fleetkey tail`) that stays up through the restart and counts.
 * Reports reconnect times (first and last device back), broker RSS (peak, per connection), event-loop
 * lag p99, the rotation's acks, and sent = opened with 0 lost and 0 undecryptable; exits 1 otherwise.
 * Usage: node dist/bench/soak.js [--quick] [--cluster] [--devices 10000] [--minutes 10] [--json] (bench/soak/options.ts)
 */
import { ensureFdLimit, printMachine } from './broker/machine.js';
import { printTable } from './soak/figures.js';
import { parseSoakOptions } from './soak/options.js';
import { runSoak } from './soak/run.js';

const opts = parseSoakOptions(process.argv.slice(2));
// A socket per device in its simulator and one in its broker (children inherit this limit).
ensureFdLimit(opts.devices + 1024);
const say = opts.json ? (line: string) => void process.stderr.write(`${line}\n`) : (line: string) => console.log(line);
if (!opts.json) printMachine();
const figures = await runSoak(opts, say);
if (!opts.json) printTable(figures);
console.log(`${opts.json ? '' : '\n'}${JSON.stringify(figures)}`);
if (figures.failures.length > 0) {
  say(`FAILED: ${figures.failures.join('; ')}`);
  process.exitCode = 1;
}
