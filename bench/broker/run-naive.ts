/**
 * Child entry: the "naive Aedes", the baseline our broker must beat: aedes 1.x with its
 * defaults and no hooks at all, behind a TLS listener with the broker's settings (mutual TLS, TLS 1.2+,
 * no-delay). No identity, ACL, revocation, metrics or logs.
 * Usage: node dist/bench/broker/run-naive.js <fixtures dir>
 */
import { Aedes } from 'aedes';
import { serveTls } from './tls-child.js';

const aedes = await Aedes.createBroker();
await serveTls(
  (socket) => aedes.handle(socket),
  () => new Promise<void>((resolve) => aedes.close(() => resolve())),
);
