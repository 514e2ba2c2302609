/**
 * The TLS listener of the bench's Node children (the naive Aedes and the two floors): the broker's
 * settings (mutual TLS against the fleet CA, TLS 1.2+) over the certificate files in the fixtures dir,
 * every connection no-delay and tracked, on a free port of 127.0.0.1 announced to the bench; on SIGTERM
 * it stops listening, runs `beforeClose` and destroys what is still connected.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { announce, dirArgument } from './child-io.js';
import { FILES } from './fixtures.js';

export async function serveTls(onConnection: (socket: TLSSocket) => void, beforeClose: () => Promise<void> = async () => undefined): Promise<void> {
  const dir = dirArgument();
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const server = createServer({
    ca: [read(FILES.root), read(FILES.issuing)],
    cert: read(FILES.serverCert),
    key: read(FILES.serverKey),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  const sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  announce((server.address() as AddressInfo).port, async () => {
    server.close();
    await beforeClose();
    for (const socket of sockets) socket.destroy();
  });
}
