import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { createBroker, type FleetBroker } from '../../broker/server.js';
import type { BrokerOptionsInput } from '../../broker/options.js';
import type { ClientFiles, TestFleet } from './fleet.js';
import { testLogger } from './fleet.js';

export interface RunningBroker {
  readonly broker: FleetBroker;
  readonly port: number;
  readonly url: string;
}

export async function startBroker(t: Test, fleet: TestFleet, extra: Partial<BrokerOptionsInput> = {}): Promise<RunningBroker> {
  const broker = await createBroker({
    port: 0,
    tls: () => ({ ca: fleet.caPems, cert: fleet.server.cert, key: fleet.server.key }),
    store: fleet.store,
    logger: testLogger(),
    ...extra,
  });
  const address = await broker.listen();
  t.teardown(() => broker.close());
  return { broker, port: address.port, url: `mqtts://127.0.0.1:${address.port}` };
}

export function clientOptions(fleet: TestFleet, files: ClientFiles | undefined, clientId: string, extra: IClientOptions = {}): IClientOptions {
  return {
    protocolVersion: 4,
    clientId,
    ca: fleet.caPems,
    ...(files ? { cert: files.cert, key: files.key } : {}),
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    keepalive: 30,
    ...extra,
  };
}

/** Connects with MQTT.js; rejects with the CONNACK or TLS error. Closed at teardown. */
export async function connect(t: Test, b: RunningBroker, opts: IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(b.url, opts, false);
  t.teardown(() => client.endAsync(true).catch(() => undefined));
  return client;
}

/** Resolves when the broker closes the client's connection, rejects after `ms`. */
export async function closedWithin(client: MqttClient, ms: number): Promise<number> {
  const started = Date.now();
  if (!client.connected) return 0;
  await Promise.race([
    new Promise<void>((resolve) => client.once('close', () => resolve())),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`still connected after ${ms} ms`)), ms).unref()),
  ]);
  return Date.now() - started;
}

/** The next message the client receives. */
export function nextMessage(client: MqttClient): Promise<[topic: string, payload: Buffer]> {
  return new Promise((resolve) => client.once('message', (topic, payload) => resolve([topic, payload])));
}

/** The SUBACK codes of one SUBSCRIBE, refusals (128) included: MQTT.js rejects when any is refused. */
export function subackCodes(client: MqttClient, filters: string[]): Promise<number[] | undefined> {
  return client.subscribeAsync(filters, { qos: 1 }).then(
    (granted) => granted.map((g) => g.qos),
    (err: { packet?: { granted: number[] } }) => err.packet?.granted,
  );
}

/**
 * Resumes device `dev1`'s persistent session on `resumeOn`, has a KDC on `publishVia` publish to the
 * rekey topics of dev2 and then dev1, and returns the topics dev1 received.
 */
export async function rekeyTopicsAfterResume(t: Test, fleet: TestFleet, files: ClientFiles, resumeOn: RunningBroker, publishVia: RunningBroker): Promise<string[]> {
  const resumed = mqtt.connect(resumeOn.url, clientOptions(fleet, files, 'dev1', { clean: false }));
  t.teardown(() => resumed.endAsync(true));
  const got: string[] = [];
  resumed.on('message', (topic) => got.push(topic));
  await new Promise<void>((resolve) => resumed.once('connect', () => resolve()));
  const kdc = await connect(t, publishVia, clientOptions(fleet, fleet.service('kdc', 'k'), 'kdc-k'));
  const own = nextMessage(resumed);
  await kdc.publishAsync('devices/dev2/rekey', 'for dev2', { qos: 1 });
  await kdc.publishAsync('devices/dev1/rekey', 'for dev1', { qos: 1 });
  await own;
  await new Promise((r) => setTimeout(r, 300));
  return got;
}
