import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueDeviceCertificate } from '../certs/issue.js';
import { generateDeviceKey } from '../certs/keys.js';
import type { FleetCa, IssuedCertificate } from '../certs/types.js';
import type { Store } from '../store/types.js';
import { BUNDLE_FILES, deviceIdentity, fleetTrust, keyPem, type DeviceIdentity, type FleetTrust } from './identity.js';

/**
 * Factory bundles made in this process with the fleet CA, for benchmarks and tests that must not
 * measure enrollment: the same files `fleetkey provision` writes (key.pem, cert.pem, chain.pem).
 * The caller records the certificates with the store, as enrollment would (see `enrollmentRecord`).
 */
export interface MadeBundle {
  readonly id: string;
  readonly identity: DeviceIdentity;
  readonly issued: IssuedCertificate;
}

export function trustOf(ca: FleetCa): FleetTrust {
  return fleetTrust(ca.issuing.certificate.pem + ca.root.certificate.pem);
}

export function makeBundle(ca: FleetCa, id: string, opts: { lifetimeDays?: number; now?: Date; trust?: FleetTrust } = {}): MadeBundle {
  const keys = generateDeviceKey('ec-p256');
  const issued = issueDeviceCertificate(ca, { deviceId: id, publicKey: keys.publicKey, ...(opts.lifetimeDays ? { lifetimeDays: opts.lifetimeDays } : {}), ...(opts.now ? { now: opts.now } : {}) });
  return { id, issued, identity: deviceIdentity(id, keys.privateKey, issued.der, opts.trust ?? trustOf(ca)) };
}

/** Writes `<dir>/<id>/{key,cert,chain}.pem` (key 0600). */
export function writeBundle(dir: string, bundle: MadeBundle, trust: FleetTrust): void {
  const at = join(dir, bundle.id);
  mkdirSync(at, { recursive: true, mode: 0o700 });
  writeFileSync(join(at, BUNDLE_FILES.key), keyPem(bundle.identity.privateKey), { mode: 0o600 });
  writeFileSync(join(at, BUNDLE_FILES.cert), bundle.issued.pem);
  writeFileSync(join(at, BUNDLE_FILES.chain), trust.issuingPem + trust.root.toString());
}

/** The registration and certificate record the provisioner would have stored for an enrolled bundle. */
export function enrollmentRecord(bundle: MadeBundle): {
  device: { id: string; token: string; tokenExpiresAt: Date };
  certificate: { serial: string; subject: string; spki: Buffer; notBefore: Date; notAfter: Date; fingerprint: string; issuedAt: Date };
} {
  const { issued } = bundle;
  return {
    device: { id: bundle.id, token: randomBytes(24).toString('base64url'), tokenExpiresAt: new Date(Date.now() + 3600_000) },
    certificate: {
      serial: issued.serial, subject: bundle.id, spki: issued.x509.publicKey.export({ type: 'spki', format: 'der' }),
      notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint: issued.fingerprint, issuedAt: new Date(),
    },
  };
}

/** Registers and enrolls made bundles in a store the caller opened (bench and test set-up only). */
export async function recordBundles(store: Pick<Store, 'registerDevices' | 'enrollDevice'>, bundles: readonly MadeBundle[], batch = 1000): Promise<void> {
  for (let i = 0; i < bundles.length; i += batch) {
    const records = bundles.slice(i, i + batch).map(enrollmentRecord);
    await store.registerDevices(records.map((r) => r.device), 'device-sim');
    await Promise.all(records.map((r) => store.enrollDevice(r.device.id, r.device.token, r.certificate)));
  }
}
