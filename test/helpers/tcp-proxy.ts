import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import type { Test } from 'tap';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1: connect here instead of to the target. */
  readonly port: number;
  /** Destroys every connection through the proxy and refuses new ones (closed at once) until heal(). */
  cut(): void;
  heal(): void;
}

/** A TCP proxy in front of 127.0.0.1:`targetPort`, to break one process's link to a server (closed in teardown). */
export async function startTcpProxy(t: Test, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let broken = false;
  const server = createServer((inbound) => {
    if (broken) return void inbound.destroy();
    const outbound = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    server.close();
  });
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      broken = true;
      for (const [a, b] of [...pairs]) {
        a.destroy();
        b.destroy();
      }
    },
    heal() {
      broken = false;
    },
  };
}
