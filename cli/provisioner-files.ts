import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { newApiSecret } from '../provisioner/rest-fleet.js';
import type { Store } from '../store/types.js';
import { dataDirFiles } from './data-dir.js';

/**
 * What `fleetkey provisioner` leaves in the data dir for the CLI on the same machine: its URL and,
 * on the first start, a bootstrap admin API token. This is how the first admin token is made:
 * nothing else creates API tokens outside the REST API.
 */

function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

/** Writes `{ "url": … }` to provisioner/endpoint.json (atomically). */
export function writeEndpoint(dir: string, url: string): string {
  const path = join(resolve(dir), dataDirFiles.provisionerEndpoint);
  privateDir(dirname(path));
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ url, pid: process.pid })}\n`, { mode: 0o644 });
  renameSync(tmp, path);
  return path;
}

/** Removes the endpoint file if it still names this process. */
export function removeEndpoint(dir: string): void {
  const path = join(resolve(dir), dataDirFiles.provisionerEndpoint);
  try {
    if ((JSON.parse(readFileSync(path, 'utf8')) as { pid?: number }).pid === process.pid) rmSync(path, { force: true });
  } catch {
    // Gone or unreadable: nothing of ours to remove.
  }
}

/**
 * The bootstrap admin token: made (in the store, then written 0600 to provisioner/admin.token) only
 * when the file does not exist. Delete the file to have the next start make a fresh one; an admin
 * revokes the old one through the API. Returns the path and whether it was made now.
 */
export async function ensureAdminToken(dir: string, store: Store, log: Logger): Promise<{ path: string; created: boolean }> {
  const path = join(resolve(dir), dataDirFiles.adminToken);
  if (existsSync(path)) return { path, created: false };
  privateDir(dirname(path));
  const secret = newApiSecret();
  const id = `bootstrap-${randomBytes(4).toString('hex')}`;
  await store.createApiToken({ id, secret, role: 'admin', label: 'bootstrap (fleetkey provisioner)' }, 'system');
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another replica on this data dir won the race, or the disk refused: do not leave a token nobody holds.
    await store.revokeApiToken(id, 'system').catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { path, created: false };
    throw err;
  }
  log.info({ event: 'admin-token-created', tokenId: id, path }, 'bootstrap admin API token written');
  return { path, created: true };
}
