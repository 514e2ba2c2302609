import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the revocation gauges read at scrape time. */
export interface RevocationState {
  isFresh(): boolean;
  readonly appliedSeq: number;
  readonly reloads: number;
}

/** The broker's Prometheus metrics; one registry per broker so tests and `up` can run several. */
export function createBrokerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fleetkey_broker_process_' });
  return {
    registry,
    connected: new Gauge({ name: 'fleetkey_broker_connected_clients', help: 'Clients with an open MQTT session', registers: [registry] }),
    connects: new Counter({ name: 'fleetkey_broker_connects_total', help: 'Accepted MQTT connections', registers: [registry] }),
    refusals: new Counter({
      name: 'fleetkey_broker_refusals_total',
      help: 'Refused connections, publishes and subscriptions, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    messagesIn: new Counter({ name: 'fleetkey_broker_messages_in_total', help: 'PUBLISH packets accepted from clients', registers: [registry] }),
    messagesOut: new Counter({ name: 'fleetkey_broker_messages_out_total', help: 'PUBLISH packets delivered to clients', registers: [registry] }),
    sessionQueueDrops: new Counter({
      name: 'fleetkey_broker_session_queue_dropped_total',
      help: 'QoS 1 messages not queued for a persistent session because its queue was full (embedded broker, --max-session-queue)',
      registers: [registry],
    }),
    queueMisses: new Counter({
      name: 'fleetkey_broker_session_queue_misses_total',
      help: "QoS 1 messages sent to a persistent session that its queue no longer held (a duplicate of a message just sent from the queue, or one queued before its subscription); sent, not dropped",
      registers: [registry],
    }),
    kicks: new Counter({
      name: 'fleetkey_broker_kicks_total',
      help: 'Sessions closed by the broker, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    superseded: new Counter({
      name: 'fleetkey_broker_certificates_superseded_total',
      help: 'Certificates revoked as superseded when a device first connected with the certificate that replaced them',
      registers: [registry],
    }),
    revocationToKick: new Histogram({
      name: 'fleetkey_broker_revocation_to_kick_seconds',
      help: 'From a revocation being recorded to the revoked session being closed',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** A gauge that reads `value` when scraped. */
function scrapedGauge(metrics: BrokerMetrics, name: string, help: string, value: () => number): void {
  new Gauge({ name, help, registers: [metrics.registry], collect() { this.set(value()); } });
}

/** A counter that reads its total from `value` when scraped (the count is kept elsewhere). */
function scrapedCounter(metrics: BrokerMetrics, name: string, help: string, value: () => number): void {
  new Counter({
    name, help, registers: [metrics.registry],
    collect() {
      this.reset();
      this.inc(value());
    },
  });
}

/** Gauges of the revocation cache, read when scraped (nothing on the CONNECT path). */
export function revocationMetrics(metrics: BrokerMetrics, revocations: RevocationState): void {
  scrapedGauge(metrics, 'fleetkey_broker_revocations_fresh', '1 when every revocation is known (CONNECTs are checked), 0 while the store is unreachable or behind (CONNECTs get CONNACK 3)', () => (revocations.isFresh() ? 1 : 0));
  scrapedGauge(metrics, 'fleetkey_broker_revocations_applied_seq', 'The store revocation sequence this broker has applied', () => revocations.appliedSeq);
  scrapedCounter(metrics, 'fleetkey_broker_revocation_reloads_total', 'Times the revoked set was read again after the cache was stale', () => revocations.reloads);
}

/** What the load gauges read at scrape time (broker/outbound-limit.ts, broker/admission.ts). */
export interface LoadState {
  bufferedBytes(): number;
  backlogged(): number;
  overloaded(): boolean;
  readonly waiting: number;
  readonly inProgress: number;
  readonly admitted: number;
}

/** Gauges of outbound buffers and connect admission, read when scraped. */
export function loadMetrics(metrics: BrokerMetrics, load: LoadState): void {
  scrapedGauge(metrics, 'fleetkey_broker_outbound_buffered_bytes', 'Bytes held unsent for clients whose sockets are full', () => load.bufferedBytes());
  scrapedGauge(metrics, 'fleetkey_broker_outbound_backlogged_clients', 'Clients whose sockets are full (waiting to drain)', () => load.backlogged());
  scrapedGauge(metrics, 'fleetkey_broker_overloaded', '1 while unsent bytes are over the cap (new CONNECTs get CONNACK 3)', () => (load.overloaded() ? 1 : 0));
  scrapedGauge(metrics, 'fleetkey_broker_connects_waiting', 'TCP connections waiting for connect admission (their TLS handshake not started)', () => load.waiting);
  scrapedGauge(metrics, 'fleetkey_broker_handshakes_in_progress', 'TLS handshakes under way', () => load.inProgress);
  scrapedCounter(metrics, 'fleetkey_broker_connects_admitted_total', 'TCP connections admitted to a TLS handshake', () => load.admitted);
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;

/** Messages waiting in persistent sessions' queues on the embedded broker, read when scraped. */
export function sessionQueueMetrics(metrics: BrokerMetrics, queued: () => number): void {
  scrapedGauge(metrics, 'fleetkey_broker_session_queued_messages', 'QoS 1 messages waiting in persistent sessions\' queues (embedded broker; bounded per session by --max-session-queue)', queued);
}
