import t from 'tap';
import type { Test } from 'tap';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { coalesceWrites } from '../../broker/write-coalescing.js';

/** A connected pair over 127.0.0.1: `server` is the side that coalesces. */
async function pair(t: Test): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = (await once(listener, 'connection')) as [Socket];
  t.teardown(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  coalesceWrites(server);
  return { server, client };
}

async function read(client: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < bytes) {
    const [chunk] = (await once(client, 'data')) as [Buffer];
    chunks.push(chunk);
    got += chunk.length;
  }
  return Buffer.concat(chunks);
}

t.test('ok/writes of one event-loop turn are held and leave together, in order', async (t) => {
  const { server, client } = await pair(t);
  const parts = Array.from({ length: 50 }, (_, i) => `packet-${i};`);
  for (const part of parts) server.write(part);
  t.equal(server.writableCorked, 1, 'held while the turn runs');
  t.ok(server.writableLength > 0, 'nothing written yet');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(server.writableCorked, 0, 'released at the end of the turn');
  const expected = parts.join('');
  t.equal((await read(client, expected.length)).toString(), expected);
});

t.test('ok/a later turn is held and released again', async (t) => {
  const { server, client } = await pair(t);
  server.write('first;');
  t.equal((await read(client, 6)).toString(), 'first;');
  server.write('second;');
  server.write('third;');
  t.equal(server.writableCorked, 1);
  t.equal((await read(client, 13)).toString(), 'second;third;');
});

t.test('ok/end() right after a write still delivers it', async (t) => {
  const { server, client } = await pair(t);
  server.write('last words;');
  server.end();
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  await once(client, 'end');
  t.equal(Buffer.concat(received).toString(), 'last words;');
});

t.test('ok/backpressure: write() says false past the high-water mark, and drain follows the release', async (t) => {
  const { server, client } = await pair(t);
  client.pause();
  const big = Buffer.alloc(server.writableHighWaterMark + 1, 0x61);
  t.equal(server.write(big), false, 'over the mark');
  const drained = once(server, 'drain');
  client.resume();
  await drained;
  t.pass('drained');
});
