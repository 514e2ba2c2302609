import { join } from 'node:path';
import t from 'tap';
import { loadFleetCa } from '../../certs/ca-files.js';
import { readCaPems } from '../../cli/data-dir.js';
import { createFleet, fleetTrust, makeBundle, recordBundles, type SimEvent } from '../../device-sim/index.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { startKdcProcess } from '../kdc/kdc-process.js';
import { startService, until } from './store-services-process.js';

// Issue 18, "a consumer SIGKILLed and restarted with a persistent session resumes with every QoS 1
// message opened exactly once": `fleetkey tail --state <file>` (a child process) is SIGKILLed while
// devices publish QoS 1 telemetry and started again; the broker kept its session meanwhile.

const DEVICES = 20;

t.test('tail --state SIGKILLed mid-stream and restarted: sent = opened, 0 lost, none opened twice', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  t.equal((await exited(spawnTs(t, 'cli/main.ts', ['init', '--dir', dir, '--dns', 'localhost', '--ip', '127.0.0.1']))).code, 0, 'fleetkey init');
  const broker = startService(t, ['broker', '--port', '0', '--metrics-port', '-1', '--dir', dir, '--store', redis.url, '--log-level', 'warn']);
  const url = String((await broker.started).mqtts);
  const store = await openStore(redis.url, { prefix: 'fleetkey:', identity: join(dir, IDENTITY_FILE) });
  t.teardown(() => store.close());
  await startKdcProcess(t, ['--dir', dir, '--store', redis.url, '--broker', url]);

  const opened: string[] = [];
  const stateFile = join(tempDir(t), 'tail.state');
  const tail = async () => {
    const child = spawnTs(t, 'cli/main.ts', ['tail', '--dir', dir, '--broker', url, '--state', stateFile, '--log-level', 'warn']);
    onLine(child, (line) => {
      const m = /^\S+ (\S+) e(\d+)\/g(\d+) #(\d+) /.exec(line);
      if (m) opened.push(`${m[1]}/${m[2]}/${m[3]}/${m[4]}`);
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes('tail: ')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`tail exited ${code}: ${stderr.slice(-3000)}`)));
    });
    return { child, stderr: () => stderr };
  };
  const { child: first } = await tail();

  const trust = fleetTrust(readCaPems(dir).join(''));
  const fleetCa = loadFleetCa(join(dir, 'ca'));
  const bundles = Array.from({ length: DEVICES }, (_, i) => makeBundle(fleetCa, `pc-${i}`, { trust }));
  await recordBundles(store, bundles);
  const sealed: string[] = [];
  const observe = (e: SimEvent) => e.type === 'sealed' && sealed.push(`${e.deviceId}/${e.epoch}/${e.grant}/${e.seq}`);
  const sim = createFleet({ brokerUrl: url, trust, devices: bundles.map(({ id, identity }) => ({ id, identity })), rate: 2, renew: false, backoff: { baseMs: 200, capMs: 2000 }, observe });
  t.teardown(() => sim.stop(0));
  sim.start();
  t.ok(await sim.ready(40_000), `${DEVICES} devices connected and keyed`);

  await until(() => opened.length >= 100, 30_000, 'the consumer to open 100 messages');
  first.kill('SIGKILL');
  await exited(first);
  const atKill = { opened: opened.length, sealed: sealed.length };
  await until(() => sealed.length >= atKill.sealed + 100, 30_000, '100 more messages sent while the consumer is down');
  const second = await tail();
  await until(() => opened.length >= atKill.opened + 100, 30_000, 'the restarted consumer opening');
  await sim.stop(5000);
  const sent = new Set(sealed);
  // The restarted consumer works through its queue; on a loaded machine that takes a while.
  await until(() => new Set(opened).size >= sent.size, 60_000, `every sent message opened (${sent.size})`).catch(() => undefined);
  second.child.kill('SIGTERM');
  t.equal((await exited(second.child)).code, 0, 'the restarted tail exits 0 on SIGTERM');
  const stats = JSON.parse(/tail: stats (.*)/.exec(second.stderr())?.[1] ?? '{}') as Record<string, number>;
  const unique = new Set(opened);
  const lost = [...sent].filter((k) => !unique.has(k));
  t.comment(`killed with ${atKill.opened} opened / ${atKill.sealed} sent; ${sent.size} sent, ${unique.size} opened, ${opened.length - unique.size} opened twice, ${lost.length} lost; restarted tail: ${JSON.stringify(stats)}`);
  t.equal(lost.length, 0, 'lost = 0');
  t.equal(unique.size, sent.size, 'sent = opened');
  t.equal(opened.length - unique.size, 0, 'no message opened twice across the restart');
  t.equal(stats.undecryptable, 0, 'undecryptable = 0 (the restarted tail)');
  t.equal(stats.held, 0, 'nothing left held');
  t.ok(Number.isSafeInteger(stats.duplicate), `redeliveries counted as duplicates, not opened: ${stats.duplicate}`);
});
