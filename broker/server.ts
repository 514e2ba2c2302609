import { once, type EventEmitter } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { CERT_TIME_CODES, certTimeMessage, certTimeReason } from '../certs/clock.js';
import { registerStoreHealthMetrics } from '../store/health-metrics.js';
import { RevocationCache } from '../store/revocation-cache.js';
import { confirmConnectUse } from '../store/succession.js';
import { connectAdmission } from './admission.js';
import { dedupeByRepeatOnly } from './delivery-dedupe.js';
import { sendWithoutQueueEntry } from './session-queue.js';
import { limitSessionQueues } from './session-queue-limit.js';
import { answerCensus } from './census.js';
import { securityHooks } from './hooks.js';
import { createBrokerMetrics, loadMetrics, revocationMetrics, sessionQueueMetrics, type BrokerMetrics } from './metrics.js';
import { outboundLimiter } from './outbound-limit.js';
import { resolveBrokerOptions, type BrokerOptionsInput, type BrokerTls } from './options.js';
import { packetSizeLimit } from './packet-limit.js';
import { SessionRegistry } from './sessions.js';
import { writeCoalescer } from './write-coalescing.js';

export interface FleetBroker {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Reloads the CA bundle and server certificate for new connections; open sessions stay. */
  reloadTls(): Promise<void>;
  /** False while revocations may be stale (the store is away or behind): CONNECTs then get CONNACK 3. For /readyz. */
  isReady(): boolean;
  /** True while unsent bytes over all clients exceed `maxBufferedBytes`: CONNECTs then get CONNACK 3. For /readyz. */
  isOverloaded(): boolean;
  /** Stops accepting, closes every session, releases the store subscriptions. */
  close(): Promise<void>;
  readonly metrics: BrokerMetrics;
  readonly sessions: SessionRegistry;
}

function secureContextOptions(tls: BrokerTls) {
  return { ca: [...tls.ca], cert: tls.cert, key: tls.key };
}

