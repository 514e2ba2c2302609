/**
 * Child entry: the "naive Aedes", the baseline our broker must beat: aedes 1.x with its
 * defaults and no hooks at all, behind a TLS listener with the broker's settings (mutual TLS, TLS 1.2+,
 * no-delay). No identity, ACL, revocation, metrics or logs.
 * Usage: node dist/bench/broker/run-naive.js <fixtures dir>
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { Aedes } from 'aedes';
import { announce, dirArgument } from './child-io.js';
import { listenerOptions } from './tls-files.js';

const aedes = await Aedes.createBroker();
const sockets = new Set<Socket>();
const server = createServer(listenerOptions(dirArgument()));
server.on('secureConnection', (socket: TLSSocket) => {
  socket.setNoDelay(true);
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  aedes.handle(socket);
});
server.on('tlsClientError', () => undefined);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
announce((server.address() as AddressInfo).port, async () => {
  server.close();
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
});
