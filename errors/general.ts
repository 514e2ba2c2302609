import type { ErrorSection } from './spec.js';

/** Refusals that belong to no single part: configuration, input handling, internal faults. */
export const generalErrors = {
  CONFIG_INVALID: { status: 500, message: 'The configuration is invalid.' },
  INTERNAL: { status: 500, message: 'An internal error occurred.' },
  DATA_DIR_INCOMPLETE: { status: 500, message: 'The data directory is missing files a service needs; run `fleetkey init` first.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  SERVICE_NOT_READY: { status: 503, message: 'The service is running but not ready: its store does not answer, or what it caches from it may be stale.' },
} as const satisfies ErrorSection;
