import type { MqttClient } from 'mqtt';
import { isFleetkeyError } from '../errors/index.js';
import { CENSUS_FILTER, parseCensus } from '../protocol/census.js';
import { parseTopic } from '../protocol/topics.js';
import { registerStoreHealthMetrics } from '../store/health-metrics.js';
import { RevocationCache } from '../store/revocation-cache.js';
import type { EpochProgress, EpochRecord } from '../store/types.js';
import { AckRecorder } from './acks.js';
import { CertificateDirectory } from './certificates.js';
import { ConsumerGrants } from './consumers.js';
import { nowMs, type KdcContext } from './context.js';
import { EpochKeeper } from './epochs.js';
import { GrantPool } from './grant-pool.js';
import { missedRotationRequest } from './missed-requests.js';
import { EpochHighWater } from './high-water.js';
import { createKdcMetrics, type KdcMetrics } from './metrics.js';
import { untilBrokerAnswers } from './broker-wait.js';
import { connectKdc, parsePresence } from './mqtt.js';
import { resolveKdcOptions, type KdcOptionsInput } from './options.js';
import { Presence } from './presence.js';
import { DeviceRequests } from './requests.js';
import { Rotation, type RotationRequest, type RotationResult } from './rotation.js';
import { loadSigner } from './signer.js';

export type { RotationRequest, RotationResult } from './rotation.js';

/** A running key distribution center (DESIGN.md "Session keys"). */
export interface Kdc {
  /** `kdc-<name>`. */
  readonly clientId: string;
  readonly metrics: KdcMetrics;
  /** Resolves when start-up work is done: an interrupted rotation completed. */
  readonly ready: Promise<void>;
  /** Rotates now (also: the store's `rotate-requested` event, and the schedule). */
  rotate(request?: RotationRequest): Promise<RotationResult>;
  currentEpoch(): EpochRecord | undefined;
  /** Acks / devices granted, from the store; the current epoch by default. */
  progress(epoch?: number): Promise<EpochProgress>;
  /** Devices the KDC counts as connected (the next rotation's targets). */
  connectedDevices(): number;
  /** Resolves once every request and ack received so far is handled. */
  drain(): Promise<void>;
  /** Stops serving; the store stays open (it is the caller's). */
  close(): Promise<void>;
}

/**
 * Builds and starts a KDC: loads the signer and the epochs, seeds its view of connected devices from
 * the store, completes an interrupted rotation, connects to the broker, serves rekey requests and
 * acks, and rotates on request or on schedule. Several replicas may share one Redis store.
 */
export async function createKdc(input: KdcOptionsInput): Promise<Kdc> {
  const opts = resolveKdcOptions(input);
  const { signer, material } = loadSigner(opts.broker.cert, opts.broker.key);
  const log = opts.logger.child({ component: 'kdc', name: opts.name });
  const revocations = await RevocationCache.open(opts.store, log);
  const pool = new GrantPool(material, opts.workers, log);
  const link: { client?: MqttClient; epochMissing?: () => void } = {};
  const ctx: KdcContext = {
    opts, store: opts.store, log, signer, pool, revocations,
    metrics: createKdcMetrics(opts.registry),
    epochs: new EpochKeeper(opts.store, opts.kek, log, EpochHighWater.open(opts.highWaterFile)),
    presence: new Presence(),
    directory: new CertificateDirectory(opts.store, revocations, opts.clock, opts.consumerCertificates),
    publish: (topic, payload) => link.client
      ? link.client.publishAsync(topic, payload, { qos: 1, retain: false }).then(() => undefined)
      : Promise.reject(new Error('not connected to the broker')),
    epochMissing: () => link.epochMissing?.(),
    grantedIn: new Map(),
  };
  registerStoreHealthMetrics(ctx.metrics.registry, 'fleetkey_kdc_', () => opts.store.health());
  const cleanup: Array<() => unknown> = [() => revocations.close(), () => pool.close(), () => ctx.epochs.wipe()];
  try {
    return await start(ctx, link, cleanup);
  } catch (err) {
    for (const step of cleanup.reverse()) await step();
    throw err;
  }
}

