import type { MqttClient } from 'mqtt';
import { certTimeReason } from '../certs/clock.js';
import type { ErrorCode } from '../errors/index.js';
import type { DeviceKeyring } from '../protocol/device-keyring.js';
import { readEnvelopeHeader } from '../protocol/envelope.js';
import { deviceTopics } from '../protocol/topics.js';
import { fullJitter } from './backoff.js';
import { enroll, renew } from './credentials.js';
import type { SimEnv, SimEvent } from './env.js';
import { renewalTime, type DeviceIdentity } from './identity.js';
import { classifyLinkError, closeLink, openLink, type TlsSessionCache } from './link.js';
import { Rekey } from './rekey.js';
import type { Scheduled } from './scheduler.js';
import { Outbox, readingPayload } from './telemetry.js';

export type DeviceStage = 'new' | 'enrolling' | 'connecting' | 'online' | 'offline' | 'stopped' | 'failed';

/**
 * One simulated device doing what a real one does (docs/protocol.md §3, §8): enroll over EST unless it
 * holds a bundle, connect over mutual TLS, subscribe to its rekey topic, request a grant, verify and
 * install it, ack, seal telemetry; on a lost connection, back off with full jitter and reconnect,
 * keep its key and seq, and request again; renew its certificate at two thirds of its lifetime; stop
 * when the broker says it is revoked. Every timer is an entry on the fleet's one wheel.
 */
export class SimDevice {
  stage: DeviceStage = 'new';
  failure: ErrorCode | undefined;
  identity: DeviceIdentity | undefined;
  readonly #env: SimEnv;
  readonly #rekey: Rekey;
  readonly #outbox: Outbox;
  readonly #tls: TlsSessionCache = { session: undefined };
  readonly #phase = Math.random() * 2 * Math.PI;
  #token: string | undefined;
  #client: MqttClient | undefined;
  #linkError: (Error & { code?: unknown }) | undefined;
  #attempt = 0;
  #everOnline = false;
  #renewing = false;
  #reading = 0;
  #lastKey = '';
  #startedAt = 0;
  #telemetry: Scheduled | undefined;
  #retry: Scheduled | undefined;
  #renewal: Scheduled | undefined;

