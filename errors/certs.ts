import type { ErrorSection } from './spec.js';

/** Refusals of the CA library: CSR validation, key policy, CA material on disk. */
export const certsErrors = {
  // Certificate requests (PKCS#10), as EST and the REST API receive them.
  CSR_EMPTY: { status: 400, message: 'The certificate request is empty.' },
  CSR_TOO_LARGE: { status: 400, message: 'The certificate request is larger than 16 KiB.' },
  CSR_ENCODING_INVALID: { status: 400, message: 'The certificate request is not DER, base64 or PEM.' },
  CSR_MALFORMED: { status: 400, message: 'The certificate request is not a well-formed PKCS#10 structure.' },
  CSR_SIGNATURE_INVALID: { status: 400, message: 'The certificate request signature does not verify.' },
  CSR_ALGORITHM_UNSUPPORTED: {
    status: 400,
    message: 'The certificate request is signed with an unsupported algorithm; use ECDSA or RSA with SHA-256 or stronger.',
  },
  CSR_SUBJECT_INVALID: { status: 400, message: 'The certificate request subject must carry exactly one common name.' },
  CSR_CN_MISSING: { status: 400, message: 'The certificate request has no subject common name.' },
  CSR_CN_MISMATCH: { status: 400, message: 'The certificate request common name is not the device id being enrolled.' },
  // Keys and identities, from a CSR or handed to the issuer directly.
  KEY_UNSUPPORTED: {
    status: 400,
    message: 'The key type is not supported; use EC P-256, EC P-384 or RSA of at least 2048 bits.',
  },
  DEVICE_ID_INVALID: {
    status: 400,
    message: 'The device id must be 1 to 64 letters, digits, dots, underscores or hyphens, starting with a letter or digit.',
  },
  CERT_NAME_INVALID: { status: 400, message: 'A certificate name, DNS name or IP address is invalid.' },
  // Certificate validity against a clock (certs/clock.ts, docs/operations.md "Clocks").
  CERT_NOT_YET_VALID: {
    status: 403,
    message: 'A certificate is not valid yet by this host\'s clock: check the clock of this host or of the certificate\'s issuer.',
  },
  CERT_HAS_EXPIRED: {
    status: 403,
    message: 'A certificate has expired by this host\'s clock: renew it, or check the clock of this host or of the certificate\'s issuer.',
  },
  CERT_LIFETIME_INVALID: { status: 400, message: 'The certificate lifetime must be a whole number of days from 1 to 3650.' },
  PEM_INVALID: { status: 400, message: 'The input is not valid PEM of the expected kind.' },
  // CA material on disk.
  CA_NAME_INVALID: { status: 400, message: 'The CA name must be 1 to 50 characters without control characters.' },
  CA_FILE_MISSING: { status: 500, message: 'A CA file is missing or unreadable.' },
  CA_FILE_INVALID: { status: 500, message: 'A CA file does not hold the expected certificate or key.' },
  CA_KEY_PERMISSIONS: {
    status: 500,
    message: 'A CA private key file is readable by group or others; restrict it to its owner (mode 0600).',
  },
  CA_PASSPHRASE_WRONG: { status: 500, message: 'The root CA key passphrase is wrong.' },
  CA_KEY_MISMATCH: { status: 500, message: 'A CA private key does not match its certificate.' },
  CA_CHAIN_INVALID: { status: 500, message: 'The issuing CA certificate is not a CA certificate signed by the root.' },
  CA_ROOT_KEY_UNAVAILABLE: { status: 500, message: 'The root CA key is not loaded (kept offline or encrypted).' },
  // CRL (certs/crl.ts)
  CRL_ENTRY_INVALID: { status: 400, message: 'A revocation entry is not valid.' },
  CRL_INVALID: { status: 400, message: 'The CRL could not be parsed.' },
  // PKCS#7 certs-only (certs/cms.ts)
  CMS_INVALID: { status: 400, message: 'The PKCS#7 certs-only message could not be parsed.' },
  CMS_CERTIFICATE_INVALID: { status: 400, message: 'The certificates for the PKCS#7 message are missing or not valid DER.' },
  // PKCS#12 (certs/pkcs12.ts)
  PKCS12_PASSWORD_TOO_SHORT: { status: 400, message: 'The PKCS#12 password must be at least 8 characters long.' },
  PKCS12_KEY_MISMATCH: { status: 400, message: 'The private key does not belong to the certificate.' },
  PKCS12_CERTIFICATE_INVALID: { status: 400, message: 'A certificate for the PKCS#12 bundle is not valid DER.' },
  // fleetkey init (certs/init.ts)
  INIT_CA_EXISTS: { status: 409, message: 'A CA already exists in the data directory; use --force to replace it.' },
  INIT_PASSPHRASE_FILE_INVALID: { status: 400, message: 'The root passphrase file cannot be read or is empty.' },
} as const satisfies ErrorSection;