async function start(ctx: KdcContext, link: { client?: MqttClient; epochMissing?: () => void }, cleanup: Array<() => unknown>): Promise<Kdc> {
  const { opts, store, log } = ctx;
  const clientId = `kdc-${opts.name}`;
  const current = await ctx.epochs.load(nowMs(ctx));
  if (current) ctx.metrics.epoch.set(current.epoch);
  await seedPresence(ctx, current);
  const consumers = new ConsumerGrants(ctx);
  const rotation = new Rotation(ctx, consumers, clientId);
  cleanup.push(() => rotation.close());
  const requests = new DeviceRequests(ctx);
  const acks = new AckRecorder(ctx);

  const route = (topic: string, payload: Buffer): void => {
    const census = parseCensus(topic, payload);
    if (census) {
      ctx.presence.census(census.node, census.devices);
      ctx.metrics.connectedDevices.set(ctx.presence.size);
      log.info({ event: 'presence-census', node: census.node, part: census.part, parts: census.parts, devices: census.devices.length }, 'broker census received');
      return;
    }
    const presence = parsePresence(topic, payload);
    if (presence?.clientId === clientId) return;
    if (presence) {
      if (presence.connected) ctx.presence.connected(presence.clientId, presence.node);
      else {
        ctx.presence.disconnected(presence.clientId, presence.node);
        consumers.disconnected(presence.clientId);
      }
      ctx.metrics.connectedDevices.set(ctx.presence.size);
      return;
    }
    const parsed = parseTopic(topic);
    if (parsed?.kind === 'rekey-request' && parsed.scope === 'device') requests.receive(parsed.owner, payload);
    else if (parsed?.kind === 'rekey-ack' && parsed.scope === 'device') acks.receive(parsed.owner, payload);
    else if (parsed?.kind === 'rekey-request') void consumers.receive(parsed.owner, payload).catch((err: unknown) => log.error({ event: 'epoch-grant-failed', err, clientId: parsed.owner }, 'epoch grant failed'));
    else if (parsed?.kind === 'rekey-ack') consumers.ack(parsed.owner, payload);
  };
  let connected: () => void = () => undefined;
  const online = new Promise<void>((resolve) => (connected = resolve));
  // Rotations asked for while the KDC still connects wait for the broker (their expected epoch is already fixed).
  const rotateLogged = (request: RotationRequest) => online.then(() => rotation.rotate(request)).catch((err: unknown) => {
    ctx.metrics.rotations.inc({ outcome: 'failed' });
    log.error({ event: 'rotation-failed', err }, 'rotation failed');
    if (isFleetkeyError(err) && err.code === 'EPOCH_NOT_FOUND') link.epochMissing?.();
    return undefined;
  });
  const check = rotationCheck(ctx, rotation, rotateLogged, online);
  link.epochMissing = () => void check('epoch-missing');
  const unsubscribe = [
    // Every replica gets the request; each tries to create the epoch after the one it knew when the
    // request arrived (events come in order), so one wins, and a replica that sees it late loses.
    store.on('rotate-requested', (e) => void rotateLogged({ switchAfterSeconds: e.switchAfterSeconds, requestedBy: e.requestedBy, expectedEpoch: ctx.epochs.known })),
    store.on('rotated', (e) => {
      ctx.epochs.noteRotated(e.epoch);
      void store.getEpoch(e.epoch).then((r) => r && ctx.epochs.adopt(r)).catch((err: unknown) => log.error({ err }, 'epoch refresh failed'));
    }),
    store.on('device-changed', (e) => e.status !== 'active' && ctx.presence.forget(e.deviceId)),
    // Events missed while the feed was cut: the store still knows the current epoch, and the audit log
    // the rotation requests; the store may also have come back without what it had (the high-water mark).
    store.on('events-resumed', () => void check('events-resumed')),
  ];
  cleanup.push(() => unsubscribe.forEach((stop) => stop()));
  const timers = [setInterval(() => void check('periodic'), opts.checkEveryMs)];
  if (opts.rotateEverySeconds > 0) {
    timers.push(setInterval(() => {
      const epoch = ctx.epochs.current;
      if (!epoch || rotation.busy || nowMs(ctx) - epoch.createdAt.getTime() < opts.rotateEverySeconds * 1000) return;
      void rotateLogged({ requestedBy: 'schedule', expectedEpoch: epoch.epoch }); // a replica that was late loses the compare-and-set
    }, Math.min(5000, (opts.rotateEverySeconds * 1000) / 4)));
  }
  for (const timer of timers) timer.unref();
  cleanup.push(() => timers.forEach((timer) => clearInterval(timer)));

  const { client, refused } = await untilBrokerAnswers(log, opts.broker.url, () => connectKdc(opts.broker, clientId, route), () => ctx.metrics.brokerConnectRetries.inc());
  link.client = client;
  connected();
  cleanup.push(() => client.endAsync().catch(() => undefined));
  if (refused.length > 0) log.warn({ event: 'kdc-subscription-refused', filters: refused }, 'the broker refused optional subscriptions: no presence census after a restart');
  client.on('offline', () => log.warn({ event: 'broker-offline' }, 'lost the broker; reconnecting'));
  client.on('connect', () => {
    log.info({ event: 'broker-connected' }, 'connected to the broker');
    // MQTT.js does not subscribe a resumed session again, and connects and disconnects announced while
    // the KDC was away are lost (QoS 0): subscribing to the census again has every broker send one.
    if (refused.length === 0) client.subscribe(CENSUS_FILTER, { qos: 1 }, () => undefined);
  });

  const ready = check('start');
  log.info({ event: 'kdc-started', clientId, epoch: current?.epoch ?? null, highWater: ctx.epochs.highWater.mark?.epoch ?? null, devices: ctx.presence.size, workers: opts.workers }, 'KDC serving');
  let closed: Promise<void> | undefined;
  return {
    clientId,
    metrics: ctx.metrics,
    ready,
    rotate: (request) => rotation.rotate(request),
    currentEpoch: () => ctx.epochs.current,
    progress: async (epoch) => store.epochProgress(epoch ?? ctx.epochs.current!.epoch),
    connectedDevices: () => ctx.presence.size,
    async drain() {
      await requests.drain();
      await acks.drain();
    },
    close() {
      closed ??= (async () => {
        await requests.drain().catch(() => undefined);
        requests.close();
        await acks.drain();
        acks.close();
        for (const step of cleanup.reverse()) await step();
      })();
      return closed;
    },
  };
}

