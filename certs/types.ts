import type { KeyObject, X509Certificate } from 'node:crypto';

/**
 * A certificate as fleetkey handles it: the DER bytes plus Node's parsed view.
 * Serials are always written the way `X509Certificate.serialNumber` prints them: upper-case hex.
 */
export interface IssuedCertificate {
  readonly der: Buffer;
  readonly pem: string;
  readonly x509: X509Certificate;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprint: string;
}

/** A CA certificate with its signing key (absent for a root kept offline). */
export interface CaMaterial {
  readonly certificate: IssuedCertificate;
  readonly privateKey: KeyObject | undefined;
}

/** The fleet's CA: a root and the issuing CA that signs every leaf. */
export interface FleetCa {
  readonly root: CaMaterial;
  readonly issuing: CaMaterial & { readonly privateKey: KeyObject };
}

/** RFC 5280 §5.3.1 CRLReason names, as fleetkey's API and CLI spell them. */
export const revocationReasons = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof revocationReasons;

/** Service roles carried as SAN URI `urn:fleetkey:service:<role>`. */
export type ServiceRole = 'kdc' | 'consumer' | 'operator';
