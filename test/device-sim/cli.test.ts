import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import type { SimReport } from '../../device-sim/index.js';
import { exited, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { simStack } from './stack.js';

/** Runs `fleetkey sim …` in a child against the in-process stack; its exit code and JSON report. */
async function runSim(t: Test, args: string[]): Promise<{ code: number | null; report: SimReport; stderr: string }> {
  const child = spawnTs(t, 'cli/main.ts', ['sim', '--json', '--no-progress', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const { code } = await exited(child);
  return { code, report: JSON.parse(stdout) as SimReport, stderr };
}

t.test('fleetkey sim --register: enrolls, connects, keys and sends; JSON report; exit 0', async (t) => {
  const stack = await simStack(t);
  const factory = await stack.fx.apiToken('factory');
  const { code, report, stderr } = await runSim(t, [
    '--devices', '6', '--rate', '5', '--duration', '2', '--register', '--token', factory, '--prefix', 'cli-',
    '--url', stack.fx.url, '--cacert', stack.fx.fleet.caFile, '--broker', stack.broker.url, '--dir', tempDir(t),
  ]);
  t.equal(code, 0, `exit 0 ${stderr}`);
  t.match(report, {
    devices: 6, rate: 5, qos: 1,
    stages: { enrolled: 6, connected: 6, keyed: 6, failed: 0 },
    grants: { accepted: 6 },
    failed: {},
    latencyMs: { enroll: { n: 6 }, connect: { n: 6 }, firstKey: { n: 6 } },
    ramp: { devicesPerSecond: Number },
  }, 'counts per stage, latencies');
  t.ok(report.messages.sent >= 6 * 5 * 2 * 0.7, `about 60 messages sent in 2 s (${report.messages.sent})`);
  t.equal(report.messages.sent, report.messages.sealed, 'every sealed message acknowledged');
  t.ok(report.memory.rssPerDeviceKb > 0, 'memory per device measured');
  t.same((await stack.fx.fleet.store.listDevices({ status: 'active' })).devices.map((d) => d.id).sort(), ['cli-0001', 'cli-0002', 'cli-0003', 'cli-0004', 'cli-0005', 'cli-0006'], 'registered and enrolled');
});

t.test('fleetkey sim --tokens with a used or wrong token: the device ends in error, exit 1', async (t) => {
  const stack = await simStack(t);
  const [good] = await stack.register(['tok-1']);
  await stack.register(['tok-2']);
  const file = join(tempDir(t), 'tokens.csv');
  writeFileSync(file, `id,token\n${good!.id},${good!.token}\ntok-2,not-the-token\n`);
  const { code, report } = await runSim(t, [
    '--devices', '2', '--duration', '1', '--tokens', file,
    '--url', stack.fx.url, '--cacert', stack.fx.fleet.caFile, '--broker', stack.broker.url, '--dir', tempDir(t),
  ]);
  t.equal(code, 1, 'non-zero exit: a device ended in error');
  t.same(report.failed, { ENROLLMENT_REFUSED: 1 }, 'the refused device, by the provisioner\'s code');
  t.match(report.stages, { keyed: 1, failed: 1 });
});

t.test('fleetkey sim refuses unusable input before starting', async (t) => {
  const { code, report } = await runSim(t, ['--devices', '2', '--bundles', tempDir(t), '--cacert', '/nonexistent', '--dir', tempDir(t)]);
  t.equal(code, 2, 'exit 2 for bad input');
  t.match(report, { error: { code: 'CLI_INPUT_INVALID' } });
});
