import type { Logger } from 'pino';
import type { RevocationCache } from '../store/revocation-cache.js';
import type { Store } from '../store/types.js';
import type { CrlPublisher } from './crl-publisher.js';
import type { EnrollGuard } from './enroll-guard.js';
import type { ProvisionerMetrics } from './metrics.js';
import type { ProvisionerOptions } from './options.js';
import type { ReenrollDeps } from './reenroll.js';

/** What the route modules share; built once by createProvisioner. */
export interface ProvisionerContext {
  readonly opts: Readonly<ProvisionerOptions>;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: ProvisionerMetrics;
  readonly deps: ReenrollDeps;
  readonly revocations: RevocationCache;
  readonly guard: EnrollGuard;
  readonly crl: CrlPublisher;
}
