import mqtt, { type MqttClient } from 'mqtt';
import { FleetkeyError } from '../errors/index.js';
import { CENSUS_FILTER } from '../protocol/census.js';
import { filters } from '../protocol/topics.js';
import type { KdcBroker } from './options.js';

/** Broker presence events the KDC's ACL admits (aedes publishes the client id as payload). */
export const presenceFilters = { connected: '$SYS/+/new/clients', disconnected: '$SYS/+/disconnect/clients' } as const;

/** The KDC's subscriptions (DESIGN.md "Broker", ACL row kdc). */
export const kdcSubscriptions = [
  filters.deviceRekeyRequests, filters.deviceRekeyAcks, filters.serviceRekeyRequests, filters.serviceRekeyAcks,
  presenceFilters.connected, presenceFilters.disconnected, CENSUS_FILTER,
] as const;

/** Subscriptions the KDC can serve without: a broker that does not admit them yet is only warned about. */
const optionalSubscriptions: ReadonlySet<string> = new Set([CENSUS_FILTER]);

/** A presence event's broker node and client id, or undefined for any other topic. */
export function parsePresence(topic: string, payload: Buffer): { node: string; clientId: string; connected: boolean } | undefined {
  const levels = topic.split('/');
  if (levels.length !== 4 || levels[0] !== '$SYS' || levels[3] !== 'clients') return undefined;
  if (levels[2] !== 'new' && levels[2] !== 'disconnect') return undefined;
  return { node: levels[1]!, clientId: payload.toString('utf8'), connected: levels[2] === 'new' };
}

/**
 * Connects the KDC to the broker over mutual TLS as `clientId`, with a persistent session (clean
 * false): requests and acks published while the KDC restarts are queued by the broker and delivered
 * when it is back. `onMessage` is attached before CONNECT, so nothing queued is missed.
 * Resolves once subscribed; KDC_BROKER_UNAVAILABLE (the failure as its cause) if the broker refuses
 * or cannot be reached: kdc/broker-wait.ts tells the two apart.
 */
export async function connectKdc(
  broker: KdcBroker, clientId: string, onMessage: (topic: string, payload: Buffer) => void,
): Promise<{ client: MqttClient; refused: string[] }> {
  const client = mqtt.connect(broker.url, {
    protocolVersion: 4,
    clientId,
    clean: false,
    keepalive: 30,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ca: [...broker.ca],
    cert: broker.cert,
    key: broker.key,
    rejectUnauthorized: true,
  });
  client.on('message', (topic, payload) => onMessage(topic, payload));
  let refused: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      // TLS 1.3 reports a refused client certificate as a close after the handshake (FIELD-NOTES).
      const closed = () => reject(new Error('connection closed before CONNACK'));
      client.once('error', fail);
      client.once('close', closed);
      client.once('connect', () => {
        client.removeListener('error', fail);
        // Only our own listener: MQTT.js reconnects from a 'close' listener of its own.
        client.removeListener('close', closed);
        resolve();
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const granted = await Promise.race([
      client.subscribeAsync([...kdcSubscriptions], { qos: 1 }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no SUBACK within 10 s')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
    const required = refused.filter((topic) => !optionalSubscriptions.has(topic));
    if (required.length > 0) throw new Error(`subscriptions refused: ${required.join(', ')}`);
  } catch (err) {
    await client.endAsync(true).catch(() => undefined);
    throw new FleetkeyError('KDC_BROKER_UNAVAILABLE', `${broker.url}: ${(err as Error).message}`, { cause: err });
  }
  client.on('error', () => undefined); // reconnects are logged by the caller through 'offline'/'connect'
  return { client, refused };
}
