import { createPrivateKey } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { brokerNotReachedYet, brokerWaitLog } from '../kdc/broker-wait.js';
import { ConsumerKeyring } from '../protocol/consumer-keyring.js';
import type { EnvelopeHeader } from '../protocol/envelope.js';
import { verifyGrant } from '../protocol/grant-verify.js';
import { filters, parseTopic, serviceTopics } from '../protocol/topics.js';
import { HeldEnvelopes } from './held.js';
import { ReplayState } from './replay-state.js';
import { resolveConsumerOptions, type ConsumerOptions, type ConsumerOptionsInput } from './options.js';

/** One opened telemetry message. */
export interface TelemetryMessage {
  readonly deviceId: string;
  readonly header: EnvelopeHeader;
  readonly payload: Buffer;
}

export interface ConsumerStats {
  readonly opened: number;
  /** Authentic QoS 1 redeliveries (seq seen inside the window). */
  readonly duplicate: number;
  /** Authentic, seq below the window: never accepted. */
  readonly replay: number;
  /** An epoch no longer opened (past its grace, or older than any key held). */
  readonly stale: number;
  /** Malformed, not authentic, or of an epoch never granted (after waiting `holdMs`). */
  readonly undecryptable: number;
  /** Envelopes waiting for the grant of their epoch. */
  readonly held: number;
  readonly grantsAccepted: number;
  /** Refused grants by error code (GRANT_NOT_NEWER after a re-request is expected). */
  readonly grantsRefused: Readonly<Record<string, number>>;
  readonly epochs: number[];
}

export interface Consumer {
  readonly clientId: string;
  stats(): ConsumerStats;
  close(): Promise<void>;
}

/** Re-requests are spaced a little over the KDC's default per-client request interval (1 s). */
const REREQUEST_MS = 1100;

/**
 * A decrypting consumer (DESIGN.md "Consumers"): an MQTT client with a `consumer` certificate that
 * gets epoch secrets from the KDC as grants — never from the store — and opens sealed telemetry.
 * start: subscribe services/C/rekey, request, wait for the first epoch grant, subscribe telemetry.
 * An envelope of an epoch newer than any held is kept for `holdMs` while the grant is asked for
 * again (a KDC that restarted does not know this consumer until it asks).
 */
export async function createConsumer(input: ConsumerOptionsInput, onMessage?: (msg: TelemetryMessage) => void): Promise<Consumer> {
  const opts = resolveConsumerOptions(input);
  const log = opts.logger.child({ component: 'consumer', clientId: opts.clientId });
  const keyring = new ConsumerKeyring({ consumerId: opts.clientId, graceSeconds: opts.graceSeconds, windowSize: opts.windowSize });
  const recipientKey = createPrivateKey(opts.broker.key);
  const held = new HeldEnvelopes(opts.holdMs, opts.maxHeld);
  const state = opts.stateFile === undefined ? undefined : ReplayState.open(opts.stateFile, opts.windowSize);
  for (const h of state?.takeHeld() ?? []) held.add(h.deviceId, h.envelope, opts.clock());
  const counts = { opened: 0, duplicate: 0, replay: 0, stale: 0, undecryptable: 0, grantsAccepted: 0 };
  const refused: Record<string, number> = {};
  let lastRequest = 0;
  let askTimer: NodeJS.Timeout | undefined;
  let firstGrant: (() => void) | undefined;
  // Until the first grant, envelopes are held without a deadline (a persistent session's queue arrives
  // before it, behind which the grant waits) and no new request replaces the one being answered.
  let started = false;
  let lastDelivery = opts.clock();
  let grants = Promise.resolve();

  const client = connect(opts);
  if (state) {
    // MQTT.js sends the PUBACK when this calls back, after 'message' was handled (MQTT 3.1.1 has no
    // customHandleAcks): what was opened, and what is held, is on disk first.
    client.handleMessage = (_packet, callback) => {
      try {
        state.save(keyring.epochs()[0]?.epoch, held.items());
        callback();
      } catch (err) {
        log.error({ event: 'consumer-state-not-saved', err }, 'consumer state not written: no PUBACK');
        callback(err as Error);
      }
    };
  }
  const request = (): void => {
    lastRequest = opts.clock();
    client.publish(serviceTopics.rekeyRequest(opts.clientId), keyring.newRequest(), { qos: 1 });
  };

  /** Asks again for the current epochs, at most once per REREQUEST_MS. */
  const askSoon = (): void => {
    if (askTimer) return;
    askTimer = setTimeout(() => {
      askTimer = undefined;
      if (client.connected) request();
    }, Math.max(0, lastRequest + REREQUEST_MS - opts.clock()));
  };

  const acceptGrant = async (jws: string): Promise<void> => {
    try {
      const verified = await verifyGrant(jws, { fleetRoot: opts.fleetRoot, expectedSubject: opts.clientId, recipientKey, expect: 'consumer', now: opts.clock() });
      const ack = keyring.accept(verified);
      counts.grantsAccepted++;
      client.publish(serviceTopics.rekeyAck(opts.clientId), ack, { qos: 1 });
      log.info({ event: 'epoch-granted', epoch: verified.epoch, nbf: verified.nbf }, 'epoch key received');
      firstGrant?.();
      for (const h of held.takeAll()) classify(h.deviceId, h.envelope, false);
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      refused[err.code] = (refused[err.code] ?? 0) + 1;
      log.debug({ event: 'grant-refused', code: err.code, detail: err.detail }, 'epoch grant refused');
    }
  };

  const classify = (deviceId: string, envelope: Buffer, mayHold: boolean): void => {
    const now = opts.clock();
    if (started) counts.undecryptable += held.expire(now);
    const result = keyring.open(deviceId, envelope, now);
    switch (result.kind) {
      case 'opened':
        if (state?.seen(deviceId, result.header.epoch, result.header.grant, result.header.seq)) {
          counts.duplicate++;
          return;
        }
        state?.opened(deviceId, result.header.epoch, result.header.grant, result.header.seq);
        counts.opened++;
        onMessage?.({ deviceId, header: result.header, payload: result.payload });
        return;
      case 'duplicate': counts.duplicate++; return;
      case 'replay': counts.replay++; return;
      case 'stale-epoch': counts.stale++; return;
      case 'undecryptable':
        if (result.reason === 'no-epoch-key' && mayHold && held.add(deviceId, envelope, now)) {
          if (started) askSoon();
          return;
        }
        counts.undecryptable++;
    }
  };

  client.on('message', (topic, payload) => {
    lastDelivery = opts.clock();
    const parsed = parseTopic(topic);
    if (parsed?.kind === 'telemetry') classify(parsed.owner, payload, true);
    else if (parsed?.kind === 'rekey' && parsed.scope === 'service' && parsed.owner === opts.clientId) {
      grants = grants.then(() => acceptGrant(payload.toString('utf8')));
    }
  });

  try {
    await connected(client, log, opts.broker.url);
    await subscribe(client, serviceTopics.rekey(opts.clientId), 1);
    const granted = new Promise<void>((resolve) => (firstGrant = resolve));
    request();
    await untilGranted(granted, opts.grantTimeoutMs, () => opts.clock() - lastDelivery);
    firstGrant = undefined;
    started = true;
    await subscribe(client, filters.allTelemetry, opts.qos);
  } catch (err) {
    await client.endAsync(true).catch(() => undefined);
    state?.close();
    throw err;
  }
  // After a reconnect the KDC no longer pushes to this client (it left): ask again.
  client.on('connect', () => request());
  log.info({ event: 'consumer-started', persistent: state !== undefined, held: held.size, epochs: keyring.epochs().map((e) => e.epoch) }, 'consumer opening telemetry');
  return {
    clientId: opts.clientId,
    stats: () => ({ ...counts, undecryptable: started ? (counts.undecryptable += held.expire(opts.clock())) : counts.undecryptable, held: held.size, grantsRefused: { ...refused }, epochs: keyring.epochs().map((e) => e.epoch) }),
    async close() {
      clearTimeout(askTimer);
      await client.endAsync().catch(() => undefined);
      await grants;
      state?.close();
    },
  };
}

