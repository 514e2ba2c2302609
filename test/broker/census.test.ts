import t from 'tap';
import { CENSUS_FILTER, parseCensus, type CensusPart } from '../../protocol/census.js';
import { clientOptions, connect, startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';

t.test('a KDC subscribing to the census filter gets the devices connected to this node', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  for (const id of ['dev-c1', 'dev-c2']) await connect(t, b, clientOptions(fleet, fleet.device(id), id));
  const consumer = await connect(t, b, clientOptions(fleet, fleet.service('consumer', 'c'), 'consumer-c'));

  const kdc = await connect(t, b, clientOptions(fleet, fleet.service('kdc', '1'), 'kdc-1'));
  const parts: CensusPart[] = [];
  kdc.on('message', (topic, payload) => {
    const part = parseCensus(topic, payload);
    if (part) parts.push(part);
  });
  const granted = await kdc.subscribeAsync(CENSUS_FILTER, { qos: 1 });
  t.same(granted.map((g) => g.qos), [1], 'the KDC may subscribe to the census');
  for (let i = 0; i < 100 && parts.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(parts.length, 1, 'one part');
  t.same([...parts[0]!.devices].sort(), ['dev-c1', 'dev-c2'], 'the devices on this node; services are not in it');
  t.match(parts[0], { v: 1, part: 1, parts: 1 });

  const refused = await consumer.subscribeAsync(CENSUS_FILTER, { qos: 1 }).then((g) => g.map((x) => x.qos), (err: { packet?: { granted: number[] } }) => err.packet?.granted);
  t.same(refused, [128], 'nobody but a KDC may subscribe to it');
});
