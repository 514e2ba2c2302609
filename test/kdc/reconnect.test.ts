import t from 'tap';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { enrolledDevice, rig, SimDevice, startKdc } from './kit.js';

// A broker restart must not leave the KDC disconnected: MQTT.js reconnects it and it serves again.
t.test('the KDC reconnects after the broker restarts and answers requests again', async (t) => {
  const fleet = await testFleet(t);
  const first = await startBroker(t, fleet);
  const r = rig(fleet, first);
  await startKdc(t, r);
  await first.broker.close();

  const second = await startBroker(t, fleet, { port: first.port });
  const files = await enrolledDevice(fleet, 'dev-rc');
  const started = Date.now();
  let device: SimDevice | undefined;
  // The KDC comes back within MQTT.js's reconnect period; a request before that is not queued for it.
  while (device === undefined) {
    const candidate = await SimDevice.connect(t, { ...r, broker: second }, 'dev-rc', files);
    try {
      await candidate.next(() => true, 2_000);
      device = candidate;
    } catch {
      if (Date.now() - started > 15_000) throw new Error('the KDC did not come back within 15 s');
    }
  }
  t.ok(device.grants.length >= 1, `a grant arrived ${Date.now() - started} ms after the broker restarted`);
});
