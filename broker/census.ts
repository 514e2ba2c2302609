import type { Aedes, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { CENSUS_FILTER, censusTopic, encodeCensus } from '../protocol/census.js';
import type { SessionRegistry } from './sessions.js';

/** aedes announces every SUBSCRIBE, cluster-wide, on `$SYS/<node>/new/subscribes`. */
const NEW_SUBSCRIBES = '$SYS/+/new/subscribes';

/** Only a KDC asks for the census; the ACL lets no one else subscribe to CENSUS_FILTER. */
function asksForCensus(payload: Buffer): boolean {
  try {
    const { clientId, subs } = JSON.parse(payload.toString('utf8')) as { clientId?: unknown; subs?: unknown };
    return typeof clientId === 'string' && clientId.startsWith('kdc-') && Array.isArray(subs)
      && subs.some((sub: { topic?: unknown } | null) => sub?.topic === CENSUS_FILTER);
  } catch {
    return false;
  }
}

/**
 * Answers each KDC subscription to CENSUS_FILTER with this node's census (protocol/census.ts): the
 * devices with a session here, published on `censusTopic(aedes.id)`. Returns a stop function.
 * QoS 0: aedes queues a QoS 1 message in every offline persistent session that matches, so another
 * replica's census would wait in a dead KDC's session and be read at its restart as devices that
 * may have left since (test/faults/store-kdc-restart-census.test.ts).
 */
export function answerCensus(aedes: Aedes, sessions: SessionRegistry, log: Logger): () => void {
  const onSubscribe = (packet: PublishPacket, done: () => void): void => {
    done();
    if (!asksForCensus(packet.payload as Buffer)) return;
    const devices = sessions.deviceIds();
    for (const payload of encodeCensus(aedes.id, devices, new Date())) {
      aedes.publish({ cmd: 'publish', topic: censusTopic(aedes.id), payload, qos: 0, retain: false, dup: false }, (err?: Error | null) => {
        if (err) log.warn({ event: 'census-failed', err }, 'census part not published');
      });
    }
    log.info({ event: 'census-sent', devices: devices.length }, 'presence census sent');
  };
  aedes.subscribe(NEW_SUBSCRIBES, onSubscribe, () => undefined);
  return () => aedes.unsubscribe(NEW_SUBSCRIBES, onSubscribe, () => undefined);
}
