import t from 'tap';
import { fullJitter, retryAfterJitter, Slots } from '../../device-sim/backoff.js';
import { classifyLinkError } from '../../device-sim/link.js';
import { resolveFleetOptions } from '../../device-sim/options.js';
import { TimingWheel } from '../../device-sim/scheduler.js';
import { Latencies } from '../../device-sim/stats.js';
import { readingPayload, readingSeq } from '../../device-sim/telemetry.js';
import { createFleetCa } from '../../certs/ca.js';
import { trustOf } from '../../device-sim/factory.js';

/** A wheel on a clock the test moves, turned by hand through its native interval. */
function manualWheel(tickMs = 10) {
  let now = 1_000_000;
  const wheel = new TimingWheel({ tickMs, slots: 8, clock: () => now });
  const advance = async (ms: number) => {
    now += ms;
    await new Promise((resolve) => setTimeout(resolve, tickMs * 2)); // let the native interval turn it
  };
  t.teardown(() => wheel.close());
  return { wheel, advance, now: () => now };
}

t.test('timing wheel: never early, at most a tick late, beyond one turn, cancel, periodic without drift', async (t) => {
  const { wheel, advance } = manualWheel();
  const ran: string[] = [];
  wheel.after(25, () => ran.push('a'));
  wheel.after(200, () => ran.push('far')); // 20 ticks: more than one turn of 8 slots
  const cancelled = wheel.after(30, () => ran.push('cancelled'));
  cancelled.cancel();
  cancelled.cancel();
  t.equal(wheel.size, 2, 'cancelled tasks do not count');
  await advance(20);
  t.same(ran, [], 'not before its time');
  await advance(10);
  t.same(ran, ['a'], 'at its tick');
  await advance(100);
  t.same(ran, ['a'], 'a task one turn or more ahead waits in its slot');
  await advance(100);
  t.same(ran, ['a', 'far'], 'and runs on the right turn');
  t.equal(wheel.size, 0);

  const beats: number[] = [];
  let count = 0;
  const every = wheel.every(50, () => beats.push(++count));
  for (let i = 0; i < 5; i++) await advance(50);
  t.same(beats, [1, 2, 3, 4, 5], 'a periodic task runs once per period');
  await advance(500);
  t.equal(beats.length, 6, 'after a stall it runs once, not in a burst');
  every.cancel();
  await advance(100);
  t.equal(beats.length, 6, 'cancelled');
});

t.test('timing wheel: tasks scheduled from a task, errors, and the MQTT.js interval timer', async (t) => {
  const errors: unknown[] = [];
  let now = 0;
  const wheel = new TimingWheel({ tickMs: 5, slots: 4, clock: () => now, onError: (err) => errors.push(err) });
  t.teardown(() => wheel.close());
  const ran: string[] = [];
  wheel.after(5, () => {
    ran.push('first');
    wheel.after(0, () => ran.push('chained'));
    throw new Error('boom');
  });
  now = 5;
  await new Promise((resolve) => setTimeout(resolve, 20));
  now = 10;
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(ran, ['first', 'chained'], 'a task due now, added by a task, runs on the next tick');
  t.equal(errors.length, 1, 'a throwing task is reported, the wheel goes on');

  const timer = wheel.intervalTimer();
  let pings = 0;
  const id = timer.set(() => pings++, 10);
  now = 30;
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.ok(pings >= 1, 'the keepalive interval runs on the wheel');
  timer.clear(id);
  t.equal(wheel.size, 0, 'and clears');
});

