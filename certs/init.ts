import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { randomBytes, type KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { FleetkeyError } from '../errors/index.js';
import { writeFileAtomic } from './atomic-file.js';
import { createFleetCa, saveFleetCa, type RootCurve } from './ca.js';
import { buildRootCrl, readCrl, type BuiltCrl } from './crl.js';
import { SERVICE_ROLES } from './identity.js';
import { issueServerCertificate, issueServiceCertificate } from './issue.js';
import { generateDeviceKey } from './keys.js';
import type { FleetCa, IssuedCertificate, ServiceRole } from './types.js';

export interface InitOptions {
  readonly dir: string;
  readonly name: string;
  /** Replace an existing CA (and every other file init makes). */
  readonly force?: boolean;
  /** Broker DNS names besides `localhost`. */
  readonly dnsNames?: readonly string[];
  /** Broker IP addresses besides 127.0.0.1 and ::1. */
  readonly ipAddresses?: readonly string[];
  /** Encrypts ca/root.key, so the root can be kept offline. */
  readonly rootPassphrase?: string;
  /**
   * The root key's curve, P-384 unless asked. A P-256 root makes every fresh mutual-TLS handshake
   * cheaper: both ends verify the issuing CA's signature under the root each time, and OpenSSL 3.0
   * has a fast path for P-256 only (docs/broker.md "Speed").
   */
  readonly rootCurve?: RootCurve;
  readonly now?: Date;
}

/** A certificate init wrote; paths are relative to the data dir. */
export interface CertificateSummary {
  readonly path: string;
  readonly key: string;
  readonly subject: string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notAfter: string;
}

/** What init made. It is also the manifest `fleetkey.json` (without `dir`): no secrets. */
export interface InitResult {
  readonly version: 1;
  readonly dir: string;
  readonly name: string;
  readonly createdAt: string;
  readonly ca: { readonly root: CertificateSummary & { readonly keyEncrypted: boolean }; readonly issuing: CertificateSummary };
  readonly rootCrl: { readonly path: string; readonly nextUpdate: string };
  readonly broker: CertificateSummary & { readonly dnsNames: string[]; readonly ipAddresses: string[] };
  readonly services: Record<ServiceRole, CertificateSummary>;
  readonly kek: string;
  readonly files: string[];
}

/** Service certificates made by init are CN `<role>-main`. */
export const SERVICE_NAME = 'main';
const CA_FILES = ['fleetkey.json', 'ca/root.pem', 'ca/root.key', 'ca/issuing.pem', 'ca/issuing.key'];
const CA_SAVED_FILES = ['ca/root.pem', 'ca/root.key', 'ca/issuing.pem', 'ca/issuing.key', 'ca/chain.pem'];

/** `fleetkey init`: a fresh CA, broker and service certificates, and the KEK, written to `dir`. */
export function initDataDir(opts: InitOptions): InitResult {
  const dir = resolve(opts.dir);
  refuseExistingCa(dir, opts.force ?? false);
  if (opts.rootPassphrase === '') throw new FleetkeyError('CONFIG_INVALID', 'empty root passphrase');
  const now = opts.now ?? new Date();
  // Everything is made in memory first, so a refusal leaves no half-made data dir.
  const fleet = mintFleet(opts, now);
  const files = writeDataDir(dir, fleet, opts.rootPassphrase);
  const result = describeFleet(dir, fleet, opts, now, [...files, 'fleetkey.json']);
  const { dir: _absolute, ...manifest } = result;
  writeFileAtomic(join(dir, 'fleetkey.json'), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  return result;
}

interface Minted {
  readonly ca: FleetCa;
  readonly sans: { dnsNames: string[]; ipAddresses: string[] };
  readonly broker: { readonly key: KeyObject; readonly cert: IssuedCertificate };
  readonly services: { readonly role: ServiceRole; readonly key: KeyObject; readonly cert: IssuedCertificate }[];
  readonly rootCrl: BuiltCrl;
}

function mintFleet(opts: InitOptions, now: Date): Minted {
  const ca = createFleetCa({ name: opts.name, now, ...(opts.rootCurve ? { rootCurve: opts.rootCurve } : {}) });
  const { dnsNames, ipAddresses } = sans(opts);
  const brokerKey = keyPair();
  const brokerCert = issueServerCertificate(ca, {
    commonName: opts.dnsNames?.[0]?.toLowerCase() ?? 'localhost', dnsNames, ipAddresses, publicKey: brokerKey.publicKey, now,
  });
  const services = SERVICE_ROLES.map((role) => {
    const pair = keyPair();
    return { role, key: pair.privateKey, cert: issueServiceCertificate(ca, { role, name: SERVICE_NAME, publicKey: pair.publicKey, now }) };
  });
  return {
    ca,
    sans: { dnsNames, ipAddresses },
    broker: { key: brokerKey.privateKey, cert: brokerCert },
    services,
    rootCrl: buildRootCrl(ca, [], { thisUpdate: now }),
  };
}

/** Writes every file but the manifest; returns their paths relative to `dir`. */
function writeDataDir(dir: string, fleet: Minted, rootPassphrase: string | undefined): string[] {
  for (const sub of ['', 'ca', 'broker', 'services']) makePrivateDir(join(dir, sub));
  saveFleetCa(fleet.ca, join(dir, 'ca'), rootPassphrase === undefined ? {} : { rootPassphrase });
  const files = [...CA_SAVED_FILES];
  const write = (path: string, data: string | Buffer, mode: number): void => {
    writeFileAtomic(join(dir, path), data, mode);
    files.push(path);
  };
  write('ca/root-crl.pem', fleet.rootCrl.pem, 0o644);
  write('broker/server.pem', fullChain(fleet.broker.cert, fleet.ca), 0o644);
  write('broker/server.key', pkcs8(fleet.broker.key), 0o600);
  for (const { role, key, cert } of fleet.services) {
    write(`services/${role}.pem`, fullChain(cert, fleet.ca), 0o644);
    write(`services/${role}.key`, pkcs8(key), 0o600);
  }
  write('kek', randomBytes(32), 0o600);
  return files;
}

function describeFleet(dir: string, fleet: Minted, opts: InitOptions, now: Date, files: string[]): InitResult {
  const { ca } = fleet;
  return {
    version: 1,
    dir,
    name: opts.name,
    createdAt: now.toISOString(),
    ca: {
      root: { ...summary(ca.root.certificate, 'ca/root.pem', 'ca/root.key'), keyEncrypted: opts.rootPassphrase !== undefined },
      issuing: summary(ca.issuing.certificate, 'ca/issuing.pem', 'ca/issuing.key'),
    },
    rootCrl: { path: 'ca/root-crl.pem', nextUpdate: readCrl(fleet.rootCrl.der).nextUpdate!.toISOString() },
    broker: { ...summary(fleet.broker.cert, 'broker/server.pem', 'broker/server.key'), ...fleet.sans },
    services: Object.fromEntries(fleet.services.map(({ role, cert }) => [
      role, summary(cert, `services/${role}.pem`, `services/${role}.key`),
    ])) as Record<ServiceRole, CertificateSummary>,
    kek: 'kek',
    files,
  };
}

/** Name, DNS names and IP addresses are checked by createFleetCa and the issuer (CA_NAME_INVALID, CERT_NAME_INVALID). */
function sans(opts: InitOptions): { dnsNames: string[]; ipAddresses: string[] } {
  return {
    dnsNames: unique(['localhost', ...(opts.dnsNames ?? []).map((d) => d.toLowerCase())]),
    ipAddresses: unique(['127.0.0.1', '::1', ...(opts.ipAddresses ?? [])]),
  };
}

function refuseExistingCa(dir: string, force: boolean): void {
  const found = CA_FILES.filter((f) => existsSync(join(dir, f)));
  if (found.length > 0 && !force) throw new FleetkeyError('INIT_CA_EXISTS', `${dir} has ${found.join(', ')}`);
}

function makePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700); // mkdir's mode passes through the umask and leaves an existing dir alone
}

/** Write-then-rename: readers never see a half-written file, and the mode holds even when replacing. */

function keyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateDeviceKey('ec-p256');
}

function pkcs8(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** Leaf then issuing CA: peers that trust only the root can build the chain (FIELD-NOTES, Node TLS). */
function fullChain(cert: IssuedCertificate, ca: FleetCa): string {
  return `${cert.pem.trimEnd()}\n${ca.issuing.certificate.pem.trimEnd()}\n`;
}

function summary(cert: IssuedCertificate, path: string, key: string): CertificateSummary {
  return {
    path, key, subject: cert.x509.subject, serial: cert.serial, fingerprint: cert.fingerprint, notAfter: cert.notAfter.toISOString(),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
