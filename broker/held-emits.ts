import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

type Done = ((err?: Error | null) => void) | undefined;

export interface Emitter {
  emit(packet: object, done?: Done): unknown;
}

export interface HoldOptions {
  /** Messages held before aedes's callbacks are held too (the sending clients are then not read on). Default 50,000. */
  readonly maxHeld?: number;
  /** How long, after Redis is back, to wait for the other brokers' subscribers before sending anyway. Default 10 s. */
  readonly resumeWaitMs?: number;
}

/**
 * A channel every broker's subscriber joins and nobody publishes on: PUBSUB SHARDNUMSUB counts the
 * brokers listening. Joined with SSUBSCRIBE because ioredis, reconnecting, subscribes again in the
 * order SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, each one command on one connection: so a broker counted
 * here has every channel and pattern of its bus subscribed again (counted by a plain channel, it
 * was counted before its patterns, such as a consumer's `devices/+/telemetry`, were back).
 */
const PROBE_TOPIC = '$SYS/fleetkey/cluster-probe';
/**
 * Said by a broker on its way up, once its probe subscription stands (and before it can have a
 * client): the others count again at once, so none goes on believing in a smaller cluster for the
 * second until its next probe (an outage then would send held messages before the newcomer's
 * subscribers were back).
 */
const HELLO_TOPIC = '$SYS/fleetkey/cluster-hello';
const PROBE_INTERVAL_MS = 1000;

/**
 * Makes the message bus hold what aedes hands it while Redis is away, and send it once Redis is back,
 * rather than fail it. Aedes PUBACKs a QoS 1 message before it hands it to the bus and closes a
 * client whose publish fails: so a failed publish was either a dropped session or an acknowledged
 * message lost. Redis pub/sub is at most once, so held messages are sent only when the subscribers of
 * every broker seen before the outage are back (PUBSUB SHARDNUMSUB on a probe channel, read every second
 * while all is well), or after `resumeWaitMs`. A message in flight when the connection dropped is held
 * again: delivery is at least once. The publisher connection must fail fast (no offline queue, no
 * resend) so that every failure comes back here.
 *
 * Redis answers a PUBLISH once it has queued the message for each subscriber, not once it has sent it:
 * killed in between, it has acknowledged a message no other broker will see (seen in testing). So what
 * the bus confirmed in the last RESEND_WINDOW_MS before a cut is held again, in front of the rest, and
 * sent once more after the outage: receivers may see those twice, never not at all.
 */
/** Messages the bus confirmed this recently before a cut are sent again after it (see above). */
const RESEND_WINDOW_MS = 1000;

/** `joined`: resolves once this broker is counted by the others (the hello said); `release` stops holding. */
export function holdWhileRedisAway(
  mq: Emitter, pub: Redis, sub: Redis, namespace: string, log: () => Logger, opts: HoldOptions = {},
): { joined: Promise<void>; release: () => void } {
  const maxHeld = opts.maxHeld ?? 50_000;
  const resumeWaitMs = opts.resumeWaitMs ?? 10_000;
  const emit = mq.emit.bind(mq);
  const held: object[] = [];
  const waiting: (() => void)[] = [];
  let open = pub.status === 'ready' && sub.status === 'ready';
  let resuming = false;
  let stopped = false;
  let subscribers = 0;

  // Confirmed messages of the last RESEND_WINDOW_MS, oldest first, from `recentFrom` on.
  const recent: { packet: object; at: number }[] = [];
  let recentFrom = 0;
  const remember = (packet: object): void => {
    const now = Date.now();
    recent.push({ packet, at: now });
    while (recentFrom < recent.length && now - recent[recentFrom]!.at > RESEND_WINDOW_MS) recentFrom++;
    if (recentFrom > 1024 && recentFrom * 2 > recent.length) {
      recent.splice(0, recentFrom);
      recentFrom = 0;
    }
  };

  const hold = (packet: object, done: Done): void => {
    held.push(packet);
    if (held.length <= maxHeld) done?.();
    else if (done) waiting.push(() => done());
  };
  mq.emit = (packet: object, done?: Done) => {
    if (!open) return hold(packet, done);
    return emit(packet, (err) => {
      // Failed while all looked well (the close not seen yet): held, or sent again shortly if no outage follows.
      if (err && !stopped) {
        if (open) setTimeout(() => mq.emit(packet), 100);
        else hold(packet, undefined);
      } else if (!err) {
        // Confirmed after the cut began (the subscriber's close came first): as unsure as the last second's.
        if (open) remember(packet);
        else hold(packet, undefined);
      }
      done?.();
    });
  };
  const channel = namespace + PROBE_TOPIC;
  const hello = namespace + HELLO_TOPIC;
  const countSubscribers = async (): Promise<number> => {
    const reply = (await pub.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  };
  const recount = (): void => {
    if (!open || resuming) return;
    countSubscribers().then((n) => (subscribers = n), () => undefined);
  };
  sub.on('smessage', (from: string) => {
    if (from === hello) recount();
  });
  const joined = sub.ssubscribe(channel, hello)
    .then(() => pub.call('SPUBLISH', hello, '1'))
    .then(recount, (err: unknown) => log().warn({ event: 'cluster-probe-failed', err: (err as Error).message }, 'could not join the cluster probe channel'));
  const probe = setInterval(recount, PROBE_INTERVAL_MS);
  probe.unref();

  const cut = (): void => {
    if (!open || stopped) return;
    open = false;
    const now = Date.now();
    const resend = recent.slice(recentFrom).filter((r) => now - r.at <= RESEND_WINDOW_MS).map((r) => r.packet);
    recent.length = 0;
    recentFrom = 0;
    const after = held.splice(0);
    for (const packet of resend) held.push(packet);
    for (const packet of after) held.push(packet);
    log().warn({ event: 'cluster-bus-held', subscribers, resend: resend.length }, 'Redis unreachable: holding MQTT messages for the cluster until it is back');
  };
  const flush = async (): Promise<void> => {
    while (held.length > 0 && !stopped) {
      const batch = held.splice(0, held.length);
      await Promise.all(batch.map((packet) => new Promise<void>((resolve) => emit(packet, (err) => {
        if (err) held.push(packet);
        else remember(packet);
        resolve();
      }))));
      if (held.length > 0 && (pub.status !== 'ready' || sub.status !== 'ready')) return;
    }
  };
  const resume = async (): Promise<void> => {
    if (open || resuming || stopped || pub.status !== 'ready' || sub.status !== 'ready') return;
    resuming = true;
    const since = Date.now();
    try {
      let present = await countSubscribers().catch(() => 0);
      while (present < subscribers && Date.now() - since < resumeWaitMs && !stopped) {
        await new Promise((r) => setTimeout(r, 100));
        present = await countSubscribers().catch(() => 0);
      }
      const count = held.length;
      await flush();
      if (held.length > 0) return; // cut again while sending; the next ready resumes
      open = true;
      subscribers = Math.max(present, 1);
      log().info({ event: 'cluster-bus-resumed', sent: count, subscribers: present, waitedMs: Date.now() - since }, 'Redis is back: held MQTT messages sent');
      for (const release of waiting.splice(0)) release();
    } finally {
      resuming = false;
      if (!open && !stopped && pub.status === 'ready' && sub.status === 'ready') setTimeout(() => void resume(), 100);
    }
  };
  for (const connection of [pub, sub]) {
    connection.on('close', cut);
    connection.on('ready', () => void resume());
  }
  return {
    joined,
    release: () => {
      stopped = true;
      clearInterval(probe);
      for (const release of waiting.splice(0)) release();
    },
  };
}
