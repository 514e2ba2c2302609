export { createKdc, type Kdc, type RotationRequest, type RotationResult } from './kdc.js';
export { kdcDefaults, resolveKdcOptions, type KdcBroker, type KdcOptions, type KdcOptionsInput } from './options.js';
export type { KdcMetrics } from './metrics.js';
