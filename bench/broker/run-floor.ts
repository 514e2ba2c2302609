/**
 * Child entry: the memory floor. A bare Node `tls` server with the broker's TLS settings (same files,
 * mutual TLS, TLS 1.2+, no-delay) that only holds its connections open and drains what they send.
 * Usage: node dist/bench/broker/run-floor.js <fixtures dir>
 */
import { serveTls } from './tls-child.js';

await serveTls((socket) => {
  socket.on('data', () => undefined);
  socket.on('error', () => undefined);
});
