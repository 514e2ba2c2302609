/**
 * Bounds what a persistent session's queue may hold on the embedded broker, whose queues are in its
 * own memory: past `maxMessages` QoS 1 messages waiting for one session (offline, or online and not
 * acknowledging), a new message is not queued for it. The oldest are kept, as Mosquitto's
 * `max_queued_messages` does.
 *
 * Aedes queues every QoS 1 message for every persistent session it matches, online or not
 * (persistence `outgoingEnqueueCombi`), and removes it on the session's PUBACK
 * (`outgoingClearMessageId`, which hands back the removed message). Counting both gives each
 * session's queue length without reading the persistence's own structures. A cluster's queues are in
 * Redis, and a message queued by one broker may be acknowledged on another, so no broker can count
 * them: there the bound is Redis's memory (docs/operations.md, "Limits").
 */
interface SubscriberRef {
  readonly clientId: string;
}

interface QueuePersistence {
  outgoingEnqueueCombi(subs: SubscriberRef[], packet: unknown): Promise<unknown>;
  outgoingClearMessageId(client: { readonly id: string }, packet: unknown): Promise<unknown>;
}

export interface SessionQueueEvents {
  /** One message not queued for `clientId`. */
  dropped(clientId: string): void;
  /** `clientId`'s queue has just become full (once until it has room again). */
  full(clientId: string, length: number): void;
}

/** Wraps the persistence in place; returns the number of messages queued, for a gauge. */
export function limitSessionQueues(persistence: unknown, maxMessages: number, on: SessionQueueEvents): () => number {
  const queue = persistence as QueuePersistence;
  const lengths = new Map<string, number>();
  const full = new Set<string>();
  let total = 0;
  const enqueue = queue.outgoingEnqueueCombi.bind(queue);
  const clear = queue.outgoingClearMessageId.bind(queue);

  queue.outgoingEnqueueCombi = (subs, packet) => {
    let kept: SubscriberRef[] | undefined;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      const length = lengths.get(sub.clientId) ?? 0;
      if (length < maxMessages) {
        lengths.set(sub.clientId, length + 1);
        total++;
        kept?.push(sub);
        continue;
      }
      kept ??= subs.slice(0, i);
      on.dropped(sub.clientId);
      if (!full.has(sub.clientId)) {
        full.add(sub.clientId);
        on.full(sub.clientId, length);
      }
    }
    return enqueue(kept ?? subs, packet);
  };
  queue.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet);
    const length = lengths.get(client.id);
    if (removed && length !== undefined) {
      total--;
      if (length > 1) lengths.set(client.id, length - 1);
      else lengths.delete(client.id);
      full.delete(client.id);
    }
    return removed;
  };
  return () => total;
}
