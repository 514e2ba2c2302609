import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeviceSource, FleetTrust } from '../device-sim/index.js';
import { BUNDLE_FILES, fleetTrust, loadBundle } from '../device-sim/index.js';
import { FleetkeyError } from '../errors/index.js';
import { ApiClient } from './api-client.js';
import { resolveClientConfig } from './client-options.js';
import { dataDirFiles } from './data-dir.js';
import { readIdsFile } from './ids-file.js';

/** Where `fleetkey sim` gets its devices and what they trust. */
export interface SimSourceOptions {
  devices: number;
  dir: string;
  url?: string;
  cacert?: string;
  bundles?: string;
  tokens?: string;
  register?: boolean;
  token?: string;
  tokenFile?: string;
  prefix: string;
  start?: number;
}

/** The provisioner URL: flag, FLEETKEY_URL, or the endpoint file `fleetkey provisioner` wrote. */
export function provisionerUrl(opts: Pick<SimSourceOptions, 'url' | 'dir'>): string | undefined {
  if (opts.url) return opts.url;
  if (process.env.FLEETKEY_URL) return process.env.FLEETKEY_URL;
  const endpoint = join(resolve(opts.dir), dataDirFiles.provisionerEndpoint);
  if (!existsSync(endpoint)) return undefined;
  return (JSON.parse(readFileSync(endpoint, 'utf8')) as { url?: string }).url;
}

/** The fleet CA: --cacert, FLEETKEY_CACERT, <dir>/ca/chain.pem, or the first bundle's chain.pem. */
export function simTrust(opts: SimSourceOptions): FleetTrust {
  const candidates = [opts.cacert, process.env.FLEETKEY_CACERT || undefined, join(resolve(opts.dir), dataDirFiles.chain)];
  const file = candidates.find((f): f is string => f !== undefined && existsSync(f));
  if (file) return fleetTrust(readFileSync(file, 'utf8'));
  const first = opts.bundles ? bundleIds(opts.bundles)[0] : undefined;
  if (opts.bundles && first) return fleetTrust(readFileSync(join(opts.bundles, first, BUNDLE_FILES.chain), 'utf8'));
  throw new FleetkeyError('CLI_INPUT_INVALID', 'no fleet CA: pass --cacert or --dir with ca/chain.pem');
}

/** Device directories of a bundles directory (as `fleetkey provision` writes it), sorted. */
function bundleIds(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(dir, e.name, BUNDLE_FILES.cert)))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new FleetkeyError('CLI_INPUT_INVALID', `--bundles ${dir}: ${(err as Error).message}`);
  }
}

/**
 * The devices to simulate, exactly one source: factory bundles (no enrollment), an ids file of
 * `id,token` lines (`fleetkey devices add`), or `--register` with a factory API token (the devices
 * are registered here, then enroll with their tokens).
 */
export async function simDevices(opts: SimSourceOptions, trust: FleetTrust): Promise<DeviceSource[]> {
  const sources = [opts.bundles !== undefined, opts.tokens !== undefined, opts.register === true].filter(Boolean).length;
  if (sources !== 1) throw new FleetkeyError('CLI_INPUT_INVALID', 'give exactly one of --bundles DIR, --tokens FILE, --register --token T');
  const n = opts.devices;
  if (opts.bundles !== undefined) {
    const ids = bundleIds(opts.bundles);
    if (ids.length < n) throw new FleetkeyError('CLI_INPUT_INVALID', `--bundles ${opts.bundles} holds ${ids.length} device bundles, --devices asks for ${n}`);
    return ids.slice(0, n).map((id) => ({ id, identity: loadBundle(opts.bundles!, id, trust).identity }));
  }
  if (opts.tokens !== undefined) {
    const lines = readIdsFile(opts.tokens).filter((l) => l.token !== undefined);
    if (lines.length < n) throw new FleetkeyError('CLI_INPUT_INVALID', `${opts.tokens} has ${lines.length} id,token lines, --devices asks for ${n}`);
    return lines.slice(0, n).map((l) => ({ id: l.id, token: l.token! }));
  }
  // Like every REST command: --token, FLEETKEY_TOKEN, --token-file, or the data dir's admin token.
  const { url, token } = resolveClientConfig({ dir: opts.dir, url: provisionerUrl(opts), token: opts.token, tokenFile: opts.tokenFile, cacert: opts.cacert });
  const api = new ApiClient({ url, token, ca: trust.caPems });
  try {
    const body = { count: n, prefix: opts.prefix, ...(opts.start === undefined ? {} : { start: opts.start }) };
    const { devices } = await api.json<{ devices: { id: string; token: string }[] }>('POST', '/v1/devices', body);
    return devices.map((d) => ({ id: d.id, token: d.token }));
  } finally {
    api.close();
  }
}
