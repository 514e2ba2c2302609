export { createFleet, type FleetProgress, type SimFleet } from './fleet.js';
export { fleetDefaults, resolveFleetOptions, type DeviceSource, type FleetOptions, type FleetOptionsInput } from './options.js';
export { BUNDLE_FILES, fleetTrust, loadBundle, deviceIdentity, type DeviceIdentity, type FleetTrust } from './identity.js';
export type { SimEvent } from './env.js';
export type { SimReport } from './report.js';
export { readingSeq } from './telemetry.js';
export { enrollmentRecord, makeBundle, recordBundles, trustOf, writeBundle, type MadeBundle } from './factory.js';
