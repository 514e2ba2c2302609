import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pemBlocks, toPem } from '../certs/pem.js';
import type { ServiceRole } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';

/** Where `fleetkey init` puts each file, relative to the data dir. */
export const dataDirFiles = {
  manifest: 'fleetkey.json',
  chain: 'ca/chain.pem',
  rootCrl: 'ca/root-crl.pem',
  serverCert: 'broker/server.pem',
  serverKey: 'broker/server.key',
  serviceCert: (role: ServiceRole) => `services/${role}.pem`,
  serviceKey: (role: ServiceRole) => `services/${role}.key`,
  kek: 'kek',
  /** Written by `fleetkey provisioner`: its URL, for the CLI commands that call its REST API. */
  provisionerEndpoint: 'provisioner/endpoint.json',
  /** The bootstrap admin API token (0600) the provisioner makes on its first start with this data dir. */
  adminToken: 'provisioner/admin.token',
} as const;

function read(dir: string, file: string): Buffer {
  try {
    return readFileSync(join(dir, file));
  } catch (err) {
    throw new FleetkeyError('DATA_DIR_INCOMPLETE', `${join(dir, file)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** The trust bundle as separate PEM certificates (issuing CA, root): Node's `ca` wants one per entry. */
export function readCaPems(dir: string): string[] {
  return pemBlocks(read(resolve(dir), dataDirFiles.chain).toString('utf8'), 'CERTIFICATE').map((der) => toPem('CERTIFICATE', der));
}

/** The TLS server identity the broker and the provisioner present. */
export function readServerTls(dir: string): { ca: string[]; cert: string; key: string } {
  const root = resolve(dir);
  return {
    ca: readCaPems(root),
    cert: read(root, dataDirFiles.serverCert).toString('utf8'),
    key: read(root, dataDirFiles.serverKey).toString('utf8'),
  };
}

/** A service's client identity (certificate followed by the issuing CA, and its key). */
export function readServiceIdentity(dir: string, role: ServiceRole): { ca: string[]; cert: string; key: string } {
  const root = resolve(dir);
  return {
    ca: readCaPems(root),
    cert: read(root, dataDirFiles.serviceCert(role)).toString('utf8'),
    key: read(root, dataDirFiles.serviceKey(role)).toString('utf8'),
  };
}
