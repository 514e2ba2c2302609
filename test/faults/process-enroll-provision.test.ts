import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../helpers/redis.js';
import { exited, runCli, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from './store-services-process.js';
import { enrollRig, killed, proveWorking, urlOf } from './enroll-process.js';

// `fleetkey provision` resumes after a crash of the provisioner (SIGKILLed once two bundles are
// recorded, their answers never sent) and after a crash of the CLI itself (SIGKILLed mid-batch);
// a registration whose answer was lost is resumed too. The rerun finishes every device, and every
// bundle written holds a certificate the store recorded that works.


t.test('provision: rerun after a provisioner SIGKILL and a CLI SIGKILL finishes every device; lost bundles are fetched again', async (t) => {
  const rig = await enrollRig(t);
  const root = tempDir(t);
  const out = join(root, 'out');
  const ids = Array.from({ length: 10 }, (_, i) => `line-${i}`);
  writeFileSync(join(root, 'ids.txt'), `${[...ids, 'lostreg'].join('\n')}\n`);
  const port = await freePort();
  const provision = ['provision', '--ids', join(root, 'ids.txt'), '--out', out, '--dir', rig.dir, '--concurrency', '2', '--json'];
  const noRetry = { ...process.env, FLEETKEY_RETRY_SECONDS: '0' };

  // A registration whose answer this batch never saw: the device exists, its token was never saved.
  mkdirSync(join(out, '.pending'), { recursive: true, mode: 0o700 });
  await rig.register(['lostreg']);
  writeFileSync(join(out, '.pending', 'lostreg.registering'), '');

  // 1. The provisioner dies once two bundles are recorded: their answers are lost.
  const armed = rig.provisioner('after-record:2', port);
  await urlOf(armed);
  const first = await runCli(t, provision, noRetry);
  t.ok(await killed(armed), 'the provisioner was SIGKILLed after recording two bundles');
  t.equal(first.code, 2, 'the first run reports failures');
  const firstResult = JSON.parse(first.stdout) as { written: string[]; failed: { code: string }[] };
  t.equal(firstResult.written.length, 0, 'no bundle written');
  t.ok(firstResult.failed.every((f) => f.code === 'API_UNREACHABLE'), 'every failure: API_UNREACHABLE');
  const activeAfterCrash = (await rig.store.listDevices({ status: 'active' })).devices.map((d) => d.id);
  t.equal(activeAfterCrash.length, 2, '2 devices active with no bundle written (lost answers)');

  // 2. Restarted on the same port; the CLI is SIGKILLed mid-batch.
  const restarted = rig.provisioner(undefined, port);
  const url = await urlOf(restarted);
  const cli = spawnTs(t, 'cli/main.ts', [...provision.slice(0, -3), '--concurrency', '1', '--json'], noRetry);
  await until(() => existsSync(out) && readdirSync(out).filter((n) => !n.startsWith('.')).length >= 4, 60_000, 'four bundle directories');
  cli.kill('SIGKILL');
  t.equal((await exited(cli)).signal, 'SIGKILL', 'the CLI was SIGKILLed mid-batch');
  const partial = readdirSync(out).filter((n) => !n.startsWith('.')).length;
  t.ok(partial < ids.length + 1, `it had written ${partial} of ${ids.length + 1}`);

  // 3. The rerun finishes every device.
  const rerun = await runCli(t, provision, noRetry);
  t.equal(rerun.code, 0, `the rerun succeeds: ${rerun.stdout}${rerun.stderr}`);
  const all = [...ids, 'lostreg'];
  t.same(readdirSync(out).filter((n) => !n.startsWith('.')).sort(), all.sort(), 'a bundle directory for every device');
  t.same(readdirSync(join(out, '.pending')), [], 'no token or marker left pending');

  let recorded = 0;
  let successors = 0;
  let working = 0;
  for (const id of all) {
    const cert = new X509Certificate(readFileSync(join(out, id, 'cert.pem')));
    const record = await rig.store.getCertificate(cert.serialNumber.toUpperCase());
    if (record?.subject === id) recorded += 1;
    if (activeAfterCrash.includes(id) && record?.supersedes !== undefined) successors += 1;
    const got = { der: cert.raw, serial: cert.serialNumber.toUpperCase(), keyPem: readFileSync(join(out, id, 'key.pem'), 'utf8') };
    if (await proveWorking(url, rig.ca, rig, id, got)) working += 1;
  }
  t.equal(recorded, all.length, `${all.length} of ${all.length} bundles hold a certificate the store recorded for that device`);
  t.equal(successors, 2, 'the 2 lost bundles were fetched again: pending successors of what was recorded');
  t.equal(working, all.length, `${all.length} of ${all.length} bundles work (re-enrollment over mTLS; then the certificate in use)`);
  t.equal((await rig.store.countDevices()).active, all.length, 'every device active');
});
