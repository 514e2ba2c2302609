import { readFileSync } from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { Option, type Command } from 'commander';
import { createFleet, type FleetProgress, type SimFleet, type SimReport } from '../../device-sim/index.js';
import { FleetkeyError } from '../../errors/index.js';
import { emit } from '../output.js';
import { action } from '../program.js';
import { parseIntOption } from '../service-options.js';
import { provisionerUrl, simDevices, simTrust, type SimSourceOptions } from '../sim-devices.js';

interface SimCliOptions extends SimSourceOptions {
  rate: number;
  duration: number;
  readyTimeout: number;
  broker: string;
  qos: string;
  connectConcurrency: number;
  keepalive: number;
  renew: boolean;
  sendAfterReady?: boolean;
  progress: boolean;
  progressJson?: boolean;
  json?: boolean;
}

const HELP = `
Devices come from exactly one of:
  --bundles DIR           factory bundles <DIR>/<id>/{key,cert,chain}.pem (fleetkey provision); no enrollment
  --tokens FILE           "id,token" lines (fleetkey devices add); each device enrolls over EST
  --register              registers --devices devices named <prefix><n> (factory or admin API token: --token,
                          FLEETKEY_TOKEN, --token-file or <dir>/provisioner/admin.token), then enrolls them
Each device: P-256 key and CSR, EST simpleenroll, mutual-TLS MQTT (client id = device id), a rekey
request, grant verified and installed, sealed telemetry at --rate, renewal at 2/3 of its certificate's
lifetime, reconnects with jittered exponential backoff. The run lasts until every device is connected
with a key (or --ready-timeout), then --duration more seconds. Exit code 1 if any device ended in error.`;

const parseRate = (value: string): number => {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`not a positive number: ${value}`);
  return n;
};

/** Open files this process needs: a socket per device, plus some. */
function checkFdLimit(devices: number): string | undefined {
  const match = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const soft = match?.[1] === 'unlimited' ? Infinity : Number(match?.[1]);
  return soft < devices + 64 ? `open-files limit ${soft} is below ${devices + 64}: raise it (ulimit -n) or some devices will fail to connect` : undefined;
}

type Phase = 'ramp' | 'steady' | 'stopping' | 'done';

/** --progress-json: one JSON line a second on stderr, and one at each phase change (for benches and logs). */
function progressLines(opts: SimCliOptions, sim: SimFleet): (phase: Phase) => void {
  if (!opts.progressJson) return () => undefined;
  let phase: Phase = 'ramp';
  const line = () => process.stderr.write(`${JSON.stringify({ t: Date.now(), phase, ...sim.progress() })}\n`);
  const timer = setInterval(line, 1000);
  return (next) => {
    phase = next;
    line();
    if (next === 'done') clearInterval(timer);
  };
}

function progressBar(opts: SimCliOptions, sim: SimFleet): () => void {
  if (!opts.progress || !process.stderr.isTTY) return () => undefined;
  const bar = new SingleBar({
    stream: process.stderr, hideCursor: true,
    format: 'sim [{bar}] keyed {value}/{total} | enrolled {enrolled} connected {connected} sent {sent} errors {errors} failed {failed}',
  }, Presets.shades_classic);
  const payload = (p: FleetProgress) => ({ enrolled: p.enrolled, connected: p.connected, sent: p.sent, errors: p.errors, failed: p.failed });
  bar.start(sim.devices.length, 0, payload(sim.progress()));
  const timer = setInterval(() => {
    const p = sim.progress();
    bar.update(p.keyed, payload(p));
  }, 500);
  return () => {
    clearInterval(timer);
    const p = sim.progress();
    bar.update(p.keyed, payload(p));
    bar.stop();
  };
}

function summary(r: SimReport): string {
  const failed = Object.entries(r.failed).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  const errors = Object.entries(r.errors).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  const lat = (p: SimReport['latencyMs']['connect']) => (p.n === 0 ? '-' : `p50 ${p.p50} / p90 ${p.p90} / p99 ${p.p99} ms`);
  return [
    `${r.devices} devices: ${r.stages.enrolled} enrolled, ${r.stages.connected} connected, ${r.stages.keyed} keyed, ${r.stages.failed} failed`,
    `messages: ${r.messages.sent} sent (${r.steady.perSecond}/s steady), ${r.messages.republished} republished, ${r.messages.skipped} readings skipped while disconnected, ${r.messages.late} lost to an overloaded simulator`,
    `grants: ${r.grants.accepted} accepted, ${r.grants.rotationsAcked} rotations acked; ${r.connections.reconnects} reconnects, ${r.connections.renewals} renewals`,
    `latency: enroll ${lat(r.latencyMs.enroll)}; connect ${lat(r.latencyMs.connect)}; first key ${lat(r.latencyMs.firstKey)}`,
    r.ramp ? `ramp: ${r.ramp.seconds} s, ${r.ramp.devicesPerSecond} devices/s` : 'ramp: not every device became ready',
    `memory: ${r.memory.rssPerDeviceKb} KB RSS per device (${r.memory.baselineMb} → ${r.memory.readyMb} MB)`,
    `errors: ${errors}`,
    `ended in error: ${failed}`,
    ...r.clock.notes.map((note) => `clock: ${note}`),
  ].join('\n');
}

