import type { ErrorCode } from '../errors/index.js';

/** Default of how long a call keeps retrying (FLEETKEY_RETRY_SECONDS overrides; 0: never retry). */
export const DEFAULT_RETRY_SECONDS = 60;
/** Backoff when a 503 carries no Retry-After: doubling from 1 s up to 5 s. */
const FIRST_BACKOFF_S = 1;
const MAX_BACKOFF_S = 5;

/** 503 refusals that pass by themselves, and what the CLI says it is waiting for. STORE_STATE_LOST needs an operator. */
const WAITING_FOR: Partial<Record<ErrorCode, string>> = {
  STORE_UNAVAILABLE: 'store unavailable at the provisioner',
  PROVISIONER_NOT_READY: 'provisioner not ready',
};

export function waitingFor(code: ErrorCode): string | undefined {
  return WAITING_FOR[code];
}

/**
 * Calls that may be sent again when a 503 leaves unknown whether the first one was applied:
 * reads, a revocation (a repeat of an applied one is refused DEVICE_STATE_CONFLICT, nothing happens
 * twice) and a token renewal (a repeat replaces the token again; the answer holds the one that works).
 * Not a registration (its tokens would be lost behind DEVICE_EXISTS), a bundle (the token is spent),
 * a re-provisioning, a new API token or a rotation request (each would happen twice).
 */
export function retrySafe(method: string, path: string): boolean {
  if (method === 'GET' || method === 'HEAD') return true;
  if (method !== 'POST') return false;
  const route = path.split('?')[0]!;
  return /^\/v1\/devices\/[^/]+\/(revoke|token)$/.test(route);
}

/** Seconds to wait before attempt `attempt + 1`: the server's Retry-After when it gave one, else backoff. */
export function retryWaitSeconds(attempt: number, retryAfter: string | undefined): number {
  const given = retryAfter === undefined ? Number.NaN : Number(retryAfter);
  if (Number.isInteger(given) && given >= 0) return Math.min(given, 60);
  return Math.min(FIRST_BACKOFF_S * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_S);
}

/** The retry budget: FLEETKEY_RETRY_SECONDS when set to a whole number ≥ 0, else the default. */
export function retrySecondsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.FLEETKEY_RETRY_SECONDS;
  if (value === undefined || value === '') return DEFAULT_RETRY_SECONDS;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_RETRY_SECONDS;
}

export interface RetryNotice {
  readonly method: string;
  readonly path: string;
  readonly code: ErrorCode;
  readonly waitingFor: string;
  readonly attempt: number;
  readonly waitSeconds: number;
}

/** The line the CLI prints on stderr before each wait (with --json as well: stdout stays the result's). */
export function retryLine(n: RetryNotice): string {
  return `${n.waitingFor}; retrying in ${n.waitSeconds} s (attempt ${n.attempt + 1})…`;
}
