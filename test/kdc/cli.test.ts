import t from 'tap';
import { join } from 'node:path';
import { deviceTopics } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { exited, onLine, runCli as run, spawnTs } from '../helpers/spawn-ts.js';
import { startProvisioner } from '../provisioner/fixture.js';
import { writeDataDir } from './data-dir.js';
import { enrolledDevice, rig, SimDevice, startKdc } from './kit.js';

t.test('fleetkey tail prints one line per message; fleetkey rotate --wait follows a rotation to its last ack', async (t) => {
  const px = await startProvisioner(t);
  const { fleet } = px;
  const r = rig(fleet, await startBroker(t, fleet));
  const consumerFiles = fleet.service('consumer', 'tail');
  const dir = writeDataDir(fleet, { kdc: r.kdcFiles, consumer: consumerFiles }, r.kek);
  await startKdc(t, r, { consumerCertificates: [consumerFiles.cert], switchAfterSeconds: 1 });
  const devices = await Promise.all(Array.from({ length: 4 }, async (_, i) => SimDevice.connect(t, r, `cli-${i}`, await enrolledDevice(fleet, `cli-${i}`))));
  await Promise.all(devices.map((d) => d.next()));

  const tail = spawnTs(t, 'cli/main.ts', ['tail', '--broker', r.broker.url, '--dir', dir, '--count', '4']);
  const lines: string[] = [];
  onLine(tail, (line) => lines.push(line));
  await new Promise<void>((resolve) => tail.stderr.on('data', (c: Buffer) => c.toString().includes('tail: consumer-tail') && resolve()));
  devices.forEach((d, i) => d.seal(i === 3 ? '\u0001binary' : `hello ${i}`));
  t.equal((await exited(tail)).code, 0, 'exits after --count messages');
  t.equal(lines.length, 4);
  t.match(lines.sort(), [
    /^\S+Z cli-0 e1\/g1 #0 hello 0$/, /^\S+Z cli-1 e1\/g1 #0 hello 1$/, /^\S+Z cli-2 e1\/g1 #0 hello 2$/, /^\S+Z cli-3 e1\/g1 #0 0x0162696e617279$/,
  ]);

  const token = await px.apiToken('operator');
  const api = ['--url', px.url, '--token', token, '--cacert', join(dir, 'ca/chain.pem'), '--dir', dir, '--json'];
  const done = await run(t, ['rotate', '--wait', '--switch-after', '1', ...api]);
  t.equal(done.code, 0, done.stderr);
  t.match(JSON.parse(done.stdout), { epoch: 2, granted: 4, acked: 4, complete: true, unacked: [] });

  // A device that stops listening on its rekey topic never acks: --wait ends listing it, non-zero.
  await devices[0]!.client.unsubscribeAsync(deviceTopics.rekey('cli-0'));
  const partial = await run(t, ['rotate', '--wait', '--timeout', '3', ...api]);
  t.equal(partial.code, 1, 'non-zero exit when a device did not ack');
  t.match(JSON.parse(partial.stdout), { epoch: 3, granted: 4, acked: 3, complete: false, unacked: ['cli-0'] });
  const human = await run(t, ['rotate', '--wait', '--timeout', '3', ...api.filter((a) => a !== '--json')]);
  t.equal(human.code, 1);
  t.match(human.stdout, /epoch 4: 3\/4 devices acknowledged[\s\S]*not acknowledged:\n {2}cli-0/);
  t.match(human.stderr, /ROTATION_INCOMPLETE/);

  const stats = await run(t, ['tail', '--broker', r.broker.url, '--dir', dir, '--json', '--seconds', '1', '--stats-every', '0']);
  t.equal(stats.code, 0);
  const last = JSON.parse(stats.stdout.trim().split('\n').pop()!);
  t.match(last, { opened: 0, undecryptable: 0 });
  t.same(last.epochs, [2, 3, 4], 'the current epoch and the two before it, still in grace and retained');
});
