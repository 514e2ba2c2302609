import { verify } from 'node:crypto';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { TAG } from './der.js';
import { bitStringBytes, children, childrenAtLeast, DerError, expectTag, readOid, readRoot, readString, whole, type Element } from './der-reader.js';
import { assertDeviceId } from './identity.js';
import { issueDeviceCertificate } from './issue.js';
import type { KeyType } from './keys.js';
import { csrSignatureAlgorithms, OID } from './oids.js';
import { decodeBase64, pemBlocks } from './pem.js';
import { importSpki, type ImportedKey } from './spki.js';
import type { FleetCa, IssuedCertificate } from './types.js';

/** A PKCS#10 request whose self-signature verified. Only its key and CN ever reach a certificate. */
export interface ParsedCsr {
  readonly der: Buffer;
  readonly commonName: string | undefined;
  readonly keyType: KeyType;
  /** The SubjectPublicKeyInfo DER as it will appear in the certificate. */
  readonly spki: Buffer;
}

export const MAX_CSR_BYTES = 16 * 1024;

const PEM_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

/** DER bytes from DER, base64 DER (an EST body, RFC 7030 §4.2.1) or PEM (RFC 7468 §7). */
function decodeInput(input: Buffer | string): Buffer {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > MAX_CSR_BYTES) throw new FleetkeyError('CSR_TOO_LARGE', `${size} bytes`);
  if (Buffer.isBuffer(input) && input[0] === TAG.SEQUENCE) return input;
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (text.trim() === '') throw new FleetkeyError('CSR_EMPTY', `${size} bytes of whitespace`);
  if (text.includes('-----BEGIN')) {
    try {
      const der = PEM_LABELS.flatMap((label) => pemBlocks(text, label))[0];
      if (der) return der;
    } catch (err) {
      if (!isFleetkeyError(err, 'PEM_INVALID')) throw err;
    }
    throw new FleetkeyError('CSR_ENCODING_INVALID', 'no valid CERTIFICATE REQUEST PEM block');
  }
  const der = decodeBase64(text);
  if (!der) throw new FleetkeyError('CSR_ENCODING_INVALID', 'neither DER, PEM nor canonical base64');
  return der;
}

interface CsrFields {
  readonly info: Buffer;
  readonly subject: Element;
  readonly spki: Buffer;
  readonly signatureAlgorithm: string;
  readonly signature: Buffer;
}

/** CertificationRequest (RFC 2986 §4): the signed info, subject, key, algorithm and signature. */
function splitCsr(der: Buffer): CsrFields {
  const [info, algorithm, signature] = childrenAtLeast(der, readRoot(der), 3);
  const infoFields = childrenAtLeast(der, expectTag(info!, TAG.SEQUENCE), 3);
  const [version, subject, spki, attributes] = infoFields;
  if (infoFields.length > 4 || (attributes && attributes.tag !== 0xa0)) throw new DerError('unexpected fields in CertificationRequestInfo');
  if (!whole(der, expectTag(version!, TAG.INTEGER)).equals(Buffer.from([TAG.INTEGER, 1, 0]))) throw new DerError('version is not v1 (0)');
  childrenAtLeast(der, expectTag(spki!, TAG.SEQUENCE), 2);
  const [algorithmOid] = childrenAtLeast(der, expectTag(algorithm!, TAG.SEQUENCE), 1);
  return {
    info: whole(der, info!),
    subject: expectTag(subject!, TAG.SEQUENCE),
    spki: whole(der, spki!),
    signatureAlgorithm: readOid(der, algorithmOid!),
    signature: bitStringBytes(der, signature!),
  };
}

