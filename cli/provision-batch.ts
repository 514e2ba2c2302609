import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import type { ApiClient } from './api-client.js';
import { retrySecondsFromEnv } from './api-retry.js';
import type { IdLine } from './ids-file.js';

/** What `POST /v1/devices/{id}/bundle` answers (JSON form). */
interface BundleJson {
  deviceId: string;
  serial: string;
  certificate: string;
  chain: string;
  privateKey: string;
  pkcs12: string;
}

export interface ProvisionPlan {
  readonly out: string;
  readonly devices: readonly IdLine[];
  /** One PKCS#12 password for the batch; undefined makes a random one per device (written beside the bundle). */
  readonly password: string | undefined;
  readonly keyType: 'ec-p256' | 'ec-p384' | 'rsa';
  readonly concurrency: number;
  /** How long one bundle keeps being asked for while the provisioner is unreachable (default FLEETKEY_RETRY_SECONDS, else 60). */
  readonly retrySeconds?: number;
}

export interface ProvisionResult {
  readonly total: number;
  readonly written: string[];
  readonly skipped: string[];
  readonly failed: { id: string; code: string; message: string }[];
}

/** Files of one finished device directory `<out>/<id>/`. */
export const BUNDLE_FILES = ['key.pem', 'cert.pem', 'chain.pem', 'device.p12'] as const;

/**
 * The factory batch: for each device a server-made key, its certificate, the chain and a PKCS#12,
 * written to `<out>/<id>/` by renaming a finished temporary directory, so a device directory is
 * either complete or absent and a rerun skips what exists. Devices without a token in the ids file
 * are registered first; their tokens wait in `<out>/.pending/` (0600) until their bundle is written.
 *
 * Resumable after a crash of this process or of the provisioner: a bundle whose answer was lost is
 * asked for again with the same token (the provisioner answers a new key whose certificate is a
 * pending successor of the one recorded, docs/provisioner.md), at once while the provisioner is
 * unreachable or unavailable for up to `retrySeconds`, and on a rerun; a registration whose answer
 * was lost (`<id>.registering` left in `.pending/`) gets a fresh token for the device instead.
 */
export async function provisionBatch(api: ApiClient, plan: ProvisionPlan, progress: (id: string) => void): Promise<ProvisionResult> {
  const out = resolve(plan.out);
  const pending = join(out, '.pending');
  mkdirSync(pending, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(out)) if (name.startsWith('.tmp-')) rmSync(join(out, name), { recursive: true, force: true });

  const skipped = plan.devices.filter((d) => existsSync(join(out, d.id))).map((d) => d.id);
  const todo = plan.devices.filter((d) => !skipped.includes(d.id));
  const tokens = new Map<string, string>();
  for (const d of todo) {
    const saved = join(pending, `${d.id}.token`);
    const token = d.token ?? (existsSync(saved) ? readFileSync(saved, 'utf8').trim() : undefined);
    if (token !== undefined) tokens.set(d.id, token);
  }
  const lost = todo.filter((d) => !tokens.has(d.id) && existsSync(join(pending, `${d.id}.registering`))).map((d) => d.id);
  const unregistered = await renewLostTokens(api, lost, pending, tokens);
  await registerMissing(api, [...todo.filter((d) => !tokens.has(d.id) && !lost.includes(d.id)).map((d) => d.id), ...unregistered], pending, tokens);

  const written: string[] = [];
  const failed: ProvisionResult['failed'] = [];
  const queue = [...todo];
  const worker = async () => {
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      try {
        await provisionOne(api, plan, out, d.id, tokens.get(d.id)!);
        rmSync(join(pending, `${d.id}.token`), { force: true });
        written.push(d.id);
      } catch (err) {
        if (!isFleetkeyError(err)) throw err;
        failed.push({ id: d.id, code: err.code, message: err.message });
      }
      progress(d.id);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, plan.concurrency) }, worker));
  return { total: plan.devices.length, written, skipped, failed };
}

