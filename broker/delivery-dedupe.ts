import type { Client } from 'aedes';

/**
 * One message matched by two of a client's subscriptions is sent to it once; nothing else is dropped.
 *
 * aedes deduplicates by broker counter (lib/client.js `dedupe`): a message whose counter is not above
 * the highest one already sent to the client is dropped. Counters are assigned before messages take
 * paths of different lengths — a QoS 1 message waits for its offline enqueue and a QoS 0 one does
 * not; a resumed persistent session's queue is sent after live messages have started — so that check
 * drops messages the client never received (aedes issues #955 and #994), and for a persistent session
 * it removes a queue entry too. On a Redis-backed broker, where the offline enqueue is a round trip, a
 * persistent subscriber of QoS 1 acks received 40–60 of 400 while devices connected
 * (test/broker/delivery-order.test.ts).
 *
 * Here each client's counter record is replaced by one that remembers nothing, and `isRepeat` drops
 * only the repeat of the message forwarded last: the bus hands a message to every subscription it
 * matches in one synchronous pass, so the two copies of one message reach a client back to back.
 * A QoS 1 message for a persistent session is never dropped here: aedes answers a message it does not
 * forward to such a session by removing the first unnumbered entry of the session's queue, which may
 * be another message (its own delivery then fails with "no such packet" and ends the session). A
 * persistent session may so receive a message matched twice twice, as QoS 1 allows.
 */
const rememberNothing: Record<string, number> = new Proxy(Object.create(null) as Record<string, number>, {
  get: () => undefined,
  set: () => true,
  deleteProperty: () => true,
});

interface Forwarded {
  brokerId: string | undefined;
  brokerCounter: number;
}

const lastForwarded = new WeakMap<Client, Forwarded>();

/** Replaces aedes's counter dedupe on one client (after aedes.handle). */
export function dedupeByRepeatOnly(client: Client): void {
  (client as unknown as { duplicates: Record<string, number> }).duplicates = rememberNothing;
}

/** True if `packet` is the message last forwarded to `client` (called once per delivery, from authorizeForward). */
export function isRepeat(client: Client, packet: { readonly brokerId?: string; readonly brokerCounter?: number; readonly qos: number }): boolean {
  const counter = packet.brokerCounter;
  if (counter === undefined || counter === 0 || (packet.qos > 0 && !client.clean)) return false;
  const last = lastForwarded.get(client);
  if (last === undefined) {
    lastForwarded.set(client, { brokerId: packet.brokerId, brokerCounter: counter });
    return false;
  }
  if (last.brokerCounter === counter && last.brokerId === packet.brokerId) return true;
  last.brokerId = packet.brokerId;
  last.brokerCounter = counter;
  return false;
}