/** The subject's one CN (RFC 5280 §4.1.2.4 AttributeTypeAndValue), undefined if none. */
function commonNameOf(der: Buffer, subject: Element): string | undefined {
  const found: string[] = [];
  for (const rdn of children(der, subject)) {
    for (const attribute of children(der, expectTag(rdn, TAG.SET))) {
      const [type, value] = childrenAtLeast(der, expectTag(attribute, TAG.SEQUENCE), 2);
      if (readOid(der, type!) === OID.commonName) found.push(readString(der, value!));
    }
  }
  if (found.length > 1) throw new FleetkeyError('CSR_SUBJECT_INVALID', `${found.length} common names`);
  return found[0];
}

/**
 * Parses a PKCS#10 request and verifies its self-signature. Refusals, in the order checked:
 * CSR_EMPTY, CSR_TOO_LARGE, CSR_ENCODING_INVALID, CSR_MALFORMED, CSR_SUBJECT_INVALID,
 * KEY_UNSUPPORTED, CSR_ALGORITHM_UNSUPPORTED, CSR_SIGNATURE_INVALID.
 */
export function parseCsr(input: Buffer | string): ParsedCsr {
  if (input.length === 0) throw new FleetkeyError('CSR_EMPTY', 'no bytes');
  const decoded = decodeInput(input);
  const der = decoded === input ? Buffer.from(decoded) : decoded; // never keep a view of the caller's buffer
  let fields: CsrFields;
  let commonName: string | undefined;
  try {
    fields = splitCsr(der);
    commonName = commonNameOf(der, fields.subject); // read now, trusted only once the signature verifies
  } catch (err) {
    if (err instanceof DerError) throw new FleetkeyError('CSR_MALFORMED', err.message, { cause: err });
    throw err;
  }
  let key: ImportedKey;
  try {
    key = importSpki(fields.spki);
  } catch (err) {
    if (err instanceof DerError) throw new FleetkeyError('CSR_MALFORMED', `public key: ${err.message}`, { cause: err });
    throw err;
  }
  // The key policy speaks first: an Ed25519 request is refused for its key, not its algorithm.
  const hash = csrSignatureAlgorithms.get(fields.signatureAlgorithm);
  if (!hash) throw new FleetkeyError('CSR_ALGORITHM_UNSUPPORTED', `signature algorithm ${fields.signatureAlgorithm}`);
  let valid = false;
  try {
    valid = verify(hash, fields.info, key.publicKey, fields.signature);
  } catch (err) {
    throw new FleetkeyError('CSR_SIGNATURE_INVALID', (err as Error).message, { cause: err });
  }
  if (!valid) throw new FleetkeyError('CSR_SIGNATURE_INVALID', 'signature does not verify under the request key');
  return { der, commonName, keyType: key.keyType, spki: key.spki };
}

/** The enrolment rule (DESIGN.md): the CN is exactly the device id being enrolled. */
export function validateDeviceCsr(csr: ParsedCsr, expectedDeviceId: string): void {
  assertDeviceId(expectedDeviceId);
  if (csr.commonName === undefined) throw new FleetkeyError('CSR_CN_MISSING', `no CN in the request for device ${expectedDeviceId}`);
  if (csr.commonName !== expectedDeviceId) {
    throw new FleetkeyError('CSR_CN_MISMATCH', `CN ${JSON.stringify(csr.commonName).slice(0, 80)} for device ${expectedDeviceId}`);
  }
}

/** A device's request: parsed, its signature verified, and its CN exactly `deviceId` (parseCsr's and validateDeviceCsr's refusals). */
export function parseDeviceCsr(input: Buffer | string, deviceId: string): ParsedCsr {
  const parsed = parseCsr(input);
  validateDeviceCsr(parsed, deviceId);
  return parsed;
}

/** Parse, validate, issue: a device certificate for the request's key and nothing else it asks for. */
export function issueFromCsr(
  ca: FleetCa,
  csr: Buffer | string,
  deviceId: string,
  opts: { readonly lifetimeDays?: number; readonly now?: Date } = {},
): IssuedCertificate {
  return issueDeviceCertificate(ca, { deviceId, publicKey: parseDeviceCsr(csr, deviceId), ...opts });
}
