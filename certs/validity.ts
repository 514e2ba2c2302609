import { randomFillSync } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import { CLOCK_LEEWAY_SECONDS } from './clock.js';

/** Clock skew allowance: every certificate is valid from the clock leeway (5 minutes) before it was issued. */
export const BACKDATE_MS = CLOCK_LEEWAY_SECONDS * 1000;
export const MAX_LIFETIME_DAYS = 3650;
const DAY_MS = 24 * 60 * 60 * 1000;

export const SERIAL_BYTES = 16;
const pool = Buffer.alloc(SERIAL_BYTES * 256);
let poolAt = pool.length;

/**
 * A serial number's INTEGER contents (RFC 5280 §4.1.2.2): 0x00, then 16 random octets whose top
 * bit is forced to 1. The value is thus always exactly 128 bits long (127 random), positive,
 * non-zero and minimally encoded in 17 octets; `X509Certificate.serialNumber` prints the 16
 * random octets as 32 hex digits.
 */
export function newSerial(): Buffer {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const serial = Buffer.allocUnsafe(SERIAL_BYTES + 1);
  serial[0] = 0;
  pool.copy(serial, 1, poolAt, poolAt + SERIAL_BYTES);
  pool.fill(0, poolAt, poolAt + SERIAL_BYTES); // drawn bytes are not kept around
  poolAt += SERIAL_BYTES;
  serial[1] = (serial[1] as number) | 0x80;
  return serial;
}

export function assertLifetimeDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_LIFETIME_DAYS) {
    throw new FleetkeyError('CERT_LIFETIME_INVALID', `lifetime ${days} days`);
  }
}

/**
 * notBefore = now − BACKDATE_MS, notAfter = now + lifetime, both whole seconds (certificates carry no
 * fractions). A leaf never outlives its issuer: notAfter is capped at `notAfterCap`, since a chain
 * cannot validate past its CA's expiry anyway (RFC 5280 §6.1.3 (a)(2)).
 */
export function validityWindow(now: Date, lifetimeDays: number, notAfterCap?: Date): { notBefore: Date; notAfter: Date } {
  assertLifetimeDays(lifetimeDays);
  const nowMs = Math.floor(now.getTime() / 1000) * 1000;
  if (!Number.isFinite(nowMs)) throw new FleetkeyError('CERT_LIFETIME_INVALID', 'invalid "now"');
  const notBefore = new Date(nowMs - BACKDATE_MS);
  let notAfter = new Date(nowMs + lifetimeDays * DAY_MS);
  if (notAfterCap && notAfter > notAfterCap) notAfter = new Date(notAfterCap.getTime());
  return { notBefore, notAfter };
}
