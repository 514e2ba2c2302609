import { certsErrors } from './certs.js';
import { generalErrors } from './general.js';
import { kdcErrors } from './kdc.js';
import { protocolErrors } from './protocol.js';
import { provisionerErrors } from './provisioner.js';
import { simErrors } from './sim.js';
import { storeErrors } from './store.js';
import type { ErrorSpec } from './spec.js';

export type { ErrorSpec } from './spec.js';

/** Each part's section, by part. A code belongs to exactly one section (a test checks). */
export const sections = {
  general: generalErrors,
  certs: certsErrors,
  store: storeErrors,
  protocol: protocolErrors,
  provisioner: provisionerErrors,
  kdc: kdcErrors,
  sim: simErrors,
} as const;

/**
 * The error catalogue: every refusal fleetkey makes, by stable code.
 * Each part keeps its section in its own file; this is the one table they form.
 * `docs/errors.md` is generated from it (`npm run docs:errors`) and a test keeps the two in step.
 */
export const catalogue = {
  ...generalErrors,
  ...certsErrors,
  ...storeErrors,
  ...protocolErrors,
  ...provisionerErrors,
  ...kdcErrors,
  ...simErrors,
} as const satisfies Readonly<Record<string, ErrorSpec>>;

export type ErrorCode = keyof typeof catalogue;

/** A refusal with a stable code. `detail` is for logs only and never shown to a remote caller. */
export class FleetkeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(catalogue[code].message, options);
    this.name = 'FleetkeyError';
    this.code = code;
    this.status = catalogue[code].status;
    this.detail = detail;
  }

  /** The JSON body every HTTP refusal carries. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isFleetkeyError(err: unknown, code?: ErrorCode): err is FleetkeyError {
  return err instanceof FleetkeyError && (code === undefined || err.code === code);
}
