import t from 'tap';
import { deviceTopics, parseTopic, serviceTopics } from '../../protocol/topics.js';
import { bindClientId } from '../../protocol/principal.js';

t.test('topics are built and parsed by one module', async (t) => {
  t.equal(deviceTopics.telemetry('d1'), 'devices/d1/telemetry');
  t.same(parseTopic(deviceTopics.telemetry('d1')), { scope: 'device', owner: 'd1', kind: 'telemetry' });
  t.same(parseTopic(deviceTopics.rekey('d1')), { scope: 'device', owner: 'd1', kind: 'rekey' });
  t.same(parseTopic(deviceTopics.rekeyRequest('d1')), { scope: 'device', owner: 'd1', kind: 'rekey-request' });
  t.same(parseTopic(deviceTopics.rekeyAck('d1')), { scope: 'device', owner: 'd1', kind: 'rekey-ack' });
  t.same(parseTopic(deviceTopics.command('d1', 'reboot')), { scope: 'device', owner: 'd1', kind: 'command' });
  t.same(parseTopic(serviceTopics.rekey('consumer-a')), { scope: 'service', owner: 'consumer-a', kind: 'rekey' });
  t.same(parseTopic(serviceTopics.rekeyRequest('consumer-a')), { scope: 'service', owner: 'consumer-a', kind: 'rekey-request' });
  for (const bad of ['devices//telemetry', 'devices/+/telemetry', 'devices/d1', 'devices/d1/cmd', 'services/c/telemetry', 'other/d1/telemetry', 'devices/d1/rekey/x']) {
    t.equal(parseTopic(bad), undefined, `fail/${bad}`);
  }
});

t.test('client ids are bound to the certificate identity', async (t) => {
  t.ok(bindClientId({ kind: 'device', id: 'd1' }, 'd1').ok);
  const mismatch = bindClientId({ kind: 'device', id: 'd1' }, 'd2');
  t.equal(mismatch.ok, false);
  t.ok(bindClientId({ kind: 'service', role: 'kdc' }, 'kdc-1').ok);
  t.ok(bindClientId({ kind: 'service', role: 'consumer' }, 'consumer-dash').ok);
  for (const bad of ['kdc', 'kdc-', 'consumer-1', 'kdc-a/b', 'kdc-+']) {
    t.equal(bindClientId({ kind: 'service', role: 'kdc' }, bad).ok, false, `fail/${bad}`);
  }
});