/**
 * One registration for every device that has no token yet; the tokens are saved before use. A marker
 * per device, written first, tells a rerun which devices this batch may have registered.
 */
async function registerMissing(api: ApiClient, ids: string[], pending: string, tokens: Map<string, string>): Promise<void> {
  if (ids.length === 0) return;
  for (const id of ids) writeFileSync(join(pending, `${id}.registering`), '', { mode: 0o600 });
  try {
    const { devices } = await api.json<{ devices: { id: string; token: string }[] }>('POST', '/v1/devices', { ids });
    for (const d of devices) saveToken(pending, tokens, d.id, d.token);
  } catch (err) {
    if (isFleetkeyError(err, 'DEVICE_EXISTS')) {
      throw new FleetkeyError('DEVICE_EXISTS', 'some devices are registered already: give their tokens in the ids file as "id,token" (`fleetkey devices token ID` makes new ones)');
    }
    throw err;
  }
}

function saveToken(pending: string, tokens: Map<string, string>, id: string, token: string): void {
  writeFileSync(join(pending, `${id}.token`), `${token}\n`, { mode: 0o600 });
  rmSync(join(pending, `${id}.registering`), { force: true });
  tokens.set(id, token);
}

/**
 * Devices whose registration this batch sent but whose answer (their tokens) it never saved: a
 * registered one gets a new token (the lost one stops working), one never registered is returned to
 * be registered. An enrolled one cannot have used a token this batch never saw: its marker stays and
 * its bundle fails with DEVICE_STATE_CONFLICT.
 */
async function renewLostTokens(api: ApiClient, ids: string[], pending: string, tokens: Map<string, string>): Promise<string[]> {
  const unregistered: string[] = [];
  for (const id of ids) {
    const path = `/v1/devices/${encodeURIComponent(id)}`;
    try {
      await api.json('GET', path);
    } catch (err) {
      if (!isFleetkeyError(err, 'DEVICE_NOT_FOUND')) throw err;
      unregistered.push(id);
      continue;
    }
    const renewed = await api.json<{ token: string }>('POST', `${path}/token`, {}).catch((err: unknown) => {
      if (isFleetkeyError(err, 'DEVICE_STATE_CONFLICT')) return undefined;
      throw err;
    });
    if (renewed !== undefined) saveToken(pending, tokens, id, renewed.token);
  }
  return unregistered;
}

/** The bundle, asked for again while the provisioner is unreachable: the token fetches it again (a lost answer is no loss). */
async function fetchBundle(api: ApiClient, plan: ProvisionPlan, id: string, token: string, password: string): Promise<BundleJson> {
  const deadline = Date.now() + 1000 * (plan.retrySeconds ?? retrySecondsFromEnv());
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.json<BundleJson>('POST', `/v1/devices/${encodeURIComponent(id)}/bundle`, { token, password, keyType: plan.keyType }, { retry: true });
    } catch (err) {
      const wait = Math.min(1000 * 2 ** (attempt - 1), 5000);
      if (!isFleetkeyError(err, 'API_UNREACHABLE') || Date.now() + wait > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

async function provisionOne(api: ApiClient, plan: ProvisionPlan, out: string, id: string, token: string): Promise<void> {
  const password = plan.password ?? randomBytes(18).toString('base64url');
  const bundle = await fetchBundle(api, plan, id, token, password);
  const tmp = join(out, `.tmp-${id}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { mode: 0o700 });
  writeFileSync(join(tmp, 'key.pem'), bundle.privateKey, { mode: 0o600 });
  writeFileSync(join(tmp, 'cert.pem'), bundle.certificate, { mode: 0o644 });
  writeFileSync(join(tmp, 'chain.pem'), bundle.chain, { mode: 0o644 });
  writeFileSync(join(tmp, 'device.p12'), Buffer.from(bundle.pkcs12, 'base64'), { mode: 0o600 });
  if (plan.password === undefined) writeFileSync(join(tmp, 'device.p12.password'), `${password}\n`, { mode: 0o600 });
  renameSync(tmp, join(out, id));
}