/** `fleetkey sim`: a fleet of simulated devices over the real protocols, with a report. */
export function registerSim(program: Command): void {
  program
    .command('sim')
    .description('simulate devices: enroll, connect, get keys, send sealed telemetry; report per stage')
    .requiredOption('--devices <n>', 'number of devices', parseIntOption)
    .option('--rate <r>', 'telemetry messages per second per device', parseRate, 1)
    .option('--duration <s>', 'seconds of telemetry once every device is ready', parseIntOption, 60)
    .option('--ready-timeout <s>', 'longest wait for every device to be ready', parseIntOption, 300)
    .option('--bundles <dir>', 'factory bundles, one directory per device')
    .option('--tokens <file>', 'id,token lines from `fleetkey devices add`')
    .option('--register', 'register the devices first (needs --token)')
    .option('--token <token>', 'API token for --register (env FLEETKEY_TOKEN; default <dir>/provisioner/admin.token)')
    .option('--token-file <file>', 'file holding the API token for --register')
    .option('--prefix <p>', 'device id prefix for --register', 'sim-')
    .option('--start <n>', 'first number for --register', parseIntOption)
    .option('--broker <url>', 'broker (env FLEETKEY_BROKER)', process.env.FLEETKEY_BROKER ?? 'mqtts://127.0.0.1:8883')
    .option('--url <url>', 'provisioner URL for EST (env FLEETKEY_URL; default: <dir>/provisioner/endpoint.json)')
    .option('--cacert <file>', 'fleet CA bundle (env FLEETKEY_CACERT; default: <dir>/ca/chain.pem)')
    .option('--dir <dir>', 'data directory (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .addOption(new Option('--qos <q>', 'telemetry QoS').choices(['0', '1']).default('1'))
    .option('--connect-concurrency <n>', 'TLS handshakes in flight at once', parseIntOption, 64)
    .option('--keepalive <s>', 'MQTT keepalive', parseIntOption, 60)
    .option('--no-renew', 'do not renew certificates at 2/3 of their lifetime')
    .option('--send-after-ready', 'hold back telemetry until every device is connected with a key (benchmarks)')
    .option('--no-progress', 'no progress line even on a terminal')
    .option('--progress-json', 'a JSON progress line on stderr every second and at each phase (ramp, steady, stopping, done)')
    .option('--json', 'print the final report as JSON')
    .addHelpText('after', HELP)
    .action(action(async (opts: SimCliOptions) => {
      if (!(opts.devices >= 1)) throw new FleetkeyError('CLI_INPUT_INVALID', '--devices must be at least 1');
      const warning = checkFdLimit(opts.devices);
      if (warning) process.stderr.write(`sim: ${warning}\n`);
      const baseline = process.memoryUsage().rss;
      const trust = simTrust(opts);
      const url = provisionerUrl(opts);
      const devices = await simDevices(opts, trust);
      const sim = createFleet({
        brokerUrl: opts.broker, trust, devices, rate: opts.rate, qos: opts.qos === '0' ? 0 : 1,
        est: url ? { url, ca: trust.caPems } : undefined,
        renew: opts.renew && url !== undefined, holdTelemetry: opts.sendAfterReady === true, connectConcurrency: opts.connectConcurrency, keepaliveSeconds: opts.keepalive,
      }, baseline);
      let interrupt: () => void = () => undefined;
      const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const stopBar = progressBar(opts, sim);
      const phase = progressLines(opts, sim);
      sim.start();
      phase('ramp');
      await Promise.race([sim.ready(opts.readyTimeout * 1000), interrupted]);
      sim.openTelemetry();
      phase('steady');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, opts.duration * 1000))), interrupted]);
      clearTimeout(timer);
      phase('stopping');
      stopBar();
      const report = await sim.stop();
      phase('done');
      emit(opts, report, () => summary(report));
      if (Object.keys(report.failed).length > 0) process.exitCode = 1;
    }));
}
