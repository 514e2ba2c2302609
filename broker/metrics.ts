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

/** Gauges of the revocation cache, read when scraped (nothing on the CONNECT path). */
export function revocationMetrics(metrics: BrokerMetrics, revocations: RevocationState): void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'fleetkey_broker_revocations_fresh', help: '1 when every revocation is known (CONNECTs are checked), 0 while the store is unreachable or behind (CONNECTs get CONNACK 3)', registers,
    collect() { this.set(revocations.isFresh() ? 1 : 0); },
  });
  new Gauge({
    name: 'fleetkey_broker_revocations_applied_seq', help: 'The store revocation sequence this broker has applied', registers,
    collect() { this.set(revocations.appliedSeq); },
  });
  new Counter({
    name: 'fleetkey_broker_revocation_reloads_total', help: 'Times the revoked set was read again after the cache was stale', registers,
    collect() {
      this.reset();
      this.inc(revocations.reloads);
    },
  });
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
  const registers = [metrics.registry];
  new Gauge({
    name: 'fleetkey_broker_outbound_buffered_bytes', help: 'Bytes held unsent for clients whose sockets are full', registers,
    collect() { this.set(load.bufferedBytes()); },
  });
  new Gauge({
    name: 'fleetkey_broker_outbound_backlogged_clients', help: 'Clients whose sockets are full (waiting to drain)', registers,
    collect() { this.set(load.backlogged()); },
  });
  new Gauge({
    name: 'fleetkey_broker_overloaded', help: '1 while unsent bytes are over the cap (new CONNECTs get CONNACK 3)', registers,
    collect() { this.set(load.overloaded() ? 1 : 0); },
  });
  new Gauge({
    name: 'fleetkey_broker_connects_waiting', help: 'TCP connections waiting for connect admission (their TLS handshake not started)', registers,
    collect() { this.set(load.waiting); },
  });
  new Gauge({
    name: 'fleetkey_broker_handshakes_in_progress', help: 'TLS handshakes under way', registers,
    collect() { this.set(load.inProgress); },
  });
  new Counter({
    name: 'fleetkey_broker_connects_admitted_total', help: 'TCP connections admitted to a TLS handshake', registers,
    collect() {
      this.reset();
      this.inc(load.admitted);
    },
  });
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;

/** Messages waiting in persistent sessions' queues on the embedded broker, read when scraped. */
export function sessionQueueMetrics(metrics: BrokerMetrics, queued: () => number): void {
  new Gauge({
    name: 'fleetkey_broker_session_queued_messages',
    help: 'QoS 1 messages waiting in persistent sessions\' queues (embedded broker; bounded per session by --max-session-queue)',
    registers: [metrics.registry],
    collect() {
      this.set(queued());
    },
  });
}
