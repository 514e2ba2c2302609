import type { Socket } from 'node:net';

/**
 * Holds a connection's writes until the end of the current event-loop turn (setImmediate), so the
 * packets aedes writes to one client in one turn (PUBACKs of a burst, messages routed to a busy
 * subscriber) leave as one TLS record in one system call. mqtt-packet corks each packet only until
 * nextTick, and aedes finishes each packet in its own tick, so without this every packet was a write
 * of its own, each one waking the receiving process. Backpressure is unchanged: write() still returns
 * false past the high-water mark, and 'drain' follows the flush.
 */
export function coalesceWrites(socket: Socket): void {
  const write = socket.write;
  let held = false;
  const flush = (): void => {
    held = false;
    socket.uncork();
  };
  socket.write = function heldWrite(this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (!held) {
      held = true;
      socket.cork();
      setImmediate(flush);
    }
    return write.apply(this, args);
  } as Socket['write'];
}
