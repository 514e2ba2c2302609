import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** EST operations the enrollment metrics are labelled with. */
export type EnrollMethod = 'simpleenroll' | 'simplereenroll' | 'serverkeygen' | 'bundle';

/** The provisioner's Prometheus metrics; one registry per provisioner, so tests and `up` can run several. */
export function createProvisionerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fleetkey_provisioner_process_' });
  return {
    registry,
    enrollments: new Counter({
      name: 'fleetkey_provisioner_enrollments_total',
      help: 'Enrollment attempts by method and outcome (issued, or the refusal code)',
      labelNames: ['method', 'outcome'] as const,
      registers: [registry],
    }),
    enrollSeconds: new Histogram({
      name: 'fleetkey_provisioner_enroll_duration_seconds',
      help: 'Time to answer an enrollment request, from the body being read to the answer, by method',
      labelNames: ['method'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    enrollRetries: new Counter({
      name: 'fleetkey_provisioner_enroll_retries_total',
      help: 'First enrollments answered again for a retry with the consumed token (lost answer), by method and answer: same-certificate or successor',
      labelNames: ['method', 'answer'] as const,
      registers: [registry],
    }),
    revocations: new Counter({
      name: 'fleetkey_provisioner_revocations_total',
      help: 'Certificates revoked through this provisioner, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'fleetkey_provisioner_rate_limited_total',
      help: 'Enrollment requests refused with 429, by the limit that refused them',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    unavailable: new Counter({
      name: 'fleetkey_provisioner_unavailable_total',
      help: 'Requests answered 503 (with Retry-After), by code: the store unreachable or lost, not ready',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    crlBuilds: new Counter({ name: 'fleetkey_provisioner_crl_builds_total', help: 'CRLs signed by this provisioner', registers: [registry] }),
  };
}

export type ProvisionerMetrics = ReturnType<typeof createProvisionerMetrics>;