/** Builds the broker: Aedes behind a mutual-TLS listener, identity from the certificate, ACL, live revocation. */
export async function createBroker(input: BrokerOptionsInput): Promise<FleetBroker> {
  const opts = resolveBrokerOptions(input);
  const tls = await opts.tls();
  const log = opts.logger.child({ component: 'broker' });
  const metrics = createBrokerMetrics();
  registerStoreHealthMetrics(metrics.registry, 'fleetkey_broker_', () => opts.store.health());
  const sessions = new SessionRegistry(metrics, log);
  const revocations = await RevocationCache.open(opts.store, log);
  revocationMetrics(metrics, revocations);
  opts.cluster?.logTo?.(log);
  const limiter = outboundLimiter(
    { messages: opts.maxQueuedMessages, bytes: opts.maxQueuedBytes, drainTimeoutMs: opts.drainTimeoutSeconds * 1000 },
    (client, reason, backlog) => {
      metrics.kicks.inc({ reason });
      log.warn({ event: 'slow-client-dropped', reason, clientId: client.id, queuedBytes: backlog.bytes, queuedMessages: backlog.messages }, 'client dropped: it does not take its messages');
    },
  );
  const isOverloaded = () => limiter.bufferedBytes() > opts.maxBufferedBytes;

  const aedes = await Aedes.createBroker({
    ...(opts.cluster ? { mq: opts.cluster.mq, persistence: opts.cluster.persistence } : {}),
    queueLimit: opts.queueLimit,
    maxInflightInbound: opts.maxInflightMessages,
    ...securityHooks({
      sessions, revocations, metrics, log, keepalive: opts.keepalive, overloaded: isOverloaded,
      confirmFirstUse: (deviceId, serial) => confirmConnectUse(opts.store, deviceId, serial, revocations.isRevoked, `device:${deviceId}`),
    }),
  });
  const persistence = (aedes as unknown as { persistence: unknown }).persistence;
  sendWithoutQueueEntry(persistence, () => metrics.queueMisses.inc());
  if (!opts.cluster) {
    const queued = limitSessionQueues(persistence, opts.maxSessionQueue, {
      dropped: () => metrics.sessionQueueDrops.inc(),
      full: (clientId, length) => log.warn({ event: 'session-queue-full', clientId, queued: length, limit: opts.maxSessionQueue }, 'a persistent session\'s queue is full; newer messages are not queued for it'),
    });
    sessionQueueMetrics(metrics, queued);
  }
  aedes.on('clientReady', (client) => {
    metrics.connects.inc();
    metrics.connected.set(sessions.size);
    log.info({ event: 'connect', clientId: client.id }, 'client connected');
  });
  aedes.on('clientDisconnect', (client) => log.info({ event: 'disconnect', clientId: client.id }, 'client disconnected'));
  aedes.on('clientError', (client, err) => log.info({ event: 'client-error', clientId: client.id, error: err.message }, 'client connection ended by an error'));
  // A persistence failure aedes cannot pin on one client; with no listener it would end the process.
  (aedes as unknown as EventEmitter).on('error', (err: Error) => log.error({ event: 'broker-error', err }, 'aedes reported an error'));
  const stopCensus = answerCensus(aedes, sessions, log);

  const stopRevoked = opts.store.on('revoked', (event) => {
    if (sessions.kickRevoked(event.serials, undefined, new Date(event.at)) > 0) metrics.connected.set(sessions.size);
  });
  const stopDeviceRevoked = opts.store.on('device-changed', (event) => {
    if (event.status !== 'revoked') return;
    if (sessions.kickRevoked([], event.deviceId, new Date()) > 0) metrics.connected.set(sessions.size);
  });
  // A revocation announced while this process's event feed was cut is found when the cache reloads.
  revocations.onReloaded(() => {
    if (sessions.kickListedIn(revocations) > 0) metrics.connected.set(sessions.size);
  });

  const server = createServer({
    ...secureContextOptions(tls),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  const sockets = new Set<Socket>();
  const coalesceWrites = writeCoalescer();
  const limitPacketSize = packetSizeLimit(opts.maxPacketBytes, (client, length) => {
    metrics.refusals.inc({ reason: 'packet-size' });
    log.warn({ event: 'packet-refused', clientId: client.id, length, limit: opts.maxPacketBytes }, 'packet too large');
  });
  // Shared by every connection (`this` is the socket; aedes sets `conn.client`), so an idle connection
  // carries no listener closures of ours.
  function forgetSocket(this: Socket): void {
    sockets.delete(this);
  }
  function endSession(this: TLSSocket & { client?: Client }): void {
    if (this.client) sessions.remove(this.client);
    metrics.connected.set(sessions.size);
  }
  // TCP is accepted here, paused; TLS starts on a connection when admission lets it (broker/admission.ts).
  const listener = createTcpServer({ pauseOnConnect: true });
  const admission = connectAdmission(
    { ratePerSecond: opts.maxConnectRate, handshakes: opts.maxHandshakes, maxWaiting: opts.maxWaitingConnects, maxWaitMs: opts.connectWaitSeconds * 1000 },
    (socket) => server.emit('connection', socket),
    (socket, reason) => {
      metrics.refusals.inc({ reason });
      log.warn({ event: 'connect-refused', reason, remote: socket.remoteAddress }, 'connection closed before TLS: admission');
    },
  );
  loadMetrics(metrics, {
    bufferedBytes: limiter.bufferedBytes, backlogged: limiter.backlogged, overloaded: isOverloaded,
    get waiting() { return admission.waiting; },
    get inProgress() { return admission.inProgress; },
    get admitted() { return admission.admitted; },
  });
  listener.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', forgetSocket);
    admission.offer(socket);
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    // Node's TLSSocket keeps the TCP socket it wraps as `_parent`.
    const tcp = (socket as unknown as { _parent?: Socket })._parent;
    if (tcp) admission.secured(tcp);
    socket.setNoDelay(true);
    coalesceWrites(socket);
    const client = aedes.handle(socket);
    limitPacketSize(client);
    dedupeByRepeatOnly(client);
    limiter.install(client);
    socket.on('close', endSession);
  });
  server.on('tlsClientError', (err, socket) => {
    // Node verifies the client certificate after the handshake and destroys the socket: the cause is
    // authorizationError (the certificate itself is gone by then).
    const timeReason = certTimeReason((socket as TLSSocket).authorizationError);
    if (timeReason) {
      metrics.refusals.inc({ reason: timeReason });
      const error = certTimeMessage(timeReason, "this broker's", Date.now());
      log.warn({ event: 'tls-refused', reason: timeReason, code: CERT_TIME_CODES[timeReason], remote: socket.remoteAddress, error }, `TLS handshake refused: client ${error}`);
      return;
    }
    metrics.refusals.inc({ reason: 'tls' });
    log.warn({ event: 'tls-refused', remote: socket.remoteAddress, error: err.message, authorizationError: (socket as TLSSocket).authorizationError }, 'TLS handshake refused');
  });

  const reloadTls = async () => {
    server.setSecureContext(secureContextOptions(await opts.tls()));
    log.info({ event: 'tls-reloaded' }, 'TLS material reloaded');
  };
  const stopCaChanged = opts.store.on('ca-changed', () => {
    reloadTls().catch((err: unknown) => log.error({ event: 'tls-reload-failed', err }, 'TLS reload failed; keeping the previous material'));
  });

  return {
    metrics,
    sessions,
    reloadTls,
    isReady: () => revocations.isFresh(),
    isOverloaded,
    async listen() {
      listener.listen(opts.port, opts.host);
      await once(listener, 'listening');
      const address = listener.address() as AddressInfo;
      log.info({ event: 'listening', host: address.address, port: address.port }, 'broker listening');
      return address;
    },
    async close() {
      stopRevoked();
      stopDeviceRevoked();
      stopCaChanged();
      stopCensus();
      revocations.close();
      const closed = listener.listening ? once(listener, 'close') : Promise.resolve();
      listener.close();
      admission.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      sessions.closeAll();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
