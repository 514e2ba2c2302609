import type { Socket } from 'node:net';
import { Writable } from 'node:stream';

/** Installs write coalescing on one connection. */
export type CoalesceWrites = (socket: Socket) => void;

const write = Writable.prototype.write;

/**
 * Holds connections' writes until the end of the current event-loop turn (setImmediate), so the
 * packets aedes writes to one client in one turn (PUBACKs of a burst, messages routed to a busy
 * subscriber) leave as one TLS record in one system call. mqtt-packet corks each packet only until
 * nextTick, and aedes finishes each packet in its own tick, so without this every packet was a write
 * of its own, each one waking the receiving process. Backpressure is unchanged: write() still returns
 * false past the high-water mark, and 'drain' follows the flush.
 *
 * One coalescer serves every connection of a broker: a connection carries only its `write` override
 * (one shared function), and one setImmediate per turn releases all the connections written to in it.
 */
export function writeCoalescer(): CoalesceWrites {
  let held = new Set<Socket>();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const sockets = held;
    held = new Set();
    for (const socket of sockets) socket.uncork();
  };
  function heldWrite(this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (!held.has(this)) {
      held.add(this);
      this.cork();
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
    return write.apply(this, args as Parameters<Writable['write']>);
  }
  return (socket) => {
    // A stream with a write of its own is left as it is: heldWrite would bypass it.
    if (socket.write === write) socket.write = heldWrite as Socket['write'];
  };
}
