import t from 'tap';
import type { Test } from 'tap';
import { once } from 'node:events';
import { createServer, connect, Socket, type AddressInfo } from 'node:net';
import { writeCoalescer, type CoalesceWrites } from '../../broker/write-coalescing.js';

/** A connected pair over 127.0.0.1: `server` is the side that coalesces. */
async function pair(t: Test, coalesceWrites: CoalesceWrites = writeCoalescer()): Promise<{ server: Socket; client: Socket }> {
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

t.test('ok/one coalescer holds several connections in a turn and releases them all', async (t) => {
  const coalesceWrites = writeCoalescer();
  const a = await pair(t, coalesceWrites);
  const b = await pair(t, coalesceWrites);
  a.server.write('to a;');
  b.server.write('to b;');
  a.server.write('again a;');
  t.equal(a.server.writableCorked, 1, 'a held');
  t.equal(b.server.writableCorked, 1, 'b held');
  t.equal(a.server.write, b.server.write, 'one shared write function');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(a.server.writableCorked + b.server.writableCorked, 0, 'both released at the end of the turn');
  t.equal((await read(a.client, 13)).toString(), 'to a;again a;');
  t.equal((await read(b.client, 5)).toString(), 'to b;');
});

t.test('ok/a stream with a write of its own is left as it is', async (t) => {
  const socket = new Socket();
  const own = (() => true) as Socket['write'];
  socket.write = own;
  writeCoalescer()(socket);
  t.equal(socket.write, own, 'not replaced');
  socket.destroy();
});
