import type { Socket } from 'node:net';

export interface AdmissionLimits {
  /** TLS handshakes started per second, at most. */
  readonly ratePerSecond: number;
  /** TLS handshakes in progress at once, at most. */
  readonly handshakes: number;
  /** Accepted TCP connections waiting for their turn; one more is closed at once. */
  readonly maxWaiting: number;
  /** How long a connection may wait before it is closed unserved, in ms. */
  readonly maxWaitMs: number;
}

export type AdmissionRefusal = 'admission-queue-full' | 'admission-timeout';

export interface ConnectAdmission {
  /** An accepted TCP connection, paused (net.Server `pauseOnConnect`): it starts TLS when its turn comes. */
  offer(socket: Socket): void;
  /** The TLS handshake on `socket` (the TCP connection offered) is done: its slot is free. */
  secured(socket: Socket): void;
  readonly waiting: number;
  readonly inProgress: number;
  /** Connections handed to TLS so far. */
  readonly admitted: number;
  close(): void;
}

interface Waiter {
  readonly socket: Socket;
  readonly since: number;
}

/**
 * Connect admission: a reconnect storm reaches TLS at a bounded rate. A TLS handshake (ECDHE, a
 * signature, the client chain's verification) is the costly part of a connect and runs on the event
 * loop that also carries every connected client's messages; so connections wait, accepted but unread
 * (no TLS state, a few KB each), in arrival order, and each starts its handshake only when a token of
 * the rate and a handshake slot are free. A slot is held until the handshake succeeds or the
 * connection closes. What waits longer than `maxWaitMs` (its client has likely given up), or finds
 * `maxWaiting` ahead of it, is closed at once: the device's backoff brings it back.
 */
export function connectAdmission(limits: AdmissionLimits, admit: (socket: Socket) => void, refused: (socket: Socket, reason: AdmissionRefusal) => void): ConnectAdmission {
  let queue: Waiter[] = [];
  let head = 0;
  let inProgress = 0;
  let admitted = 0;
  let tokens = Math.min(limits.ratePerSecond, limits.handshakes);
  let refilledAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const handshaking = new WeakSet<Socket>();

  const refill = (now: number): void => {
    tokens = Math.min(limits.ratePerSecond, tokens + ((now - refilledAt) * limits.ratePerSecond) / 1000);
    refilledAt = now;
  };
  function release(socket: Socket): void {
    if (!handshaking.delete(socket)) return;
    inProgress--;
    pump();
  }
  // Shared by every connection: `this` is the TCP socket.
  function closed(this: Socket): void {
    release(this);
  }

  function pump(): void {
    const now = Date.now();
    refill(now);
    while (head < queue.length && inProgress < limits.handshakes) {
      const { socket, since } = queue[head]!;
      if (socket.destroyed) {
        head++;
        continue;
      }
      if (now - since > limits.maxWaitMs) {
        head++;
        socket.destroy();
        refused(socket, 'admission-timeout');
        continue;
      }
      if (tokens < 1) break;
      head++;
      tokens--;
      inProgress++;
      admitted++;
      handshaking.add(socket);
      socket.on('close', closed);
      admit(socket);
    }
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    if (head < queue.length && tokens < 1 && timer === undefined && inProgress < limits.handshakes) {
      timer = setTimeout(() => {
        timer = undefined;
        pump();
      }, Math.ceil(((1 - tokens) * 1000) / limits.ratePerSecond));
    }
  }

  return {
    offer(socket) {
      if (queue.length - head >= limits.maxWaiting) {
        socket.destroy();
        refused(socket, 'admission-queue-full');
        return;
      }
      queue.push({ socket, since: Date.now() });
      pump();
    },
    secured: release,
    get waiting() {
      return queue.length - head;
    },
    get inProgress() {
      return inProgress;
    },
    get admitted() {
      return admitted;
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
      for (let i = head; i < queue.length; i++) queue[i]!.socket.destroy();
      queue = [];
      head = 0;
    },
  };
}
