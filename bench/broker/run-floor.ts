/**
 * Child entry: the memory floor. A bare Node `tls` server with the broker's TLS settings (same files,
 * mutual TLS, TLS 1.2+, no-delay) that only holds its connections open and drains what they send.
 * Usage: node dist/bench/broker/run-floor.js <fixtures dir>
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { announce, dirArgument } from './child-io.js';
import { listenerOptions } from './tls-files.js';

const sockets = new Set<Socket>();
const server = createServer(listenerOptions(dirArgument()));
server.on('secureConnection', (socket: TLSSocket) => {
  socket.setNoDelay(true);
  sockets.add(socket);
  socket.on('data', () => undefined);
  socket.on('error', () => undefined);
  socket.once('close', () => sockets.delete(socket));
});
server.on('tlsClientError', () => undefined);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
announce((server.address() as AddressInfo).port, async () => {
  server.close();
  for (const socket of sockets) socket.destroy();
});
