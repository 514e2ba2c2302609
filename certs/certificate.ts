import { createHash, X509Certificate } from 'node:crypto';
import { TAG } from './der.js';
import { bitStringBytes, children, childrenAtLeast, contents, expectTag, readOid, readRoot, readTime, whole } from './der-reader.js';
import { toPem } from './pem.js';
import type { IssuedCertificate } from './types.js';

/** The parts of a certificate (RFC 5280 §4.1) fleetkey needs, as DER slices of the input. */
export interface CertificateParts {
  readonly tbs: Buffer;
  /** The serial number INTEGER's contents. */
  readonly serial: Buffer;
  readonly notAfter: Date;
  readonly issuerName: Buffer;
  readonly subjectName: Buffer;
  readonly spki: Buffer;
  /** extnID → { critical, extnValue contents }. */
  readonly extensions: ReadonlyMap<string, { critical: boolean; value: Buffer }>;
}

/** Splits a DER certificate; throws DerError on anything that is not RFC 5280 shaped. */
export function certificateParts(der: Buffer): CertificateParts {
  const [tbsEl] = childrenAtLeast(der, readRoot(der), 3);
  const fields = childrenAtLeast(der, expectTag(tbsEl!, TAG.SEQUENCE), 6);
  const offset = fields[0]!.tag === 0xa0 ? 1 : 0; // version is optional: v1 certificates omit it
  const [serial, , issuer, validity, subject, spki] = fields.slice(offset);
  const [, notAfter] = childrenAtLeast(der, expectTag(validity!, TAG.SEQUENCE), 2);
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const wrapper = fields.slice(offset + 6).find((el) => el.tag === 0xa3);
  if (wrapper) {
    const [list] = children(der, wrapper);
    for (const ext of children(der, expectTag(list!, TAG.SEQUENCE))) {
      const parts = childrenAtLeast(der, ext, 2);
      const critical = parts.length === 3 && parts[1]!.tag === TAG.BOOLEAN && der[parts[1]!.body] !== 0;
      const value = contents(der, expectTag(parts[parts.length - 1]!, TAG.OCTET_STRING));
      extensions.set(readOid(der, parts[0]!), { critical, value });
    }
  }
  return {
    tbs: whole(der, tbsEl!),
    serial: contents(der, expectTag(serial!, TAG.INTEGER)),
    notAfter: readTime(der, notAfter!),
    issuerName: whole(der, expectTag(issuer!, TAG.SEQUENCE)),
    subjectName: whole(der, expectTag(subject!, TAG.SEQUENCE)),
    spki: whole(der, expectTag(spki!, TAG.SEQUENCE)),
    extensions,
  };
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, key] = childrenAtLeast(spki, readRoot(spki), 2);
  return createHash('sha1').update(bitStringBytes(spki, key!)).digest();
}

/** `X509Certificate.validFrom`-style text to a Date (Node 20 has no `validFromDate`). */
const parseValidity = (text: string): Date => new Date(text);

/** Builds the IssuedCertificate view of a DER certificate, parsed by Node (OpenSSL). */
export function toIssuedCertificate(der: Buffer): IssuedCertificate {
  const x509 = new X509Certificate(der);
  return new LazyCertificate(Buffer.from(der), x509.serialNumber.toUpperCase(), parseValidity(x509.validFrom), parseValidity(x509.validTo), x509);
}

/**
 * An IssuedCertificate for a certificate fleetkey just built: serial and dates are known, so the
 * X509Certificate, PEM and fingerprint are made on first use (parsing costs more than signing).
 */
export function builtCertificate(der: Buffer, serial: Buffer, notBefore: Date, notAfter: Date): IssuedCertificate {
  const magnitude = serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial;
  return new LazyCertificate(der, magnitude.toString('hex').toUpperCase(), notBefore, notAfter, undefined);
}

/** The IssuedCertificate of one built on another thread, from the fields that crossed over. */
export function transferredCertificate(der: Buffer, serial: string, notBefore: Date, notAfter: Date): IssuedCertificate {
  return new LazyCertificate(der, serial, notBefore, notAfter, undefined);
}

class LazyCertificate implements IssuedCertificate {
  #x509: X509Certificate | undefined;
  #pem: string | undefined;
  #fingerprint: string | undefined;

  constructor(
    readonly der: Buffer,
    readonly serial: string,
    readonly notBefore: Date,
    readonly notAfter: Date,
    x509: X509Certificate | undefined,
  ) {
    this.#x509 = x509;
  }

  get x509(): X509Certificate {
    return (this.#x509 ??= new X509Certificate(this.der));
  }

  get pem(): string {
    return (this.#pem ??= toPem('CERTIFICATE', this.der));
  }

  get fingerprint(): string {
    return (this.#fingerprint ??= createHash('sha256').update(this.der).digest('hex'));
  }

  toJSON(): { serial: string; notBefore: string; notAfter: string; fingerprint: string; pem: string } {
    const { serial, notBefore, notAfter, fingerprint, pem } = this;
    return { serial, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), fingerprint, pem };
  }
}
