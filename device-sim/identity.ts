import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import { createCsr } from '../certs/csr-build.js';
import { identityFromCertificate } from '../certs/identity.js';
import { generateDeviceKey } from '../certs/keys.js';
import { pemBlocks, toPem } from '../certs/pem.js';
import { FleetkeyError } from '../errors/index.js';

/** What every device of the fleet trusts: the fleet root (grants, the broker, the provisioner) and the issuing CA. */
export interface FleetTrust {
  /** PEM, one certificate per entry, as Node's `ca` option wants them. */
  readonly caPems: readonly string[];
  /** The fleet root: the only trust anchor for grant signers. */
  readonly root: X509Certificate;
  /** The issuing CA, sent after the device certificate (FIELD-NOTES: servers may trust only the root). */
  readonly issuingPem: string;
}

/** A device's current key and certificate, with the TLS context built from them once. */
export interface DeviceIdentity {
  readonly deviceId: string;
  readonly privateKey: KeyObject;
  /** Leaf certificate, PEM. */
  readonly certPem: string;
  readonly serial: string;
  /** ms since the Unix epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** ca + cert chain + key, reused by every TLS connection of this identity. */
  readonly secureContext: SecureContext;
}

/** The fleet's trust from PEM text holding the root and the issuing CA (e.g. ca/chain.pem). */
export function fleetTrust(pemText: string): FleetTrust {
  const certs = pemBlocks(pemText, 'CERTIFICATE').map((der) => new X509Certificate(der));
  const root = certs.find((c) => c.ca && c.checkIssued(c) && c.verify(c.publicKey));
  const issuing = root && certs.find((c) => c !== root && c.ca && c.checkIssued(root) && c.verify(root.publicKey));
  if (!root || !issuing) throw new FleetkeyError('SIM_BUNDLE_INVALID', 'the CA bundle needs the fleet root and the issuing CA');
  return { caPems: certs.map((c) => c.toString()), root, issuingPem: issuing.toString() };
}

/**
 * An identity from a key and the certificate issued for it: the certificate must name `deviceId`
 * (SAN URI) and hold the key's public half.
 */
export function deviceIdentity(deviceId: string, privateKey: KeyObject, certDer: Buffer, trust: FleetTrust): DeviceIdentity {
  const x509 = new X509Certificate(certDer);
  const named = identityFromCertificate(x509);
  if (named?.kind !== 'device' || named.id !== deviceId) throw new FleetkeyError('SIM_BUNDLE_INVALID', `${deviceId}: certificate names ${named?.kind === 'device' ? named.id : 'no device'}`);
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(privateKey)).equals(spki(x509.publicKey))) throw new FleetkeyError('SIM_BUNDLE_INVALID', `${deviceId}: key does not match the certificate`);
  const certPem = toPem('CERTIFICATE', certDer);
  return {
    deviceId,
    privateKey,
    certPem,
    serial: x509.serialNumber.toUpperCase(),
    notBefore: Date.parse(x509.validFrom),
    notAfter: Date.parse(x509.validTo),
    secureContext: createSecureContext({ ca: [...trust.caPems], cert: certPem + trust.issuingPem, key: keyPem(privateKey) }),
  };
}

export const keyPem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

/** The files of one device in a bundles directory, as `fleetkey provision` writes them. */
export const BUNDLE_FILES = { key: 'key.pem', cert: 'cert.pem', chain: 'chain.pem' } as const;

/** A factory bundle `<dir>/<deviceId>/{key,cert,chain}.pem`; `trust` defaults to the bundle's chain.pem. */
export function loadBundle(dir: string, deviceId: string, trust?: FleetTrust): { identity: DeviceIdentity; trust: FleetTrust } {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, deviceId, name), 'utf8');
    } catch (err) {
      throw new FleetkeyError('SIM_BUNDLE_INVALID', `${join(dir, deviceId, name)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const fleet = trust ?? fleetTrust(read(BUNDLE_FILES.chain));
  const [certDer] = pemBlocks(read(BUNDLE_FILES.cert), 'CERTIFICATE');
  if (!certDer) throw new FleetkeyError('SIM_BUNDLE_INVALID', `${deviceId}: cert.pem holds no certificate`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(read(BUNDLE_FILES.key));
  } catch (err) {
    if (err instanceof FleetkeyError) throw err;
    throw new FleetkeyError('SIM_BUNDLE_INVALID', `${deviceId}: key.pem is not a private key`);
  }
  return { identity: deviceIdentity(deviceId, privateKey, certDer, fleet), trust: fleet };
}

/** A fresh P-256 key and a PKCS#10 request for it with CN = device id, as the device makes them. */
export function newKeyRequest(deviceId: string): { privateKey: KeyObject; csr: Buffer } {
  const keys = generateDeviceKey('ec-p256');
  return { privateKey: keys.privateKey, csr: createCsr(keys, deviceId) };
}

/** When a certificate is due for renewal: two thirds of its lifetime (DESIGN.md; issue 7). */
export function renewalTime(identity: Pick<DeviceIdentity, 'notBefore' | 'notAfter'>): number {
  return identity.notBefore + ((identity.notAfter - identity.notBefore) * 2) / 3;
}
