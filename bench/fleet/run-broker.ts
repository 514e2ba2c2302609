/**
 * Child entry: one broker for the fleet bench, on the shared Redis store but without cluster wiring
 * (a single node: `fleetkey broker --store redis://` would also route every message through Redis
 * pub/sub, which is the cluster's cost, not the broker's). TLS material from the data dir.
 * Usage: node dist/bench/fleet/run-broker.js <data dir> <redis url> <store prefix>
 */
import pino from 'pino';
import { createBroker } from '../../broker/server.js';
import { readServerTls } from '../../cli/data-dir.js';
import { openStore } from '../../store/index.js';
import { announce } from '../broker/child-io.js';

const [dir, redisUrl, prefix] = process.argv.slice(2);
if (!dir || !redisUrl || !prefix) {
  process.stderr.write('usage: run-broker.js <data dir> <redis url> <store prefix>\n');
  process.exit(2);
}
const logger = pino({ name: 'broker', level: process.env.FLEETKEY_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const store = await openStore(redisUrl, { prefix, logger });
const broker = await createBroker({ host: '127.0.0.1', port: 0, tls: () => readServerTls(dir), store, logger });
const address = await broker.listen();
announce(address.port, async () => {
  await broker.close();
  await store.close();
});
