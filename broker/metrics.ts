import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;