/**
 * The check every replica makes at start, after every gap in its store events, when the store
 * answers EPOCH_NOT_FOUND, and every `checkEveryMs`: a store behind the high-water mark is moved past
 * it (a rotation numbered mark + 1); a distributing epoch without a distributor is taken over; a
 * rotation request whose event was missed is carried out. One check at a time; failures are logged
 * and the next check tries again.
 */
function rotationCheck(
  ctx: KdcContext, rotation: Rotation, rotateLogged: (request: RotationRequest) => Promise<RotationResult | undefined>, online: Promise<void>,
): (why: string) => Promise<void> {
  let running: Promise<void> | undefined;
  const run = async (why: string): Promise<void> => {
    await online;
    if (rotation.busy) return;
    const stored = await ctx.store.currentEpoch();
    if (ctx.epochs.behind(stored)) {
      await rotateLogged({ requestedBy: 'recovery', expectedEpoch: stored?.epoch ?? 0 });
      return;
    }
    await ctx.epochs.refresh();
    if (stored) ctx.epochs.noteRotated(stored.epoch);
    if (stored?.state === 'distributing') {
      const resumed = await rotation.resume();
      if (resumed) ctx.log.info({ event: 'rotation-check', why, outcome: resumed.outcome, epoch: resumed.epoch }, 'rotation taken over');
      return;
    }
    const missed = await missedRotationRequest(ctx.store, stored?.epoch ?? 0);
    if (missed === undefined || rotation.busy) return;
    ctx.log.warn({ event: 'rotation-request-recovered', epoch: (stored?.epoch ?? 0) + 1, requestedBy: missed.requestedBy }, 'carrying out a rotation request whose event this KDC missed');
    await rotateLogged({ ...missed, expectedEpoch: stored?.epoch ?? 0 });
  };
  return (why) => {
    running ??= run(why).catch((err: unknown) => {
      const level = isFleetkeyError(err) && err.code === 'STORE_UNAVAILABLE' ? 'debug' : 'error';
      ctx.log[level]({ event: 'rotation-check-failed', why, err }, 'rotation check failed; the next one tries again');
    }).finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** After a start: devices granted in the current epoch (and the one before, while distributing) count as connected, unconfirmed. */
async function seedPresence(ctx: KdcContext, current: EpochRecord | undefined): Promise<void> {
  if (!current) return;
  const epochs = current.state === 'distributing' && current.epoch > 1 ? [current.epoch, current.epoch - 1] : [current.epoch];
  for (const epoch of epochs) ctx.presence.seed(await ctx.store.listGranted(epoch).catch(() => []));
  ctx.metrics.connectedDevices.set(ctx.presence.size);
}
