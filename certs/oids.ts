import { NULL, oid, sequence } from './der.js';

/** Object identifiers fleetkey reads and writes, in dotted form. */
export const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export type SignatureHash = 'sha256' | 'sha384' | 'sha512';

/**
 * Signature algorithms a CSR may use, with the hash to verify under. ECDSA parameters are absent
 * (RFC 5758 §3.2); RSA PKCS#1 v1.5 carries NULL (RFC 4055 §5). SHA-1 and RSA-PSS are not accepted.
 */
export const csrSignatureAlgorithms: ReadonlyMap<string, SignatureHash> = new Map([
  [OID.ecdsaWithSha256, 'sha256'],
  [OID.ecdsaWithSha384, 'sha384'],
  [OID.ecdsaWithSha512, 'sha512'],
  [OID.sha256WithRsa, 'sha256'],
  [OID.sha384WithRsa, 'sha384'],
  [OID.sha512WithRsa, 'sha512'],
]);

/** The AlgorithmIdentifier fleetkey signs with, by CA key curve (RFC 5758 §3.2). */
export const ecdsaAlgorithm = {
  sha256: sequence(oid(OID.ecdsaWithSha256)),
  sha384: sequence(oid(OID.ecdsaWithSha384)),
} as const;

/** SubjectPublicKeyInfo.algorithm for the two accepted curves (RFC 5480 §2.1.1), compared bytewise. */
export const ecSpkiAlgorithm = {
  'ec-p256': sequence(oid(OID.ecPublicKey), oid(OID.p256)),
  'ec-p384': sequence(oid(OID.ecPublicKey), oid(OID.p384)),
} as const;

export const rsaSpkiAlgorithm = sequence(oid(OID.rsaEncryption), NULL);
