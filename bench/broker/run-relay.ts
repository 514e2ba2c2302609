/**
 * Child entry: the Node floor for the connect and message workloads, the least any MQTT broker on
 * Node's TLS can do per connection and per message. The broker's TLS settings; a CONNACK for every
 * CONNECT, a SUBACK granting what was asked, a PINGRESP; each PUBLISH passed on as it came to every
 * subscriber (the bench has one, so no topic matching) and a PUBACK for QoS 1. No identity, ACL,
 * sessions, queues or logs: what it spends is what Node's streams and OpenSSL cost.
 * Usage: node dist/bench/broker/run-relay.js <fixtures dir>
 */
import type { TLSSocket } from 'node:tls';
import { serveTls } from './tls-child.js';

const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const PINGREQ = 12;
const DISCONNECT = 14;

const subscribers = new Set<TLSSocket>();

/** The length of the complete packet at the start of `buf`, or 0 while more bytes are needed (MQTT 3.1.1 §2.2.3). */
function packetLength(buf: Buffer): number {
  let remaining = 0;
  for (let i = 1, shift = 0; i < buf.length && i <= 4; i++, shift += 7) {
    const byte = buf[i]!;
    remaining += (byte & 0x7f) << shift;
    if (!(byte & 0x80)) return buf.length >= i + 1 + remaining ? i + 1 + remaining : 0;
  }
  return 0;
}

/** Where the variable header starts: after the type byte and the remaining length. */
function bodyStart(packet: Buffer): number {
  let i = 1;
  while (packet[i]! & 0x80) i++;
  return i + 1;
}

function handle(socket: TLSSocket, packet: Buffer): void {
  const type = packet[0]! >> 4;
  if (type === CONNECT) socket.write(Buffer.from([0x20, 2, 0, 0]));
  else if (type === SUBSCRIBE) {
    // One filter per SUBSCRIBE (the load generator's): granted the QoS it asked for, its last byte.
    subscribers.add(socket);
    const id = bodyStart(packet);
    socket.write(Buffer.from([0x90, 3, packet[id]!, packet[id + 1]!, packet[packet.length - 1]! & 3]));
  } else if (type === PUBLISH) {
    for (const subscriber of subscribers) subscriber.write(packet);
    if ((packet[0]! >> 1) & 3) {
      const topic = bodyStart(packet);
      const id = topic + 2 + packet.readUInt16BE(topic);
      socket.write(Buffer.from([0x40, 2, packet[id]!, packet[id + 1]!]));
    }
  } else if (type === PINGREQ) socket.write(Buffer.from([0xd0, 0]));
  else if (type === DISCONNECT) socket.end();
}

await serveTls((socket) => {
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    for (let length = packetLength(buf); length > 0; length = packetLength(buf)) {
      handle(socket, buf.subarray(0, length));
      buf = buf.subarray(length);
    }
    pending = buf.length > 0 ? buf : undefined;
  });
  socket.on('error', () => undefined);
  socket.once('close', () => subscribers.delete(socket));
});
