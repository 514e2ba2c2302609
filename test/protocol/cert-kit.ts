import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { certificateParts, keyIdentifier } from '../../certs/certificate.js';
import { namedBits } from '../../certs/der.js';
import { keyTypeOf } from '../../certs/keys.js';
import { OID } from '../../certs/oids.js';
import {
  basicConstraints, caKeyUsage, commonNameOnly, distinguishedName, extension, leafExtensionHead, subjectAltName,
  subjectKeyIdentifier, uriName, type LeafPurpose,
} from '../../certs/profile.js';
import { makeSigner, signCertificate, signerFor, type Signer } from '../../certs/signer.js';
import type { FleetCa } from '../../certs/types.js';
import { newSerial } from '../../certs/validity.js';

/**
 * Certificates the production profiles never make (odd extensions, 100-year vectors), built from the
 * same DER pieces as certs/ so that only the one property under test differs.
 */

export interface Built {
  readonly der: Buffer;
  readonly x509: X509Certificate;
}

export interface CertSpec {
  readonly subject: Buffer;
  readonly publicKey: KeyObject;
  readonly extensions: (spki: Buffer) => Buffer[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function signWith(signer: Signer, spec: CertSpec): Built {
  const spki = spec.publicKey.export({ type: 'spki', format: 'der' });
  const der = signCertificate(signer, {
    serial: newSerial(),
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    subjectName: spec.subject,
    spki,
    extensions: [...spec.extensions(spki), signer.akiExtension],
  });
  return { der, x509: new X509Certificate(der) };
}

/** A signer for any certificate + key (also a non-CA one, to build chains that must be refused). */
export function signerOf(cert: Built, key: KeyObject): Signer {
  const parts = certificateParts(cert.der); // subject copied byte for byte so name chaining matches
  return makeSigner(key, Buffer.from(parts.subjectName), keyIdentifier(parts.spki), new Date(cert.x509.validTo));
}

export const issuingSigner = (ca: FleetCa): Signer => signerFor(ca.issuing);

/** Leaf extensions as certs/profile.ts writes them, for a fleetkey URI. */
export function leafExtensions(keyType: ReturnType<typeof keyTypeOf>, purpose: LeafPurpose, uri: string) {
  return (spki: Buffer): Buffer[] => [leafExtensionHead(keyType, purpose), subjectAltName([uriName(uri)]), subjectKeyIdentifier(keyIdentifier(spki))];
}

/** keyUsage with exactly these bit numbers (RFC 5280 §4.2.1.3), critical. */
export const keyUsageExt = (...bits: number[]): Buffer => extension(OID.keyUsage, true, namedBits(bits));
export const clientAuthExt = (): Buffer => extension(OID.extKeyUsage, false, Buffer.from([0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02]));
export { basicConstraints, extension, subjectAltName, subjectKeyIdentifier, uriName, keyIdentifier };

/** A root (P-384) and issuing CA (P-256, pathLen 0) with the production profile and any validity. */
export function fleetCaWithValidity(name: string, notBefore: Date, notAfter: Date) {
  const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const rootName = distinguishedName([[OID.organizationName, name], [OID.commonName, `${name} Root CA`]]);
  const rootSpki = rootKey.publicKey.export({ type: 'spki', format: 'der' });
  const rootSigner = makeSigner(rootKey.privateKey, rootName, keyIdentifier(rootSpki), notAfter);
  const rootDer = signCertificate(rootSigner, {
    serial: newSerial(), notBefore, notAfter, subjectName: rootName, spki: rootSpki,
    extensions: [basicConstraints(true), caKeyUsage, subjectKeyIdentifier(keyIdentifier(rootSpki))],
  });
  const issuingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuingName = distinguishedName([[OID.organizationName, name], [OID.commonName, `${name} Issuing CA`]]);
  const issuing = signWith(rootSigner, {
    subject: issuingName, publicKey: issuingKey.publicKey, notBefore, notAfter,
    extensions: (spki) => [basicConstraints(true, 0), caKeyUsage, subjectKeyIdentifier(keyIdentifier(spki))],
  });
  const issuingSigner = makeSigner(issuingKey.privateKey, issuingName, keyIdentifier(issuingKey.publicKey.export({ type: 'spki', format: 'der' })), notAfter);
  return { root: { der: rootDer, x509: new X509Certificate(rootDer) }, issuing, issuingSigner };
}

export { commonNameOnly };
