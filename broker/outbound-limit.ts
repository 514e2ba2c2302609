import type { Client } from 'aedes';

export interface OutboundLimits {
  /** Packets a client may have written past its socket's high-water mark and not yet drained. */
  readonly messages: number;
  /** Bytes a client's socket may hold unsent. */
  readonly bytes: number;
  /** How long a client's socket may stay undrained, in ms. */
  readonly drainTimeoutMs: number;
}

export type SlowClientReason = 'outbound-limit' | 'drain-timeout';

/** What a dropped client had queued when it was dropped. */
export interface Backlog {
  readonly bytes: number;
  readonly messages: number;
}

type DrainDone = (err: Error | null, client: Client) => void;

interface Backlogged {
  readonly client: Client;
  messages: number;
  timer: NodeJS.Timeout;
}

interface Writer {
  writableLength: number;
  once(event: 'drain', listener: () => void): unknown;
  removeListener(event: 'drain', listener: () => void): unknown;
}

export interface OutboundLimiter {
  /** Installs the limits on one client (after aedes.handle). */
  install(client: Client): void;
  /** Bytes held unsent by clients whose sockets are past their high-water mark. */
  bufferedBytes(): number;
  /** Clients whose sockets are past their high-water mark. */
  backlogged(): number;
}

/**
 * Bounds what one client can make the broker hold for it. Aedes calls `client.waitForDrain(done)`
 * when a write found the socket full (lib/write.js) and, by default, completes the delivery only on
 * 'drain': the shared bus (mqemitter, `concurrency` messages in flight) then waits for the slowest
 * subscriber, and one frozen client stalls every publisher and every other subscriber until aedes's
 * drain timeout. Here the delivery completes at once, so the bus moves on, and what the client
 * cannot take waits in its own socket buffer, which is bounded: past `messages` packets or `bytes`
 * unsent, or undrained for `drainTimeoutMs`, the client is dropped (`onDrop`, then its socket is
 * destroyed; aedes ends the session, and a persistent session keeps its QoS 1 messages for the
 * next connect). One function serves every client.
 */
export function outboundLimiter(limits: OutboundLimits, onDrop: (client: Client, reason: SlowClientReason, backlog: Backlog) => void): OutboundLimiter {
  const waiting = new Map<Client, Backlogged>();
  const conn = (client: Client) => client.conn as unknown as Writer;

  const drop = (entry: Backlogged, reason: SlowClientReason): void => {
    forget(entry);
    const { client } = entry;
    onDrop(client, reason, { bytes: conn(client).writableLength, messages: entry.messages });
    (client.conn as unknown as { destroy(err?: Error): void }).destroy();
  };
  function forget(entry: Backlogged): void {
    clearTimeout(entry.timer);
    waiting.delete(entry.client);
  }
  // Shared by every connection (`this` is the socket; aedes sets `conn.client`).
  function drainedOrClosed(this: { client?: Client }): void {
    const entry = this.client === undefined ? undefined : waiting.get(this.client);
    if (entry) forget(entry);
  }

  function boundedWaitForDrain(this: Client, done: DrainDone): void {
    let entry = waiting.get(this);
    if (entry === undefined) {
      entry = { client: this, messages: 0, timer: setTimeout(() => entry && waiting.get(this) === entry && drop(entry, 'drain-timeout'), limits.drainTimeoutMs) };
      entry.timer.unref();
      waiting.set(this, entry);
      conn(this).once('drain', drainedOrClosed);
    }
    entry.messages++;
    if (entry.messages > limits.messages || conn(this).writableLength > limits.bytes) {
      conn(this).removeListener('drain', drainedOrClosed);
      drop(entry, 'outbound-limit');
    }
    setImmediate(done, null, this);
  }

  return {
    install(client) {
      (client as unknown as { waitForDrain: typeof boundedWaitForDrain }).waitForDrain = boundedWaitForDrain;
      // A session that ends while backlogged leaves no timer behind.
      (client.conn as unknown as { on(e: 'close', l: () => void): void }).on('close', drainedOrClosed);
    },
    bufferedBytes() {
      let total = 0;
      for (const client of waiting.keys()) total += conn(client).writableLength;
      return total;
    },
    backlogged: () => waiting.size,
  };
}
