import t from 'tap';
import { initDir, openedFor, runSim, skewed, startConsumer, startUp, tokensFiles } from './clock-skew.js';

// Devices whose clocks are 10 minutes off, beyond the clock leeway (5 min, certs/clock.ts), against a
// stack at the right time (`fleetkey up` on a fleet CA made 20 minutes earlier): behind, a device
// refuses the KDC's grants as issued in its future (GRANT_NOT_YET_VALID); ahead, as expired
// (GRANT_EXPIRED). Either way it holds no key, seals nothing, and its report names its own clock.
// (Within the leeway: process-clock-skew-device.test.ts.)

const N = 3;
const simArgs = (up: { mqtts: string; dir: string }, tokens: string, extra: string[]) => [
  '--devices', String(N), '--tokens', tokens, '--rate', '2', '--broker', up.mqtts, '--dir', up.dir, ...extra,
];

t.test('devices 10 minutes off either way: refused with codes that name the clock, nothing sealed or opened', async (t) => {
  const up = await startUp(t, { dir: await initDir(t, skewed('-20m')) });
  const { opened } = await startConsumer(t, up.dir, up.mqtts);
  const [farBehind, farAhead] = await tokensFiles(t, up.dir, ['m10-', 'p10-'], N);
  const beyond = {
    behind: runSim(t, simArgs(up, farBehind!, ['--duration', '1', '--ready-timeout', '10']), skewed('-10m')),
    ahead: runSim(t, simArgs(up, farAhead!, ['--duration', '1', '--ready-timeout', '10']), skewed('+10m')),
  };

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
