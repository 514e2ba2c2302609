/**
 * The load generator's connections: MQTT.js 5 over mutual TLS (MQTT 3.1.1, clean sessions, no
 * automatic reconnect), plus raw TLS sockets for the bare-TLS floor. Client ids follow the broker's
 * rule: a device's client id is its device id, the consumer's is `consumer-<name>`.
 */
import { connect as tlsConnect, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Connection {
  readonly client: MqttClient;
  readonly socket: TLSSocket;
  /** True when the TLS handshake resumed the `session` passed in. */
  readonly resumed: boolean;
  /** The first TLS session (ticket) the broker sent; resolves undefined if none came within 1 s of CONNACK. */
  readonly session: Promise<Buffer | undefined>;
}

export interface ConnectOptions {
  readonly session?: Buffer | undefined;
  /** Seconds; the broker accepts 5..3600. */
  readonly keepalive?: number;
}

type TlsClientOptions = IClientOptions & Pick<ConnectionOptions, 'secureContext' | 'session'>;

/** Connects and resolves at CONNACK; rejects on a refused CONNACK, a TLS error or after 15 s. */
export function connectMqtt(port: number, clientId: string, secureContext: SecureContext, opts: ConnectOptions = {}): Promise<Connection> {
  const options: TlsClientOptions = {
    protocolVersion: 4,
    clientId,
    clean: true,
    keepalive: opts.keepalive ?? 60,
    reconnectPeriod: 0,
    connectTimeout: 15_000,
    rejectUnauthorized: true,
    secureContext,
    ...(opts.session ? { session: opts.session } : {}),
  };
  const client = mqtt.connect(`mqtts://127.0.0.1:${port}`, options);
  const socket = client.stream as TLSSocket;
  const session = new Promise<Buffer | undefined>((resolve) => {
    socket.once('session', resolve);
    socket.once('close', () => resolve(undefined));
    client.once('connect', () => setTimeout(() => resolve(undefined), 1000).unref());
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      client.end(true);
      reject(err);
    };
    client.once('error', fail);
    client.once('close', () => fail(new Error(`${clientId}: closed before CONNACK`)));
    client.once('connect', () => {
      client.removeAllListeners('error');
      client.removeAllListeners('close');
      client.on('error', () => undefined);
      resolve({ client, socket, resumed: socket.isSessionReused(), session });
    });
  });
}

/** Sends DISCONNECT and closes; never rejects. */
export function disconnect(client: MqttClient, force = false): Promise<void> {
  return client.endAsync(force).catch(() => undefined);
}

/** A raw mutual-TLS connection (no MQTT), for the floor server. Resolves once the handshake is done. */
export function connectRawTls(port: number, secureContext: SecureContext): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, secureContext, rejectUnauthorized: true });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.setNoDelay(true);
      socket.removeListener('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/** Runs `task(i)` for i in [0, count) with `inflight` at a time; resolves when all settled. */
export async function pool(count: number, inflight: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, count) }, worker));
}
