import t from 'tap';
import { devicesOn, openedFor, rotate, runSim, skewed, startConsumer, startUp, tokensFiles, type UpProcess } from './clock-skew.js';
import { until } from './store-services-process.js';

// The services' clock off (`fleetkey up` under libfaketime, its fleet made at that time), devices and
// the consumer at the right time. 2 minutes either way is within the clock leeway (5 min, the
// certificates' backdating): devices enroll, connect, get keys, follow a rotation, and every message
// is opened. (10 minutes ahead: process-clock-skew-service-far.test.ts.)

const N = 3;

async function fleetOn(t: Parameters<typeof startUp>[0], up: UpProcess, prefix: string, extra: string[], cliEnv?: NodeJS.ProcessEnv) {
  const [tokens] = await tokensFiles(t, up.dir, [prefix], N, cliEnv);
  return runSim(t, ['--devices', String(N), '--tokens', tokens!, '--rate', '2', '--broker', up.mqtts, '--dir', up.dir, ...extra]);
}

t.test('services 2 minutes behind or ahead: enrolled, connected, keyed, rotation followed, every message opened', async (t) => {
  const ups = await Promise.all(['-2m', '+2m'].map(async (offset) => {
    const up = await startUp(t, { env: skewed(offset) });
    const { consumer, opened } = await startConsumer(t, up.dir, up.mqtts);
    return { offset, up, consumer, opened, sim: await fleetOn(t, up, 's-', ['--duration', '300', '--ready-timeout', '40']) };
  }));
  await until(() => ups.every((u) => u.sim.keyed() === N), 40_000, 'every device to hold a key');
  const [behind, ahead] = ups as [(typeof ups)[0], (typeof ups)[0]];
  const [newBehind, newAhead] = await Promise.all([rotate(behind.up, N), rotate(ahead.up, N)]);
  // Services behind: the new keys' nbf has passed by the devices' clock, they switch at once. Services
  // ahead: the devices switch 2 minutes after the KDC's time, and the consumer still opens the old key.
  await until(() => devicesOn(behind.opened, 's-', newBehind) === N, 20_000, 'devices of the services 2 minutes behind to send under the new epoch');
  const mark = openedFor(ahead.opened, 's-');
  await until(() => openedFor(ahead.opened, 's-') >= mark + 2 * N, 20_000, 'devices of the services 2 minutes ahead to go on being opened');
  t.equal(devicesOn(ahead.opened, 's-', newAhead), 0, 'services 2 minutes ahead: the devices still use the old key');
  for (const { sim } of ups) sim.stop();

  for (const { offset, sim, consumer, opened } of ups) {
    const { code, report } = await sim.done;
    t.equal(code, 0, `services ${offset}: sim exits 0`);
    t.match(report.stages, { enrolled: N, connected: N, keyed: N, failed: 0 }, `services ${offset}: enrolled, connected, keyed`);
    t.equal(report.grants.rotationsAcked, N, `services ${offset}: every device acked the rotation`);
    t.same(report.grants.refused, {}, `services ${offset}: no grant refused`);
    t.equal(report.clock.beyondLeeway, 0, `services ${offset}: within the leeway (worst ${report.clock.worstOffsetSeconds} s, ${report.clock.worstSource})`);
    t.ok(report.messages.sent > 0 && report.messages.sent === report.messages.sealed, `services ${offset}: ${report.messages.sent} sent`);
    await until(() => openedFor(opened, 's-') >= report.messages.sent, 20_000, `services ${offset}: the consumer to open every message`);
    t.equal(openedFor(opened, 's-'), report.messages.sent, `services ${offset}: sent = opened (${report.messages.sent})`);
    t.match(consumer.stats(), { undecryptable: 0, stale: 0, replay: 0 }, `services ${offset}: the consumer refused nothing`);
  }
});
