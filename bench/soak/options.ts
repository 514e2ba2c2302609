import { parseArgs } from 'node:util';

export interface SoakOptions {
  /** Devices in all (split evenly over the simulators, and over the two brokers with `cluster`). */
  readonly devices: number;
  /** Seconds of telemetry, from every device sending to the stop. */
  readonly seconds: number;
  /** Messages per second per device (QoS 1). */
  readonly rate: number;
  /** Two `fleetkey broker` processes on one Redis store instead of `fleetkey up` on its file: store. */
  readonly cluster: boolean;
  /** Simulator processes (a multiple of 2 with `cluster`: half on each broker). */
  readonly sims: number;
  /** Seconds into the telemetry at which the brokers are SIGKILLed and started again. */
  readonly restartAt: number;
  /** Which brokers are restarted; `all` makes the whole fleet reconnect; `none` is a control run (the rotation alone). */
  readonly restart: 'all' | 'a' | 'b' | 'none';
  /** `persistent`: `fleetkey tail --state` (the broker queues QoS 1 telemetry while it is away); `clean`: a clean session. */
  readonly consumer: 'persistent' | 'clean';
  /** Seconds the run may go on past its end while devices are still away or the rotation is unacked. */
  readonly grace: number;
  /** TLS handshakes in flight per simulator. */
  readonly connectConcurrency: number;
  /** Print only the JSON line (no table). */
  readonly json: boolean;
}

const USAGE = 'usage: soak [--quick] [--cluster] [--devices N] [--minutes M | --seconds S] [--rate R] [--sims N] [--restart-at S] [--restart all|a|b|none] [--grace S] [--consumer persistent|clean] [--connect-concurrency N] [--json]';

/**
 * The soak's command line. Defaults are the full run (10,000 devices, 10 minutes, 1 msg/s);
 * `--quick` is a CI-sized run (200 devices, 30 s). Explicit flags win over either.
 */
export function parseSoakOptions(argv: readonly string[]): Readonly<SoakOptions> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      cluster: { type: 'boolean', default: false },
      devices: { type: 'string' },
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string', default: '1' },
      sims: { type: 'string' },
      'restart-at': { type: 'string' },
      restart: { type: 'string', default: 'all' },
      grace: { type: 'string' },
      consumer: { type: 'string', default: 'persistent' },
      'connect-concurrency': { type: 'string', default: '64' },
      json: { type: 'boolean', default: false },
    },
  });
  const devices = Number(values.devices ?? (values.quick ? 200 : 10_000));
  const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes ?? (values.quick ? 0.5 : 10)) * 60;
  const perSim = values.cluster ? 2 : 1;
  // One simulator handles about 2,500 devices at 1 msg/s on one core (bench:fleet); more share the machine's cores.
  const sims = Number(values.sims ?? Math.max(perSim, perSim * Math.ceil(devices / perSim / 2500)));
  const opts: SoakOptions = {
    devices, seconds, rate: Number(values.rate), cluster: values.cluster, sims,
    restartAt: Number(values['restart-at'] ?? Math.min(60, Math.round(seconds / 4))),
    restart: values.restart as SoakOptions['restart'],
    consumer: values.consumer as SoakOptions['consumer'],
    grace: Number(values.grace ?? (values.quick ? 20 : 120)),
    connectConcurrency: Number(values['connect-concurrency']),
    json: values.json,
  };
  const bad = [
    !(Number.isInteger(opts.devices) && opts.devices >= opts.sims) && '--devices must be an integer, at least one per simulator',
    !(opts.seconds >= 10) && '--seconds must be at least 10',
    !(opts.rate > 0) && '--rate must be positive',
    !(Number.isInteger(opts.sims) && opts.sims >= 1 && opts.sims % perSim === 0) && `--sims must be a positive integer${opts.cluster ? ', even with --cluster' : ''}`,
    !(opts.restartAt >= 1 && opts.restartAt < opts.seconds) && '--restart-at must be within the telemetry seconds',
    !['persistent', 'clean'].includes(opts.consumer) && '--consumer is persistent or clean',
    !(opts.grace >= 0) && '--grace must be 0 or more seconds',
    !['all', 'a', 'b', 'none'].includes(opts.restart) && '--restart is all, a, b or none',
    (opts.restart === 'a' || opts.restart === 'b') && !opts.cluster && '--restart a|b needs --cluster',
    !(Number.isInteger(opts.connectConcurrency) && opts.connectConcurrency >= 1) && '--connect-concurrency must be a positive integer',
  ].filter((b): b is string => typeof b === 'string');
  if (bad.length > 0) throw new Error(`${bad.join('; ')}\n${USAGE}`);
  return Object.freeze(opts);
}
