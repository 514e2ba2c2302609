/**
 * A persistent session's QoS 1 message that its queue no longer holds is sent anyway; the session stays.
 *
 * aedes keeps every QoS 1 message for a persistent session in the session's queue and numbers the
 * entry (persistence `outgoingUpdate`) before each send. When a session resumes, the queue is sent
 * while live messages already arrive, so one message can take both paths; if the first copy is
 * acknowledged (its entry removed) before the second is numbered, the second finds no entry, and aedes
 * ends the session with "no such packet" — every later message then waits for a reconnect
 * (test/broker/delivery-order.test.ts). A message the queue never held (a subscription made after it
 * was queued) fails the same way. Here that failure sends the message, unnumbered in the queue: the
 * client gets a duplicate, which QoS 1 allows, and its PUBACK finds nothing to remove.
 */
interface QueuePersistence {
  outgoingUpdate(client: unknown, packet: unknown): Promise<unknown>;
}

function isMissingEntry(err: unknown): boolean {
  return err instanceof Error && err.message === 'no such packet';
}

/** Wraps the broker's persistence in place; `onMissing` counts each send of a message without its entry. */
export function sendWithoutQueueEntry(persistence: unknown, onMissing: () => void): void {
  const queue = persistence as QueuePersistence;
  const update = queue.outgoingUpdate.bind(queue);
  queue.outgoingUpdate = (client, packet) =>
    update(client, packet).catch((err: unknown) => {
      if (!isMissingEntry(err)) throw err;
      onMissing();
      return undefined;
    });
}
