import t from 'tap';
import { mayPublish, maySubscribe } from '../../broker/acl.js';
import type { Principal } from '../../protocol/principal.js';

const dev1: Principal = { kind: 'device', id: 'dev1', clientId: 'dev1' };
const kdc: Principal = { kind: 'service', role: 'kdc', clientId: 'kdc-1' };
const consumer: Principal = { kind: 'service', role: 'consumer', clientId: 'consumer-dash' };
const operator: Principal = { kind: 'service', role: 'operator', clientId: 'operator-ops' };

type Case = [who: Principal, topic: string, expected: boolean, retain?: boolean];

const publishCases: Case[] = [
  [dev1, 'devices/dev1/telemetry', true],
  [dev1, 'devices/dev1/rekey/request', true],
  [dev1, 'devices/dev1/rekey/ack', true],
  [dev1, 'devices/dev1/rekey', false],
  [dev1, 'devices/dev10/telemetry', false],
  [dev1, 'devices/dev/telemetry', false],
  [dev1, 'devices/dev2/telemetry', false],
  [dev1, 'devices/dev1/telemetry/x', false],
  [dev1, 'devices/dev1/telemetry', true, true],
  [dev1, 'devices/dev1/rekey/ack', true, true],
  [dev1, '$SYS/broker/new/clients', false],
  [dev1, 'devices/dev1/cmd/reboot', false],
  [dev1, 'devices/+/telemetry', false],
  [dev1, 'devices/dev1/telemetry\u0000', false],
  [dev1, 'devices/dev1/telemetryx', false],
  [dev1, 'devices/dev1x/telemetry', false],
  [dev1, 'devices/dev1', false],
  [dev1, 'devices/dev1/', false],
  [dev1, '/devices/dev1/telemetry', false],
  [dev1, 'devicesX/dev1/telemetry', false],
  [dev1, 'devices//dev1/telemetry', false],
  [dev1, '', false],
  [kdc, 'devices/dev1/rekey', true],
  [kdc, 'devices/dev1/rekey', false, true],
  [kdc, 'services/consumer-dash/rekey', true],
  [kdc, 'devices/dev1/telemetry', false],
  [kdc, 'devices/dev1/rekey/extra', false],
  [kdc, 'devices/+/rekey', false],
  [kdc, 'devices/#', false],
  [kdc, 'services/kdc-1/rekey', true],
  [consumer, 'services/consumer-dash/rekey/request', true],
  [consumer, 'services/consumer-other/rekey/request', false],
  [consumer, 'services/consumer-dash/rekey', false],
  [consumer, 'devices/dev1/telemetry', false],
  [operator, 'devices/dev1/cmd/reboot', true],
  [operator, 'devices/dev1/cmd/a/b', true],
  [operator, 'devices/dev1/rekey', false],
];

const subscribeCases: Case[] = [
  [dev1, 'devices/dev1/rekey', true],
  [dev1, 'devices/dev1/cmd/#', true],
  [dev1, 'devices/dev1/cmd/+', true],
  [dev1, 'devices/dev1/cmd/reboot', true],
  [dev1, 'devices/dev1/#', false],
  [dev1, 'devices/+/rekey', false],
  [dev1, 'devices/dev2/rekey', false],
  [dev1, 'devices/dev10/rekey', false],
  [dev1, '#', false],
  [dev1, '+/dev1/rekey', false],
  [dev1, '$SYS/#', false],
  [dev1, 'devices/dev1/rekey#', false],
  [dev1, 'devices/dev1/cmd/#/x', false],
  [dev1, 'devices/dev1/telemetry', false],
  [kdc, 'devices/+/rekey/request', true],
  [kdc, 'devices/+/rekey/ack', true],
  [kdc, 'services/+/rekey/request', true],
  [kdc, '$SYS/+/new/clients', true],
  [kdc, '$SYS/#', false],
  [kdc, 'devices/+/telemetry', false],
  [kdc, 'devices/#', false],
  [consumer, 'devices/+/telemetry', true],
  [consumer, 'devices/dev1/telemetry', true],
  [consumer, 'services/consumer-dash/rekey', true],
  [consumer, 'services/+/rekey', false],
  [consumer, 'devices/#', false],
  [operator, 'devices/+/telemetry', true],
  [operator, 'devices/+/rekey', false],
];

t.test('publish', async (t) => {
  for (const [who, topic, expected, retain] of publishCases) {
    const label = `${expected ? 'ok' : 'fail'}/${who.clientId} publishes ${JSON.stringify(topic)}${retain ? ' retained' : ''}`;
    t.equal(mayPublish(who, topic, retain ?? false), expected, label);
  }
});

t.test('subscribe', async (t) => {
  for (const [who, filter, expected] of subscribeCases) {
    t.equal(maySubscribe(who, filter), expected, `${expected ? 'ok' : 'fail'}/${who.clientId} subscribes ${filter}`);
  }
});
