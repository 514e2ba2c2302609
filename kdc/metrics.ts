import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The KDC's Prometheus metrics (names prefixed `fleetkey_kdc_`). */
export interface KdcMetrics {
  readonly registry: Registry;
  /** Grants by kind (request, rotation, epoch) and outcome (issued, refused, failed, answered-elsewhere). */
  readonly grants: Counter<'kind' | 'outcome'>;
  /** Refused rekey requests by reason (unknown, revoked, no-certificate, consumer-unknown, rate-limited, malformed). */
  readonly refusals: Counter<'reason'>;
  /** Acks by outcome (recorded, invalid, failed; retried: kept while the store was unavailable). */
  readonly acks: Counter<'outcome'>;
  readonly rotations: Counter<'outcome'>;
  /** Seconds from the start of a rotation to its last grant published. */
  readonly rotationSeconds: Histogram;
  /** Waits of a rotation for the store (STORE_UNAVAILABLE), each followed by a retry. */
  readonly rotationRetries: Counter;
  /** Times the store's current epoch was found behind the KDC's high-water mark (the store lost writes). */
  readonly storeBehind: Counter;
  /** Connects to the broker at start that failed and were tried again (kdc/broker-wait.ts). */
  readonly brokerConnectRetries: Counter;
  readonly epoch: Gauge;
  readonly connectedDevices: Gauge;
}

export function createKdcMetrics(registry: Registry = new Registry()): KdcMetrics {
  const registers = [registry];
  return {
    registry,
    grants: new Counter({ name: 'fleetkey_kdc_grants_total', help: 'Grants by kind and outcome', labelNames: ['kind', 'outcome'], registers }),
    refusals: new Counter({ name: 'fleetkey_kdc_refusals_total', help: 'Rekey requests refused, by reason', labelNames: ['reason'], registers }),
    acks: new Counter({ name: 'fleetkey_kdc_acks_total', help: 'Grant acknowledgements by outcome', labelNames: ['outcome'], registers }),
    rotations: new Counter({ name: 'fleetkey_kdc_rotations_total', help: 'Rotations by outcome (rotated, lost, in-progress, failed)', labelNames: ['outcome'], registers }),
    rotationSeconds: new Histogram({
      name: 'fleetkey_kdc_rotation_seconds', help: 'From rotation start to the last grant published', registers,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
    }),
    rotationRetries: new Counter({ name: 'fleetkey_kdc_rotation_retries_total', help: 'Rotation steps retried after the store was unavailable', registers }),
    storeBehind: new Counter({ name: 'fleetkey_kdc_epoch_store_behind_total', help: 'The store\'s epoch was found behind the KDC\'s high-water mark (lost writes)', registers }),
    brokerConnectRetries: new Counter({ name: 'fleetkey_kdc_broker_connect_retries_total', help: 'Broker connects at start that failed and were tried again', registers }),
    epoch: new Gauge({ name: 'fleetkey_kdc_epoch', help: 'The current epoch', registers }),
    connectedDevices: new Gauge({ name: 'fleetkey_kdc_connected_devices', help: 'Devices the KDC counts as connected', registers }),
  };
}