t.test('full jitter: within [0, min(cap, base·2^n)), spread out', async (t) => {
  const policy = { baseMs: 100, capMs: 1000 };
  t.equal(fullJitter(0, policy, () => 0.999), 99);
  t.equal(fullJitter(3, policy, () => 0.5), 400);
  t.equal(fullJitter(10, policy, () => 0.999), 999, 'capped');
  t.equal(fullJitter(1e6, policy, () => 0.5), 500, 'huge attempt counts do not overflow');
  const draws = Array.from({ length: 1000 }, () => fullJitter(5, policy));
  t.ok(Math.min(...draws) < 100 && Math.max(...draws) > 900, 'a storm is spread across the window');
  t.ok(retryAfterJitter(2, () => 0) === 2000 && retryAfterJitter(2, () => 0.999) > 2900, 'Retry-After is honoured, then spread');
});

t.test('slots bound the work in flight', async (t) => {
  const slots = new Slots(2);
  let running = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 10 }, () => slots.run(async () => {
    peak = Math.max(peak, ++running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running--;
  })));
  t.equal(peak, 2);
});

t.test('link failures: CONNACK 5 and a revoked-certificate alert stop the device; CONNACK 3 and socket faults are retried', async (t) => {
  const err = (code: unknown) => Object.assign(new Error('x'), { code });
  t.same(classifyLinkError(err(5)), { code: 'SIM_DEVICE_REVOKED', terminal: true });
  t.same(classifyLinkError(err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED')), { code: 'SIM_DEVICE_REVOKED', terminal: true });
  t.same(classifyLinkError(err(2)), { code: 'SIM_CONNECT_REFUSED', terminal: true });
  t.same(classifyLinkError(err(3)), { code: 'SIM_BROKER_BUSY', terminal: false }, 'CONNACK 3 (server unavailable) is retried');
  t.same(classifyLinkError(err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED')), { code: 'SIM_CERT_EXPIRED', terminal: true });
  t.same(classifyLinkError(err('ECONNREFUSED')), { code: 'SIM_CONNECT_FAILED', terminal: false });
  t.same(classifyLinkError(err('ECONNRESET')), { code: 'SIM_CONNECT_FAILED', terminal: false });
});

t.test('readings and latencies', async (t) => {
  const payload = readingPayload(0.3, 42);
  t.match(JSON.parse(payload.toString()), { temperature: Number, battery: Number, seq: 42 });
  t.ok(payload.length < 64, 'a small JSON reading');
  t.equal(readingSeq(payload), 42);
  t.equal(readingSeq(Buffer.from('nope')), undefined);
  const l = new Latencies();
  for (let i = 1; i <= 100; i++) l.add(i);
  t.same(l.summary(), { n: 100, p50: 51, p90: 91, p99: 100, max: 100 });
  t.same(new Latencies().summary(), { n: 0, p50: 0, p90: 0, p99: 0, max: 0 });
});

t.test('fleet options are checked', async (t) => {
  const trust = trustOf(createFleetCa({ name: 'opts' }));
  const base = { brokerUrl: 'mqtts://127.0.0.1:8883', trust, devices: [{ id: 'd1', token: 'x' }], est: { url: 'https://127.0.0.1:1', ca: [] } };
  t.equal(resolveFleetOptions(base).rate, 1, 'defaults');
  t.ok(Object.isFrozen(resolveFleetOptions(base)), 'frozen');
  const refusals: Array<[string, object]> = [
    ['http broker', { brokerUrl: 'mqtt://127.0.0.1:1883' }],
    ['no devices', { devices: [] }],
    ['duplicate ids', { devices: [{ id: 'd1', token: 'x' }, { id: 'd1', token: 'y' }] }],
    ['bad id', { devices: [{ id: 'a/b', token: 'x' }] }],
    ['enrolling without EST', { est: undefined }],
    ['rate 0', { rate: 0 }],
    ['qos 2', { qos: 2 }],
    ['keepalive 0', { keepaliveSeconds: 0 }],
    ['cap below base', { backoff: { baseMs: 1000, capMs: 10 } }],
  ];
  for (const [what, extra] of refusals) {
    t.throws(() => resolveFleetOptions({ ...base, ...extra } as never), { code: 'CONFIG_INVALID' }, what);
  }
});