function connect(opts: Readonly<ConsumerOptions>): MqttClient {
  return mqtt.connect(opts.broker.url, {
    protocolVersion: 4, clientId: opts.clientId, clean: opts.stateFile === undefined, keepalive: 30, reconnectPeriod: 1000, connectTimeout: 10_000,
    ca: [...opts.broker.ca], cert: opts.broker.cert, key: opts.broker.key, rejectUnauthorized: true,
  });
}

/**
 * Resolves at the first CONNACK. While the broker cannot be reached (down, paused, busy: the same
 * cases as the KDC's, kdc/broker-wait.ts) MQTT.js tries again every second and this waits, logging
 * `broker-waiting` (then every 30 s) and `broker-reached`; a refusal for good rejects.
 */
function connected(client: MqttClient, log: Logger, url: string): Promise<void> {
  const wait = brokerWaitLog(log, url);
  let failures = 0;
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      const refusal = new FleetkeyError('KDC_BROKER_UNAVAILABLE', err.message, { cause: err });
      if (!brokerNotReachedYet(refusal)) {
        stop();
        reject(refusal);
        return;
      }
      failures++;
      wait.failed(failures, err.message);
    };
    const closed = () => fail(new Error('connection closed before CONNACK'));
    // Only our own listeners: MQTT.js reconnects from a 'close' listener of its own.
    const stop = () => {
      client.removeListener('error', fail);
      client.removeListener('close', closed);
      client.on('error', () => undefined);
    };
    client.on('error', fail);
    client.on('close', closed);
    client.once('connect', () => {
      stop();
      wait.reached(failures + 1);
      resolve();
    });
  });
}

async function subscribe(client: MqttClient, filter: string, qos: 0 | 1): Promise<void> {
  const [granted] = await client.subscribeAsync(filter, { qos });
  if (!granted || granted.qos === 128) throw new FleetkeyError('KDC_BROKER_UNAVAILABLE', `subscription to ${filter} refused`);
}

/**
 * Waits for the first grant while the broker delivers something at least every `ms`: a persistent
 * session's backlog arrives first and the grant is queued behind it. CONSUMER_NO_EPOCH_GRANT after
 * `ms` of silence.
 */
function untilGranted(granted: Promise<void>, ms: number, quietMs: () => number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (quietMs() >= ms) reject(new FleetkeyError('CONSUMER_NO_EPOCH_GRANT', `none within ${ms} ms of the last message`));
    }, Math.max(10, Math.min(ms, 1000)));
  });
  return Promise.race([granted, timeout]).finally(() => clearInterval(timer));
}
