import type { MqttClient } from 'mqtt';
import { parseTopic } from '../protocol/topics.js';
import { RevocationCache } from '../store/revocation-cache.js';
import type { EpochProgress, EpochRecord } from '../store/types.js';
import { AckRecorder } from './acks.js';
import { CertificateDirectory } from './certificates.js';
import { ConsumerGrants } from './consumers.js';
import { nowMs, type KdcContext } from './context.js';
import { EpochKeeper } from './epochs.js';
import { GrantPool } from './grant-pool.js';
import { missedRotationRequest } from './missed-requests.js';
import { createKdcMetrics, type KdcMetrics } from './metrics.js';
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
  const link: { client?: MqttClient } = {};
  const ctx: KdcContext = {
    opts, store: opts.store, log, signer, pool, revocations,
    metrics: createKdcMetrics(opts.registry),
    epochs: new EpochKeeper(opts.store, opts.kek, log),
    presence: new Presence(),
    directory: new CertificateDirectory(opts.store, revocations, opts.clock, opts.consumerCertificates),
    publish: (topic, payload) => link.client
      ? link.client.publishAsync(topic, payload, { qos: 1, retain: false }).then(() => undefined)
      : Promise.reject(new Error('not connected to the broker')),
    grantedIn: new Map(),
  };
  const cleanup: Array<() => unknown> = [() => revocations.close(), () => pool.close(), () => ctx.epochs.wipe()];
  try {
    return await start(ctx, link, cleanup);
  } catch (err) {
    for (const step of cleanup.reverse()) await step();
    throw err;
  }
}

async function start(ctx: KdcContext, link: { client?: MqttClient }, cleanup: Array<() => unknown>): Promise<Kdc> {
  const { opts, store, log } = ctx;
  const clientId = `kdc-${opts.name}`;
  const current = await ctx.epochs.load(nowMs(ctx));
  ctx.metrics.epoch.set(current.epoch);
  await seedPresence(ctx, current);
  const consumers = new ConsumerGrants(ctx);
  const rotation = new Rotation(ctx, consumers);
  const requests = new DeviceRequests(ctx);
  const acks = new AckRecorder(ctx);

  const route = (topic: string, payload: Buffer): void => {
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
  /** A request accepted while this KDC was down or deaf, for the epoch after the current one, is carried out now. */
  const answerMissedRequest = async (): Promise<void> => {
    try {
      const current = (await ctx.epochs.refresh())?.epoch ?? 0;
      ctx.epochs.noteRotated(current);
      const missed = await missedRotationRequest(store, current);
      if (missed === undefined || rotation.busy) return;
      log.warn({ event: 'rotation-request-recovered', epoch: current + 1, requestedBy: missed.requestedBy }, 'carrying out a rotation request whose event this KDC missed');
      await rotateLogged({ ...missed, expectedEpoch: current });
    } catch (err) {
      log.error({ event: 'rotation-request-check-failed', err }, 'could not look for missed rotation requests');
    }
  };
  // Rotations asked for while the KDC still connects wait for the broker (their expected epoch is already fixed).
  const rotateLogged = (request: RotationRequest) => online.then(() => rotation.rotate(request)).catch((err: unknown) => {
    ctx.metrics.rotations.inc({ outcome: 'failed' });
    log.error({ event: 'rotation-failed', err }, 'rotation failed');
  });
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
    // the rotation requests.
    store.on('events-resumed', () => void answerMissedRequest()),
  ];
  cleanup.push(() => unsubscribe.forEach((stop) => stop()));
  const timer = opts.rotateEverySeconds > 0 ? setInterval(() => {
    const epoch = ctx.epochs.current;
    if (!epoch || rotation.busy || nowMs(ctx) - epoch.createdAt.getTime() < opts.rotateEverySeconds * 1000) return;
    void rotateLogged({ requestedBy: 'schedule', expectedEpoch: epoch.epoch }); // a replica that was late loses the compare-and-set
  }, Math.min(5000, (opts.rotateEverySeconds * 1000) / 4)) : undefined;
  timer?.unref();
  cleanup.push(() => clearInterval(timer));

  const client: MqttClient = await connectKdc(opts.broker, clientId, route);
  link.client = client;
  connected();
  cleanup.push(() => client.endAsync().catch(() => undefined));
  client.on('offline', () => log.warn({ event: 'broker-offline' }, 'lost the broker; reconnecting'));
  client.on('connect', () => log.info({ event: 'broker-connected' }, 'connected to the broker'));

  const ready = rotation.completeOnStart().then(() => undefined, (err: unknown) => {
    log.error({ event: 'rotation-resume-failed', err }, 'could not complete the interrupted rotation');
  }).then(answerMissedRequest);
  log.info({ event: 'kdc-started', clientId, epoch: current.epoch, devices: ctx.presence.size, workers: opts.workers }, 'KDC serving');
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
        await acks.drain();
        for (const step of cleanup.reverse()) await step();
      })();
      return closed;
    },
  };
}

/** After a start: devices granted in the current epoch (and the one before, while distributing) count as connected, unconfirmed. */
async function seedPresence(ctx: KdcContext, current: EpochRecord): Promise<void> {
  const epochs = current.state === 'distributing' && current.epoch > 1 ? [current.epoch, current.epoch - 1] : [current.epoch];
  for (const epoch of epochs) ctx.presence.seed(await ctx.store.listGranted(epoch).catch(() => []));
  ctx.metrics.connectedDevices.set(ctx.presence.size);
}
