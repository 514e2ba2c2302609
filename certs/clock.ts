/**
 * Clocks (docs/operations.md "Clocks"). Every fleetkey host and device may be off by up to
 * CLOCK_LEEWAY_SECONDS: certificates are backdated by as much (certs/validity.ts), a device refuses a
 * grant issued further in its future (protocol/grant-verify.ts, GRANT_NOT_YET_VALID) and reports a
 * provisioner or KDC clock further away than this (device-sim/clock-watch.ts). Beyond it, whoever can
 * tell says which clock to check.
 */
export const CLOCK_LEEWAY_SECONDS = 300;

/** The certificate time refusals of OpenSSL (Node's `err.code` / `socket.authorizationError`). */
export type CertTimeReason = 'cert-not-yet-valid' | 'cert-expired';

const REASONS: Readonly<Record<string, CertTimeReason>> = {
  CERT_NOT_YET_VALID: 'cert-not-yet-valid',
  CERT_HAS_EXPIRED: 'cert-expired',
  CRL_NOT_YET_VALID: 'cert-not-yet-valid',
  CRL_HAS_EXPIRED: 'cert-expired',
};

/** The catalogue code of each reason (errors/certs.ts). */
export const CERT_TIME_CODES = { 'cert-not-yet-valid': 'CERT_NOT_YET_VALID', 'cert-expired': 'CERT_HAS_EXPIRED' } as const;

/** The reason when an OpenSSL verify code is about time, else undefined. */
export function certTimeReason(code: unknown): CertTimeReason | undefined {
  return typeof code === 'string' ? REASONS[code] : undefined;
}

/** Seconds, rounded, that `their` time (ms) is ahead of `ours` (negative: behind). */
export function offsetSeconds(theirMs: number, oursMs: number): number {
  return Math.round((theirMs - oursMs) / 1000);
}

export function beyondLeeway(offset: number): boolean {
  return Math.abs(offset) > CLOCK_LEEWAY_SECONDS;
}

/**
 * "a certificate is not valid yet by this broker's clock (2026-…Z): check the clock of this host or of
 * its issuer", for the log of the side that refused it. `validity` when the certificate could be read.
 */
export function certTimeMessage(
  reason: CertTimeReason, whose: string, nowMs: number, validity?: { notBefore: Date | number; notAfter: Date | number },
): string {
  const at = (t: Date | number) => new Date(t).toISOString();
  const what = reason === 'cert-not-yet-valid'
    ? `not valid ${validity ? `until ${at(validity.notBefore)}` : 'yet'}`
    : `expired${validity ? ` at ${at(validity.notAfter)}` : ''}`;
  const check = reason === 'cert-not-yet-valid' ? 'check the clock of this host or of the issuer' : 'renew it, or check the clock of this host or of the issuer';
  return `certificate ${what} by ${whose} clock (${at(nowMs)}); ${check}`;
}
