import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pemBlocks, toPem } from '../certs/pem.js';
import { FleetkeyError, type ErrorCode } from '../errors/index.js';
import { ApiClient } from './api-client.js';
import { dataDirFiles } from './data-dir.js';
import type { CommonOptions } from './output.js';

/** Options of every command that calls the provisioner's REST API. */
export interface ClientCliOptions extends CommonOptions {
  dir: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  cacert?: string;
}

export function addClientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'provisioner URL (env FLEETKEY_URL; default: from <dir>/provisioner/endpoint.json)')
    .option('--token-file <file>', 'file holding the API token (default: <dir>/provisioner/admin.token)')
    .option('--token <token>', 'API token (env FLEETKEY_TOKEN; prefer the env or a file: arguments show in ps)')
    .option('--cacert <file>', 'CA bundle the provisioner certificate chains to (env FLEETKEY_CACERT; default: <dir>/ca/chain.pem)')
    .option('--dir <dir>', 'data directory (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .option('--json', 'print the result as JSON');
}

function readText(path: string, code: ErrorCode): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FleetkeyError(code, `${path}: ${(err as Error).message}`);
  }
}

/** Flag, then environment, then the file the provisioner wrote in the data dir. */
export function resolveClientConfig(opts: ClientCliOptions): { url: string; token: string; ca: string[] } {
  const dir = resolve(opts.dir);
  const endpoint = readText(join(dir, dataDirFiles.provisionerEndpoint), 'API_URL_MISSING');
  const url = opts.url ?? (process.env.FLEETKEY_URL || undefined) ?? (endpoint === undefined ? undefined : (JSON.parse(endpoint) as { url?: string }).url);
  if (!url) throw new FleetkeyError('API_URL_MISSING', `no --url, FLEETKEY_URL or ${join(dir, dataDirFiles.provisionerEndpoint)}`);
  let token = opts.token;
  if (token === undefined && opts.tokenFile !== undefined) {
    token = readText(resolve(opts.tokenFile), 'API_TOKEN_MISSING');
    if (token === undefined) throw new FleetkeyError('API_TOKEN_MISSING', `${opts.tokenFile} does not exist`);
  }
  token = (token ?? (process.env.FLEETKEY_TOKEN || undefined) ?? readText(join(dir, dataDirFiles.adminToken), 'API_TOKEN_MISSING'))?.trim();
  if (!token) throw new FleetkeyError('API_TOKEN_MISSING', `no --token, --token-file, FLEETKEY_TOKEN or ${join(dir, dataDirFiles.adminToken)}`);
  const caFile = resolve(opts.cacert ?? (process.env.FLEETKEY_CACERT || undefined) ?? join(dir, dataDirFiles.chain));
  const caText = readText(caFile, 'CLI_INPUT_INVALID');
  const ca = caText === undefined ? [] : pemBlocks(caText, 'CERTIFICATE').map((der) => toPem('CERTIFICATE', der));
  if (ca.length === 0) throw new FleetkeyError('CLI_INPUT_INVALID', `${caFile} holds no CA certificate (pass --cacert)`);
  return { url, token, ca };
}

/** Runs `work` with a client for the configured provisioner, closing its connections afterwards. */
export async function withApi<T>(opts: ClientCliOptions, work: (api: ApiClient) => Promise<T>, concurrency?: number): Promise<T> {
  const api = new ApiClient({ ...resolveClientConfig(opts), ...(concurrency === undefined ? {} : { concurrency }) });
  try {
    return await work(api);
  } finally {
    api.close();
  }
}
