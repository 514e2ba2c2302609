import t from 'tap';
import type { DemoReport } from '../../cli/demo/report.js';
import { exited, spawnTs } from '../helpers/spawn-ts.js';

t.test('fleetkey demo --json: every step holds, nothing lost or undecryptable, the revoked device cut off and refused', async (t) => {
  const child = spawnTs(t, 'cli/main.ts', ['demo', '--json', '--devices', '10']);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const { code } = await exited(child);
  const report = JSON.parse(stdout) as DemoReport;
  const failed = report.steps.filter((s) => !s.ok);
  t.same(failed, [], `no step failed${stderr ? `\n${stderr.slice(-2000)}` : ''}`);
  t.equal(code, 0, 'exit code 0');
  t.equal(report.ok, true, 'the report says every step held');
  t.equal(report.devices, 10);
  t.ok(report.steps.length >= 12, `${report.steps.length} steps`);
  t.ok(report.figures.sent > 0 && report.figures.opened > 0, `${report.figures.sent} sent, ${report.figures.opened} opened`);
  t.equal(report.figures.undecryptable, 0, 'no message undecryptable');
  t.equal(report.figures.lost, 0, 'no message lost');
  t.equal(report.figures.rotationMs.length, 3, 'two rotations, and the one after the revocation');
  t.ok(report.revoked, 'a device was revoked');
  t.ok(report.revoked!.cutMs !== null && report.revoked!.cutMs <= 1000, `its session was cut after ${report.revoked!.cutMs} ms`);
  t.equal(report.revoked!.reenrollRefused, true, 'its re-enrollment was refused');
  t.equal(report.revoked!.keyedInNextEpoch, false, 'it holds no key of the next epoch');
});

t.test('fleetkey demo refuses a fleet too small to revoke one device from', async (t) => {
  const child = spawnTs(t, 'cli/main.ts', ['demo', '--json', '--devices', '1']);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const { code } = await exited(child);
  t.equal(code, 2, 'exit code 2 for bad input');
  t.match(JSON.parse(stdout), { error: { code: 'CLI_INPUT_INVALID' } });
});
