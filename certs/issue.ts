import type { KeyObject } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import { builtCertificate, keyIdentifier } from './certificate.js';
import { assertDeviceId, deviceUri, isValidDeviceId, serviceUri } from './identity.js';
import { keyTypeOf, type KeyType } from './keys.js';
import { commonNameOnly, dnsName, ipName, leafExtensionHead, subjectAltName, subjectKeyIdentifier, uriName, type LeafPurpose } from './profile.js';
import { ipAddressOctets, normalizeDnsName } from './san.js';
import { signCertificate, signerFor } from './signer.js';
import type { FleetCa, IssuedCertificate, ServiceRole } from './types.js';
import { newSerial, validityWindow } from './validity.js';

export { newSerial } from './validity.js';

export const DEFAULT_LIFETIME_DAYS = { device: 90, server: 397, service: 365 } as const;

/** What a leaf needs once names and key are settled; every extension is the CA's choice. */
export interface LeafSpec {
  readonly commonName: string;
  /** DER GeneralName elements for subjectAltName. */
  readonly altNames: readonly Buffer[];
  readonly purpose: LeafPurpose;
  readonly spki: Buffer;
  readonly keyType: KeyType;
  readonly lifetimeDays: number;
  readonly now: Date | undefined;
}

/** Builds and signs a leaf under the issuing CA (RFC 5280 §4.1; profile in DESIGN.md). */
export function issueLeaf(ca: FleetCa, spec: LeafSpec): IssuedCertificate {
  const signer = signerFor(ca.issuing);
  const serial = newSerial();
  const { notBefore, notAfter } = validityWindow(spec.now ?? new Date(), spec.lifetimeDays, signer.notAfter);
  const der = signCertificate(signer, {
    serial,
    notBefore,
    notAfter,
    subjectName: commonNameOnly(spec.commonName),
    spki: spec.spki,
    extensions: [
      leafExtensionHead(spec.keyType, spec.purpose),
      subjectAltName(spec.altNames),
      subjectKeyIdentifier(keyIdentifier(spec.spki)),
      signer.akiExtension,
    ],
  });
  return builtCertificate(der, serial, notBefore, notAfter);
}

/**
 * The key a certificate is issued for: a KeyObject, or a key certs/ has already read and checked
 * (a parsed CSR), whose SPKI DER is used as it is rather than exported again.
 */
export type SubjectKey = KeyObject | { readonly spki: Buffer; readonly keyType: KeyType };

function publicKeyParts(key: SubjectKey): { spki: Buffer; keyType: KeyType } {
  if ('spki' in key) return { spki: key.spki, keyType: key.keyType };
  if (key.type !== 'public') throw new FleetkeyError('KEY_UNSUPPORTED', `a ${key.type} key where a public key belongs`);
  return { keyType: keyTypeOf(key), spki: key.export({ type: 'spki', format: 'der' }) };
}

export interface DeviceCertificateRequest {
  readonly deviceId: string;
  readonly publicKey: SubjectKey;
  readonly lifetimeDays?: number;
  readonly now?: Date;
}

/** Device: CN = id, SAN URI urn:fleetkey:device:<id>, clientAuth. */
export function issueDeviceCertificate(ca: FleetCa, req: DeviceCertificateRequest): IssuedCertificate {
  assertDeviceId(req.deviceId);
  return issueLeaf(ca, {
    commonName: req.deviceId,
    altNames: [uriName(deviceUri(req.deviceId))],
    purpose: 'client',
    ...publicKeyParts(req.publicKey),
    lifetimeDays: req.lifetimeDays ?? DEFAULT_LIFETIME_DAYS.device,
    now: req.now,
  });
}

export interface ServerCertificateRequest {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly publicKey: KeyObject;
  readonly lifetimeDays?: number;
  readonly now?: Date;
}

// ub-common-name (RFC 5280 Appendix A.1); printable ASCII keeps subjects unambiguous in logs.
const SERVER_CN = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;

/** Broker server: CN as given, SAN DNS names + IP addresses (at least one), serverAuth. */
export function issueServerCertificate(ca: FleetCa, req: ServerCertificateRequest): IssuedCertificate {
  if (typeof req.commonName !== 'string' || !SERVER_CN.test(req.commonName)) {
    throw new FleetkeyError('CERT_NAME_INVALID', `server common name ${JSON.stringify(req.commonName)?.slice(0, 80)}`);
  }
  const altNames = [
    ...[...new Set(req.dnsNames.map(normalizeDnsName))].map(dnsName),
    ...req.ipAddresses.map((ip) => ipName(ipAddressOctets(ip))),
  ];
  if (altNames.length === 0) throw new FleetkeyError('CERT_NAME_INVALID', 'a server certificate needs a DNS name or IP address');
  return issueLeaf(ca, {
    commonName: req.commonName,
    altNames,
    purpose: 'server',
    ...publicKeyParts(req.publicKey),
    lifetimeDays: req.lifetimeDays ?? DEFAULT_LIFETIME_DAYS.server,
    now: req.now,
  });
}

export interface ServiceCertificateRequest {
  readonly role: ServiceRole;
  /** The instance name; the CN (and the service's MQTT client id) is `<role>-<name>`. */
  readonly name: string;
  readonly publicKey: KeyObject;
  readonly lifetimeDays?: number;
  readonly now?: Date;
}

/** Service: CN `<role>-<name>`, SAN URI urn:fleetkey:service:<role>, clientAuth. */
export function issueServiceCertificate(ca: FleetCa, req: ServiceCertificateRequest): IssuedCertificate {
  const uri = serviceUri(req.role);
  const commonName = `${req.role}-${req.name}`;
  if (!isValidDeviceId(req.name) || commonName.length > 64) {
    throw new FleetkeyError('CERT_NAME_INVALID', `service name ${JSON.stringify(req.name)?.slice(0, 80)}`);
  }
  return issueLeaf(ca, {
    commonName,
    altNames: [uriName(uri)],
    purpose: 'client',
    ...publicKeyParts(req.publicKey),
    lifetimeDays: req.lifetimeDays ?? DEFAULT_LIFETIME_DAYS.service,
    now: req.now,
  });
}
