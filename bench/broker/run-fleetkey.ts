/**
 * Child entry: our broker as `fleetkey broker` runs it (pino logs at FLEETKEY_LOG_LEVEL, default info,
 * written synchronously as pino's default stdout destination does, here to a file in the fixtures dir),
 * built from the bench's certificate files and a `file:` store, on a free port.
 * Usage: node dist/bench/broker/run-fleetkey.js <fixtures dir>
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { createBroker } from '../../broker/server.js';
import { openStore } from '../../store/index.js';
import { announce, dirArgument } from './child-io.js';
import { FILES } from './fixtures.js';

const dir = dirArgument();
const read = (name: string) => readFileSync(join(dir, name), 'utf8');
const tls = { ca: [read(FILES.root), read(FILES.issuing)], cert: read(FILES.serverCert), key: read(FILES.serverKey) };
const store = await openStore(`file:${join(dir, `store-${process.pid}`)}`);
const logger = pino({ name: 'broker', level: process.env.FLEETKEY_LOG_LEVEL ?? 'info' }, pino.destination({ dest: join(dir, `fleetkey-${process.pid}.log`), sync: true }));
const broker = await createBroker({ host: '127.0.0.1', port: 0, tls: () => tls, store, logger });
const address = await broker.listen();
announce(address.port, async () => {
  await broker.close();
  await store.close();
  logger.flush();
});
