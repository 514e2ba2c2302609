import { once } from 'node:events';
import t from 'tap';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { mosquittoArgs, runMosquitto, startMosquittoSub } from '../helpers/mosquitto.js';

// Independent clients (Debian mosquitto-clients) against our broker, with certificates from certs/.

t.test('mosquitto clients: own topics work, everything else is refused', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev1 = fleet.device('dev1');
  const consumer = fleet.service('consumer', 'cli');
  const as = (files: typeof dev1 | undefined, id: string) => mosquittoArgs(fleet, b.port, files, id);

  const sub = startMosquittoSub(t, [...as(consumer, 'consumer-cli'), '-t', 'devices/+/telemetry', '-q', '1', '-v']);
  await sub.ready;
  const ok = await runMosquitto('mosquitto_pub', [...as(dev1, 'dev1'), '-t', 'devices/dev1/telemetry', '-m', 'reading-1', '-q', '1']);
  t.equal(ok.code, 0, `own telemetry published (${ok.stderr.trim()})`);
  while (sub.lines.length === 0) await new Promise((r) => setTimeout(r, 50));
  t.same(sub.lines, ['devices/dev1/telemetry reading-1'], 'the consumer received it');

  const cases: [string, string[]][] = [
    ['another device\'s topic', ['mosquitto_pub', ...as(dev1, 'dev1'), '-t', 'devices/dev2/telemetry', '-m', 'x', '-q', '1']],
    ['a retained publish to its rekey topic', ['mosquitto_pub', ...as(dev1, 'dev1'), '-t', 'devices/dev1/rekey', '-m', 'x', '-q', '1', '-r']],
    ['a will on another device\'s topic', ['mosquitto_pub', ...as(dev1, 'dev1'), '-t', 'devices/dev1/telemetry', '-m', 'x', '-q', '1', '--will-topic', 'devices/dev2/telemetry', '--will-payload', 'bye']],
    ['subscribing to #', ['mosquitto_sub', ...as(dev1, 'dev1'), '-t', '#', '-W', '3']],
    ['subscribing to $SYS/#', ['mosquitto_sub', ...as(dev1, 'dev1'), '-t', '$SYS/#', '-W', '3']],
    ['subscribing to another device\'s rekey topic', ['mosquitto_sub', ...as(dev1, 'dev1'), '-t', 'devices/dev2/rekey', '-W', '3']],
    ['a client id that is not the certificate\'s', ['mosquitto_pub', ...as(dev1, 'dev2'), '-t', 'devices/dev2/telemetry', '-m', 'x', '-q', '1']],
    ['no client certificate', ['mosquitto_pub', ...as(undefined, 'dev1'), '-t', 'devices/dev1/telemetry', '-m', 'x', '-q', '1']],
    ['an expired certificate', ['mosquitto_pub', ...as(fleet.device('dev1', { lifetimeDays: 1, now: new Date(Date.now() - 3 * 86_400_000) }), 'dev1'), '-t', 'devices/dev1/telemetry', '-m', 'x', '-q', '1']],
  ];
  for (const [label, [tool, ...args]] of cases) {
    const result = await runMosquitto(tool as 'mosquitto_pub', args);
    const said = `${result.stderr}${result.stdout}`.trim().split('\n')[0] ?? '';
    // mosquitto_sub 2.0 exits 0 after a SUBACK that refuses everything, and says so.
    const refused = result.code !== 0 || /subscription requests were denied/.test(said);
    t.ok(refused, `fail/${label}: exit ${result.code} ${said}`);
  }
  await new Promise((r) => setTimeout(r, 200));
  t.same(sub.lines, ['devices/dev1/telemetry reading-1'], 'nothing refused reached the consumer');
  sub.child.kill('SIGTERM');
  await once(sub.child, 'exit');
});