  constructor(env: SimEnv, readonly id: string, source: { identity: DeviceIdentity } | { token: string }) {
    this.#env = env;
    this.#rekey = new Rekey(env, {
      id,
      client: () => this.#client,
      identity: () => this.identity,
      firstKey: () => {
        env.counters.firstKeyMs.add(performance.now() - this.#startedAt);
        if (env.device.telemetryGate.open) this.beginTelemetry();
      },
    });
    this.#outbox = new Outbox(deviceTopics.telemetry(id), env.device.qos, env.device.outboxMax, env.counters);
    if ('identity' in source) this.identity = source.identity;
    else this.#token = source.token;
  }

  /** Holds a session key (it keeps it across reconnects). */
  get keyed(): boolean {
    return this.#rekey.keyed;
  }

  get keyring(): DeviceKeyring {
    return this.#rekey.keyring;
  }

  get pendingMessages(): number {
    return this.#outbox.size;
  }

  start(): void {
    this.#startedAt = performance.now();
    if (this.identity) this.#withIdentity();
    else void this.#enroll();
  }

  /** Stops sending readings; the connection stays for unacknowledged messages. */
  quiesce(): void {
    this.#telemetry?.cancel();
    this.#telemetry = undefined;
  }

  /** Ends the device: timers cancelled, connection closed with DISCONNECT once in-flight messages are acknowledged. */
  async stop(): Promise<void> {
    if (this.stage !== 'failed') this.stage = 'stopped';
    this.#cancelTimers();
    await this.#client?.endAsync(false).catch(() => undefined);
  }

  /** Closes the connection at once (after stop(), for a broker that no longer answers). */
  kill(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.end(true);
  }

  async #enroll(): Promise<void> {
    this.stage = 'enrolling';
    const result = await enroll(this.#env, this.id, this.#token!, () => this.#alive());
    this.#token = undefined;
    if (!this.#alive()) return;
    if (!result.ok) return this.#fail(result.code);
    this.identity = result.identity;
    this.#emit({ type: 'enrolled', deviceId: this.id, serial: result.identity.serial });
    this.#withIdentity();
  }

  #withIdentity(): void {
    if (this.identity!.notAfter <= Date.now()) return this.#fail('SIM_CERT_EXPIRED');
    this.#scheduleRenewal();
    this.#connect();
  }

  #connect(): void {
    this.#retry = undefined;
    if (!this.#alive() || this.#client || this.stage === 'connecting') return;
    this.stage = 'connecting';
    void this.#env.connectSlots.run(() => this.#dial());
  }

  /** One connection attempt; resolves (frees the slot) at CONNACK or when it fails. */
  #dial(): Promise<void> {
    if (!this.#alive()) return Promise.resolve();
    if (this.#renewing) {
      this.stage = 'offline'; // the renewal connects when it is done
      return Promise.resolve();
    }
    const started = performance.now();
    const client = openLink(this.identity!, this.#tls, this.#env.link);
    this.#client = client;
    this.#linkError = undefined;
    return new Promise((settled) => {
      client.on('connect', () => {
        settled();
        this.#online(client, performance.now() - started);
      });
      client.on('error', (err) => (this.#linkError = err));
      client.on('close', () => {
        settled();
        this.#lost(client);
      });
      client.on('message', (topic, payload) => {
        if (topic === deviceTopics.rekey(this.id)) this.#rekey.receive(payload);
      });
    });
  }

  #online(client: MqttClient, ms: number): void {
    const counters = this.#env.counters;
    this.stage = 'online';
    this.#attempt = 0;
    counters.connects++;
    if (this.#everOnline) counters.reconnects++;
    this.#everOnline = true;
    counters.connectMs.add(ms);
    const resumed = (client.stream as { isSessionReused?: () => boolean }).isSessionReused?.() ?? false;
    this.#emit({ type: 'connected', deviceId: this.id, ms, resumed, serial: this.identity!.serial });
    // docs/protocol.md §2: subscribe to the rekey topic before publishing a request.
    client.subscribe(deviceTopics.rekey(this.id), { qos: 1 }, (err, granted) => {
      if (client !== this.#client) return;
      if (err || granted?.[0]?.qos === 128) {
        counters.errors.add('SIM_CONNECT_FAILED');
        client.end(true);
        return;
      }
      this.#rekey.request();
      this.#outbox.resend(client);
    });
  }

  /** Starts the reading timer (once the device holds a key), at a random phase so that the fleet's readings are spread. */
  beginTelemetry(): void {
    if (this.#telemetry || !this.#alive() || !this.keyed) return;
    const period = 1000 / this.#env.device.rate;
    const late = (beats: number) => (this.#env.counters.late += beats);
    this.#telemetry = this.#env.wheel.every(period, () => this.#tick(), Date.now() + Math.random() * period, late);
  }

  /** One reading: sealed with the key in use (switching at a pending key's nbf) and published. */
  #tick(): void {
    const counters = this.#env.counters;
    const client = this.#client;
    if (this.stage !== 'online' || !client || !this.keyring.current()) {
      counters.skipped++;
      return;
    }
    const reading = this.#reading++;
    const envelope = this.keyring.sealNext(readingPayload(this.#phase, reading));
    counters.sealed++;
    const { epoch, grant, seq } = readEnvelopeHeader(envelope);
    const key = `${epoch}/${grant}`;
    if (this.#lastKey !== '' && key !== this.#lastKey) counters.keySwitches++;
    this.#lastKey = key;
    this.#emit({ type: 'sealed', deviceId: this.id, epoch, grant, seq, reading });
    this.#outbox.send(client, envelope);
  }

  /** The connection closed (or never opened): stop, or try again after a jittered backoff. */
  #lost(client: MqttClient): void {
    if (client !== this.#client) return;
    this.#client = undefined;
    client.end(true); // fails the callbacks of unacknowledged publishes: they wait in the outbox
    this.#rekey.cancel();
    if (!this.#alive()) return;
    const failure = this.#linkError ? classifyLinkError(this.#linkError) : { code: 'SIM_CONNECT_FAILED' as const, terminal: false };
    const timeReason = certTimeReason(failure.code);
    if (timeReason) this.#env.counters.clock.certificate('broker', timeReason);
    this.#emit({ type: 'disconnected', deviceId: this.id, code: failure.code });
    this.stage = 'offline';
    if (this.#renewing) return; // the renewal reconnects with the new certificate
    if (failure.terminal) return this.#fail(failure.code);
    this.#env.counters.errors.add(failure.code);
    this.#retry = this.#env.wheel.after(fullJitter(this.#attempt++, this.#env.backoff), () => this.#connect());
  }

  #scheduleRenewal(): void {
    this.#renewal?.cancel();
    if (!this.#env.device.renew || !this.#env.est) return;
    const due = Math.max(renewalTime(this.identity!), Date.now() + Math.random() * 1000);
    this.#renewal = this.#env.wheel.at(due, () => void this.#renew());
  }

  /**
   * EST simplereenroll, then reconnect with the new certificate (and a fresh TLS session), whose
   * first CONNECT supersedes the old one (store/succession.ts). While the request is out, a lost
   * connection waits for the answer rather than reconnecting with the old certificate.
   */
  async #renew(): Promise<void> {
    this.#renewal = undefined;
    const previous = this.identity!;
    this.#renewing = true;
    const result = await renew(this.#env, previous, () => this.#alive());
    if (!this.#alive()) return;
    if (!result.ok) {
      this.#renewing = false;
      if (!this.#client) this.#connect();
      this.#renewal = this.#env.wheel.after(this.#env.backoff.capMs, () => void this.#renew());
      return;
    }
    this.identity = result.identity;
    this.#tls.session = undefined;
    this.#env.counters.renewals++;
    this.#emit({ type: 'renewed', deviceId: this.id, serial: result.identity.serial, previous: previous.serial });
    this.#scheduleRenewal();
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      await closeLink(client);
      if (this.#alive()) this.stage = 'offline';
    }
    this.#renewing = false;
    this.#retry?.cancel();
    this.#attempt = 0;
    this.#connect(); // a no-op when an attempt is queued: it will use the new certificate
  }

  #fail(code: ErrorCode): void {
    this.stage = 'failed';
    this.failure = code;
    this.#cancelTimers();
    const client = this.#client;
    this.#client = undefined;
    client?.end(true);
    this.#emit({ type: 'failed', deviceId: this.id, code });
  }

  #alive(): boolean {
    return this.stage !== 'stopped' && this.stage !== 'failed';
  }

  #cancelTimers(): void {
    for (const timer of [this.#telemetry, this.#retry, this.#renewal]) timer?.cancel();
    this.#telemetry = this.#retry = this.#renewal = undefined;
    this.#rekey.cancel();
  }

  #emit(event: SimEvent): void {
    this.#env.observe?.(event);
  }
}
