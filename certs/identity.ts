import type { X509Certificate } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import { certificateParts, type CertificateParts } from './certificate.js';
import { DerError, children, readRoot } from './der-reader.js';
import { OID } from './oids.js';
import type { ServiceRole } from './types.js';

/** Device ids (DESIGN.md "Identities and the CA"): they appear in CNs, URIs and MQTT topics. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const SERVICE_ROLES: readonly ServiceRole[] = ['kdc', 'consumer', 'operator'];

const DEVICE_URI_PREFIX = 'urn:fleetkey:device:';
const SERVICE_URI_PREFIX = 'urn:fleetkey:service:';

export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID_PATTERN.test(id);
}

export function assertDeviceId(id: unknown): asserts id is string {
  if (!isValidDeviceId(id)) throw new FleetkeyError('DEVICE_ID_INVALID', `device id ${JSON.stringify(id)?.slice(0, 80)}`);
}

export function isServiceRole(role: unknown): role is ServiceRole {
  return SERVICE_ROLES.includes(role as ServiceRole);
}

/** SAN URI of a device certificate. */
export function deviceUri(id: string): string {
  assertDeviceId(id);
  return DEVICE_URI_PREFIX + id;
}

/** SAN URI of a service certificate. */
export function serviceUri(role: ServiceRole): string {
  if (!isServiceRole(role)) throw new FleetkeyError('CERT_NAME_INVALID', `service role ${String(role)}`);
  return SERVICE_URI_PREFIX + role;
}

export type Identity = { readonly kind: 'device'; readonly id: string } | { readonly kind: 'service'; readonly role: ServiceRole };

/** The identity a fleetkey URI names, or undefined for any other URI. */
export function parseIdentityUri(uri: string): Identity | undefined {
  if (uri.startsWith(DEVICE_URI_PREFIX)) {
    const id = uri.slice(DEVICE_URI_PREFIX.length);
    return isValidDeviceId(id) ? { kind: 'device', id } : undefined;
  }
  if (uri.startsWith(SERVICE_URI_PREFIX)) {
    const role = uri.slice(SERVICE_URI_PREFIX.length);
    return isServiceRole(role) ? { kind: 'service', role } : undefined;
  }
  return undefined;
}

/**
 * The fleetkey identity of a certificate, read from the DER of its subjectAltName (not from Node's
 * display string): exactly one fleetkey URI must be present, otherwise the answer is undefined.
 * It does not check the chain: call it only for a certificate the TLS layer has verified.
 */
export function identityFromCertificate(x509: X509Certificate): Identity | undefined {
  try {
    return identityOf(certificateParts(x509.raw));
  } catch (err) {
    if (err instanceof DerError) return undefined;
    throw err;
  }
}

/** What the broker needs of a verified peer certificate, read straight from its DER. */
export interface PeerCertificate {
  readonly identity: Identity | undefined;
  /** Upper-case hex without leading zero octets, as `X509Certificate.serialNumber` prints it. */
  readonly serial: string;
  readonly notAfter: Date;
}

/**
 * Reads identity, serial and notAfter from a certificate's DER without building an X509Certificate
 * (which copies the whole chain into new objects: a measurable share of a broker's CONNECT).
 * Undefined for DER that is not a certificate.
 */
export function readPeerCertificate(der: Buffer): PeerCertificate | undefined {
  try {
    const parts = certificateParts(der);
    let start = 0;
    while (start < parts.serial.length - 1 && parts.serial[start] === 0) start++;
    return { identity: identityOf(parts), serial: parts.serial.subarray(start).toString('hex').toUpperCase(), notAfter: parts.notAfter };
  } catch (err) {
    if (err instanceof DerError) return undefined;
    throw err;
  }
}

function identityOf(parts: CertificateParts): Identity | undefined {
  const san = parts.extensions.get(OID.subjectAltName);
  if (!san) return undefined;
  const found: Identity[] = [];
  for (const name of children(san.value, readRoot(san.value))) {
    if (name.tag !== 0x86) continue; // uniformResourceIdentifier [6] IA5String, RFC 5280 §4.2.1.6
    const uri = san.value.subarray(name.body, name.end).toString('latin1');
    if (uri.startsWith('urn:fleetkey:')) {
      const identity = parseIdentityUri(uri);
      if (!identity) return undefined;
      found.push(identity);
    }
  }
  return found.length === 1 ? found[0] : undefined;
}
