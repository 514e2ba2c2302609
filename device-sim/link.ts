import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { MqttClient, type IClientOptions } from 'mqtt';
import { CERT_TIME_CODES, certTimeReason } from '../certs/clock.js';
import type { ErrorCode } from '../errors/index.js';
import type { DeviceIdentity } from './identity.js';
import type { IntervalTimer } from './scheduler.js';

/**
 * One MQTT connection of one device: mutual TLS with the device's own context, client id = device
 * id, clean session, MQTT 3.1.1 (DESIGN.md "Broker"; docs/protocol.md §2). MQTT.js never reconnects
 * on its own (`reconnectPeriod: 0`): the device's scheduler decides when to try again. The TLS
 * session ticket the broker sends is kept so the next handshake can resume it.
 */
export interface LinkOptions {
  readonly url: URL;
  readonly keepaliveSeconds: number;
  readonly connectTimeoutMs: number;
  /** The shared wheel's keepalive timer: no native timer per connection. */
  readonly timer: IntervalTimer;
}

export interface TlsSessionCache {
  /** The ticket of the last handshake with the current identity, if any. */
  session: Buffer | undefined;
}

export function openLink(identity: DeviceIdentity, tls: TlsSessionCache, opts: LinkOptions): MqttClient {
  const host = opts.url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(opts.url.port || 8883);
  const options: IClientOptions = {
    protocolVersion: 4,
    clientId: identity.deviceId,
    clean: true,
    keepalive: opts.keepaliveSeconds,
    reconnectPeriod: 0,
    connectTimeout: opts.connectTimeoutMs,
    resubscribe: false,
    queueQoSZero: false,
    timerVariant: opts.timer,
    reschedulePings: false, // a ping per keepalive period, not a timer reset on every publish and PUBACK
    log: () => undefined, // MQTT.js calls its debug logger on every packet; the check alone showed in profiles
  };
  return new MqttClient(() => {
    const socket = tlsConnect({
      host,
      port,
      secureContext: identity.secureContext,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...(tls.session ? { session: tls.session } : {}),
      minVersion: 'TLSv1.2',
    });
    socket.setNoDelay(true);
    socket.on('session', (ticket: Buffer) => (tls.session = ticket));
    return socket;
  }, options);
}

/** How a failed or lost connection ends for the device. */
export interface LinkFailure {
  readonly code: ErrorCode;
  /** True when retrying cannot help: the device stops. */
  readonly terminal: boolean;
}

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3. */
const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

/**
 * Reads an error MQTT.js reported: a CONNACK refusal carries the return code (number), a TLS alert
 * or socket fault a Node error code (string). Revocation shows as CONNACK 5 (the broker's check) or,
 * with a CRL at the TLS layer, as a "certificate revoked" alert. CONNACK 3 is the broker's "try again"
 * (docs/broker.md): its store is away or it is overloaded.
 */
export function classifyLinkError(err: Error & { code?: unknown }): LinkFailure {
  const { code } = err;
  if (code === NOT_AUTHORIZED) return { code: 'SIM_DEVICE_REVOKED', terminal: true };
  if (code === SERVER_UNAVAILABLE) return { code: 'SIM_BROKER_BUSY', terminal: false };
  if (typeof code === 'number' && code > 0) return { code: 'SIM_CONNECT_REFUSED', terminal: true };
  if (typeof code === 'string' && /CERTIFICATE_REVOKED/.test(code)) return { code: 'SIM_DEVICE_REVOKED', terminal: true };
  if (typeof code === 'string' && /CERTIFICATE_EXPIRED/.test(code)) return { code: 'SIM_CERT_EXPIRED', terminal: true };
  const timeReason = certTimeReason(code); // the broker's certificate, by this device's clock
  if (timeReason) return { code: CERT_TIME_CODES[timeReason], terminal: true };
  return { code: 'SIM_CONNECT_FAILED', terminal: false };
}

/**
 * Ends a connection with DISCONNECT once in-flight messages are acknowledged, or forcibly after
 * `graceMs` (MQTT.js's graceful end waits for every PUBACK, forever if the broker is gone).
 */
export async function closeLink(client: MqttClient, graceMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      client.end(true);
      resolve();
    }, graceMs);
  });
  await Promise.race([client.endAsync(false).catch(() => undefined), forced]);
  clearTimeout(timer);
}
