import t from 'tap';
import { simStack } from './stack.js';

t.test('dbg', async (t) => {
  const stack = await simStack(t);
  const ids = Array.from({ length: 3 }, (_, i) => `rs-${i}`);
  const sim = stack.fleet(await stack.register(ids), { rate: 2 });
  sim.start();
  t.ok(await sim.ready(30_000));
  const before = stack.events.length;
  await stack.restartBroker(t, 1000);
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    console.error(i, JSON.stringify(sim.progress()), sim.devices.map((d) => d.stage).join(','), JSON.stringify(sim.counters.errors.toJSON()));
  }
  console.error(stack.events.slice(before).filter((e) => e.type !== 'sealed').map((e) => JSON.stringify(e, (_k, v) => typeof v === 'bigint' ? String(v) : v)).join('\n'));
  await sim.stop(100);
  console.error('stopped');
});
