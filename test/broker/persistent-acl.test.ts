import t from 'tap';
import { clientOptions, connect, rekeyTopicsAfterResume, startBroker, subackCodes } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';

// aedes stores a SUBSCRIBE's whole topic list for a persistent session, refused filters included;
// the broker must never let a refused filter come back when the session resumes.
t.test('fail/a refused subscription is not restored with a persistent session', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const files = fleet.device('dev1');
  const first = await connect(t, b, clientOptions(fleet, files, 'dev1', { clean: false }));
  t.same(await subackCodes(first, ['devices/dev1/rekey', 'devices/dev2/rekey', '#']), [1, 128, 128]);
  await first.endAsync();
  t.same(await rekeyTopicsAfterResume(t, fleet, files, b, b), ['devices/dev1/rekey'], 'only the granted subscription survived');
});
