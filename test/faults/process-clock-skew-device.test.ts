import t from 'tap';
import { devicesOn, initDir, openedFor, rotate, runSim, skewed, startConsumer, startUp, tokensFiles } from './clock-skew.js';
import { until } from './store-services-process.js';

// Devices whose clocks are off (`fleetkey sim` under libfaketime) against a stack at the right time
// (`fleetkey up` on a fleet CA made 20 minutes earlier, as any fleet's was). Within the clock leeway
// (5 min, certs/clock.ts) a device 2 minutes behind or ahead enrolls, connects, gets its key, follows
// a rotation, and every message it sent is opened. (10 minutes off: process-clock-skew-device-far.test.ts.)

const N = 3;
const simArgs = (up: { mqtts: string; dir: string }, tokens: string, extra: string[]) => [
  '--devices', String(N), '--tokens', tokens, '--rate', '2', '--broker', up.mqtts, '--dir', up.dir, ...extra,
];

t.test('devices 2 minutes off either way: enrolled, connected, keyed, rotation followed, every message opened', async (t) => {
  const up = await startUp(t, { dir: await initDir(t, skewed('-20m')) });
  const { consumer, opened } = await startConsumer(t, up.dir, up.mqtts);

  const [behind, ahead] = await tokensFiles(t, up.dir, ['m2-', 'p2-'], N);
  const within = [
    { prefix: 'm2-', run: runSim(t, simArgs(up, behind!, ['--duration', '300', '--ready-timeout', '40']), skewed('-2m')) },
    { prefix: 'p2-', run: runSim(t, simArgs(up, ahead!, ['--duration', '300', '--ready-timeout', '40']), skewed('+2m')) },
  ];
  await until(() => within.every((w) => w.run.keyed() === N), 40_000, 'every device 2 minutes off to hold a key');
  const epoch = await rotate(up, 2 * N);
  // Ahead, a device switches as soon as it has the grant (its nbf has passed by its clock; the consumer
  // holds the new epoch first). Behind, it switches 2 minutes after the others, and until then the
  // consumer still opens its old key (graceSeconds, 300).
  await until(() => devicesOn(opened, 'p2-', epoch) === N, 20_000, 'the devices 2 minutes ahead to send under the new epoch');
  const mark = openedFor(opened, 'm2-');
  await until(() => openedFor(opened, 'm2-') >= mark + 2 * N, 20_000, 'the devices 2 minutes behind to go on being opened');
  t.equal(devicesOn(opened, 'm2-', epoch), 0, 'the devices 2 minutes behind still use the old key');
  for (const { run } of within) run.stop();

  for (const { prefix, run } of within) {
    const { code, report } = await run.done;
    t.equal(code, 0, `${prefix} sim exits 0`);
    t.match(report.stages, { enrolled: N, connected: N, keyed: N, failed: 0 }, `${prefix}: enrolled, connected, keyed`);
    t.equal(report.grants.rotationsAcked, N, `${prefix}: every device acked the rotation`);
    t.same(report.grants.refused, {}, `${prefix}: no grant refused`);
    t.equal(report.clock.beyondLeeway, 0, `${prefix}: no clock beyond the leeway (worst ${report.clock.worstOffsetSeconds} s)`);
    t.ok(Math.abs(report.clock.worstOffsetSeconds) >= 100, `${prefix}: the 2 minutes were seen (${report.clock.worstOffsetSeconds} s)`);
    t.ok(report.messages.sent > 0 && report.messages.sent === report.messages.sealed, `${prefix}: ${report.messages.sent} sent`);
    await until(() => openedFor(opened, prefix) >= report.messages.sent, 20_000, `${prefix}: the consumer to open every message`);
    t.equal(openedFor(opened, prefix), report.messages.sent, `${prefix}: sent = opened (${report.messages.sent})`);
  }
  t.match(consumer.stats(), { undecryptable: 0, stale: 0, replay: 0 }, 'the consumer refused nothing');

});
