import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { StoreEvent, StoreEventType } from '../types.js';
import { publishableEventTypes } from '../records.js';
import { attempt } from './connection.js';

/** How long a write waits to hear its own events back before it resolves anyway. */
const OWN_EVENT_WAIT_MS = 500;

/** Events on their way out: the messages to publish, and a wait until this process has handled them. */
export interface Outgoing {
  readonly messages: string[];
  /** Resolves once this process's handlers have seen every message (or after OWN_EVENT_WAIT_MS). */
  delivered(): Promise<void>;
  /** Forgets the messages (the change they announce was not made). */
  cancel(): void;
}

/**
 * Store events over Redis pub/sub: every process on the store, this one included, hears an event
 * through the channel. A message is `{"tag", "event"}`; the tag lets a write resolve only after this
 * process has handled its own events, as the file store does. Delivery is at most once: an event
 * published while a subscriber is disconnected does not reach it. So the moment its connection closes
 * this process hears a local `events-cut` (a cache may be stale from then on), and once the subscriber
 * is back and subscribed again a local `events-resumed`, and its caches read the store again.
 */
export class RedisEvents {
  private readonly emitter = new EventEmitter();
  private readonly origin = randomBytes(8).toString('hex');
  private readonly pending = new Map<string, () => void>();
  private sent = 0;
  private closed = false;

  private constructor(
    private readonly commands: Redis,
    subscriber: Redis,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {
    this.emitter.setMaxListeners(0);
    subscriber.on('message', (from: string, message: string) => {
      if (from === this.channel) this.deliver(message);
    });
    let cut = false;
    subscriber.on('close', () => {
      if (cut || this.closed) return;
      cut = true;
      this.logger.warn({ event: 'store-events-cut', channel }, 'store event feed cut: events sent meanwhile will be missed');
      this.emitter.emit('events-cut', { type: 'events-cut' });
    });
    subscriber.on('ready', () => {
      if (!cut) return;
      cut = false;
      // ioredis subscribes again on its own; this SUBSCRIBE's answer says the channel is live.
      attempt('subscribe', () => subscriber.subscribe(channel)).then(
        () => {
          this.logger.warn({ event: 'store-events-resumed', channel }, 'store event feed resumed: events sent while it was cut are read again from the store');
          this.emitter.emit('events-resumed', { type: 'events-resumed' });
        },
        (err: unknown) => this.logger.error({ event: 'store-events-resubscribe-failed', channel, err }, 'store event feed: subscribing again failed'),
      );
    });
  }

  static async open(commands: Redis, subscriber: Redis, channel: string, logger: Logger): Promise<RedisEvents> {
    const events = new RedisEvents(commands, subscriber, channel, logger);
    await attempt('subscribe', () => subscriber.subscribe(channel));
    return events;
  }

  /** Messages for a script to publish along with the change it makes. */
  outgoing(events: readonly StoreEvent[]): Outgoing {
    const tags = events.map(() => `${this.origin}:${(this.sent += 1)}`);
    const heard = tags.map((tag) => new Promise<void>((resolve) => this.pending.set(tag, resolve)));
    const cancel = (): void => tags.forEach((tag) => this.pending.delete(tag));
    return {
      messages: events.map((event, i) => JSON.stringify({ tag: tags[i], event })),
      cancel,
      delivered: async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, OWN_EVENT_WAIT_MS)));
        await Promise.race([Promise.all(heard), late]);
        clearTimeout(timer);
        cancel();
      },
    };
  }

  async publish(event: StoreEvent): Promise<void> {
    const out = this.outgoing([event]);
    try {
      await attempt('publish', () => this.commands.publish(this.channel, out.messages[0]!));
    } catch (err) {
      out.cancel();
      throw err;
    }
    await out.delivered();
  }

  on<T extends StoreEventType>(type: T, handler: (event: Extract<StoreEvent, { type: T }>) => void): () => void {
    const listener = (event: Extract<StoreEvent, { type: T }>): void => {
      try {
        handler(event);
      } catch (err) {
        this.logger.error({ event: 'store-handler-failed', type, err }, 'a store event handler threw');
      }
    };
    this.emitter.on(type, listener);
    return () => this.emitter.off(type, listener);
  }

  /** An event for this process's handlers only (`events-resumed` after a restore, say); never published. */
  raiseLocal(event: StoreEvent): void {
    this.emitter.emit(event.type, event);
  }

  close(): void {
    this.closed = true;
    this.emitter.removeAllListeners();
    for (const resolve of this.pending.values()) resolve();
    this.pending.clear();
  }

  private deliver(message: string): void {
    let parsed: { tag?: unknown; event?: { type?: unknown } } | undefined;
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    const type = parsed?.event?.type;
    if (typeof type !== 'string' || !publishableEventTypes.has(type as StoreEventType)) {
      this.logger.warn({ event: 'store-event-malformed', channel: this.channel }, 'ignored a malformed store event');
      return;
    }
    this.emitter.emit(type, parsed!.event);
    if (typeof parsed?.tag === 'string') this.pending.get(parsed.tag)?.();
  }
}
