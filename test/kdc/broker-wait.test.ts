import pino from 'pino';
import t from 'tap';
import { FleetkeyError } from '../../errors/index.js';
import { brokerNotReachedYet, brokerRetryDelay, untilBrokerAnswers } from '../../kdc/broker-wait.js';

const unavailable = (cause: Error) => new FleetkeyError('KDC_BROKER_UNAVAILABLE', `mqtts://x: ${cause.message}`, { cause });
const refused = (code: number) => Object.assign(new Error(`Connection refused: ${code}`), { code });

t.test('what a KDC waits for at start, and what ends its start', async (t) => {
  const cases: Array<[string, unknown, boolean]> = [
    ['ok/connack timeout (a paused broker)', unavailable(new Error('connack timeout')), true],
    ['ok/connection refused (no broker yet)', unavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true],
    ['ok/closed before CONNACK', unavailable(new Error('connection closed before CONNACK')), true],
    ['ok/CONNACK 3, server unavailable (an overloaded broker)', unavailable(refused(3)), true],
    ['fail/CONNACK 5, not authorized', unavailable(refused(5)), false],
    ['fail/CONNACK 2, identifier rejected', unavailable(refused(2)), false],
    ['fail/required subscriptions refused', unavailable(new Error('subscriptions refused: devices/+/rekey/request')), false],
    ['fail/another error', new FleetkeyError('CONFIG_INVALID', 'x'), false],
  ];
  for (const [name, err, waits] of cases) t.equal(brokerNotReachedYet(err), waits, name);
  t.equal(brokerRetryDelay(1, () => 0.5), 500, 'first wait 500 ms');
  t.equal(brokerRetryDelay(20, () => 0.5), 5000, 'capped at 5 s');
});

t.test('it tries again until the broker answers, with a broker-waiting and a broker-reached line', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  let attempts = 0;
  let retries = 0;
  const result = await untilBrokerAnswers(log, 'mqtts://x', async () => {
    if (++attempts < 3) throw unavailable(new Error('connack timeout'));
    return 'connected';
  }, () => retries++);
  t.equal(result, 'connected');
  t.equal(retries, 2, 'two failed attempts counted');
  t.same(lines.map((l) => l.event), ['broker-waiting', 'broker-reached'], 'one waiting line (the next comes after 30 s), one reached line');
  t.equal(lines[0]!.error, 'mqtts://x: connack timeout', 'the cause is in the waiting line');
  await t.rejects(untilBrokerAnswers(log, 'mqtts://x', async () => { throw unavailable(refused(5)); }), { code: 'KDC_BROKER_UNAVAILABLE' }, 'a refusal for good is thrown at once');
});
