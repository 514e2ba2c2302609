import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientFiles, TestFleet } from '../helpers/fleet.js';

/** A data dir as `fleetkey init` lays it out, from a test fleet: what `fleetkey kdc` and `tail` read. */
export function writeDataDir(fleet: TestFleet, files: { kdc: ClientFiles; consumer?: ClientFiles }, kek: Buffer): string {
  const dir = join(fleet.dir, 'data');
  mkdirSync(join(dir, 'ca'), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'services'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'ca/chain.pem'), fleet.ca.issuing.certificate.pem + fleet.ca.root.certificate.pem);
  for (const [role, f] of Object.entries(files)) {
    writeFileSync(join(dir, `services/${role}.pem`), f.cert);
    writeFileSync(join(dir, `services/${role}.key`), f.key, { mode: 0o600 });
  }
  writeFileSync(join(dir, 'kek'), kek, { mode: 0o600 });
  return dir;
}
