import t from 'tap';
import { devicesOn, initDir, openedFor, rotate, runSim, skewed, startConsumer, startUp, tokensFiles } from './clock-skew.js';
import { until } from './store-services-process.js';

// Devices whose clocks are off (`fleetkey sim` under libfaketime) against a stack at the right time
// (`fleetkey up` on a fleet CA made 20 minutes earlier, as any fleet's was). Within the clock leeway
// (5 min, certs/clock.ts) a device 2 minutes behind or ahead enrolls, connects, gets its key, follows
// a rotation, and every message it sent is opened. 10 minutes off, it refuses what it cannot use with
// a code, its report names its own clock, and nothing it sent is opened.

const N = 3;
const simArgs = (up: { mqtts: string; dir: string }, tokens: string, extra: string[]) => [
  '--devices', String(N), '--tokens', tokens, '--rate', '2', '--broker', up.mqtts, '--dir', up.dir, ...extra,
];

t.test('devices 2 minutes off: everything works; 10 minutes off: refused with codes that name the clock', async (t) => {
  const up = await startUp(t, { dir: await initDir(t, skewed('-20m')) });
  const { consumer, opened } = await startConsumer(t, up.dir, up.mqtts);

  const [behind, ahead, farBehind, farAhead] = await tokensFiles(t, up.dir, ['m2-', 'p2-', 'm10-', 'p10-'], N);
  const within = [
    { prefix: 'm2-', run: runSim(t, simArgs(up, behind!, ['--duration', '300', '--ready-timeout', '40']), skewed('-2m')) },
    { prefix: 'p2-', run: runSim(t, simArgs(up, ahead!, ['--duration', '300', '--ready-timeout', '40']), skewed('+2m')) },
  ];
  const beyond = {
    behind: runSim(t, simArgs(up, farBehind!, ['--duration', '1', '--ready-timeout', '10']), skewed('-10m')),
    ahead: runSim(t, simArgs(up, farAhead!, ['--duration', '1', '--ready-timeout', '10']), skewed('+10m')),
  };

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

  const behindRun = await beyond.behind.done;
  t.equal(behindRun.code, 1, 'a device 10 minutes behind: sim exits 1');
  t.match(behindRun.report, { stages: { keyed: 0 }, grants: { accepted: 0 }, messages: { sealed: 0 } }, '10 min behind: no key, nothing sealed');
  t.ok((behindRun.report.grants.refused.GRANT_NOT_YET_VALID ?? 0) >= N, `10 min behind: grants from its future refused, GRANT_NOT_YET_VALID (${JSON.stringify(behindRun.report.grants.refused)})`);
  t.ok((behindRun.report.errors.SIM_CLOCK_SKEW ?? 0) >= N, '10 min behind: SIM_CLOCK_SKEW counted');
  t.match(behindRun.report.clock.notes.join('\n'), /this device's clock is (59\d|6\d\d) s behind the provisioner's \(HTTP Date\)/, 'its report names its clock against the provisioner\'s');
  t.match(behindRun.report.clock.notes.join('\n'), /this device's clock is (59\d|6\d\d) s behind the KDC's \(grant iat\)/, 'and against the KDC\'s');

  const aheadRun = await beyond.ahead.done;
  t.equal(aheadRun.code, 1, 'a device 10 minutes ahead: sim exits 1');
  t.match(aheadRun.report, { stages: { keyed: 0 }, grants: { accepted: 0 }, messages: { sealed: 0 } }, '10 min ahead: no key, nothing sealed');
  t.ok((aheadRun.report.grants.refused.GRANT_EXPIRED ?? 0) >= N, `10 min ahead: grants refused as expired, GRANT_EXPIRED (${JSON.stringify(aheadRun.report.grants.refused)})`);
  t.match(aheadRun.report.clock.notes.join('\n'), /this device's clock is (59\d|6\d\d) s ahead of the KDC's \(grant iat\)/, 'its report names its clock');
  t.equal(openedFor(opened, 'm10-') + openedFor(opened, 'p10-'), 0, 'nothing of theirs opened');
});
