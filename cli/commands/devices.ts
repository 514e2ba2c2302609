import type { Command } from 'commander';
import { FleetkeyError } from '../../errors/index.js';
import { addClientOptions, withApi, type ClientCliOptions } from '../client-options.js';
import { readIdsFile, toCsv } from '../ids-file.js';
import { emit, failureExitCode, failureJson } from '../output.js';
import { action } from '../program.js';
import { parseIntOption } from '../service-options.js';

interface AddOptions extends ClientCliOptions {
  count?: number;
  prefix?: string;
  start?: number;
  ids?: string;
}

interface TokenOptions extends ClientCliOptions {
  ids?: string;
}

interface RenewedToken {
  id: string;
  token: string;
  tokenExpiresAt: string;
}

interface ListOptions extends ClientCliOptions {
  status?: string;
}

interface DeviceJson {
  id: string;
  status: string;
  createdAt: string;
  tokenExpiresAt: string | null;
  enrolledAt: string | null;
}

/** The body of POST /v1/devices for exactly one of: ids as arguments, --ids FILE, --count + --prefix. */
function registration(ids: string[], opts: AddOptions): Record<string, unknown> {
  const forms = [ids.length > 0, opts.ids !== undefined, opts.count !== undefined].filter(Boolean).length;
  if (forms !== 1) throw new FleetkeyError('CLI_INPUT_INVALID', 'give device ids, --ids FILE, or --count N --prefix P (exactly one)');
  if (opts.count !== undefined) {
    if (opts.prefix === undefined) throw new FleetkeyError('CLI_INPUT_INVALID', '--count needs --prefix');
    return { count: opts.count, prefix: opts.prefix, ...(opts.start === undefined ? {} : { start: opts.start }) };
  }
  return { ids: opts.ids !== undefined ? readIdsFile(opts.ids).map((l) => l.id) : ids };
}

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('register and list devices (through the provisioner)');

  addClientOptions(
    devices
      .command('add')
      .description('register devices; prints id,token CSV (tokens are shown once: keep the output)')
      .argument('[ids...]', 'device ids')
      .option('--count <n>', 'register n devices named <prefix><number>', parseIntOption)
      .option('--prefix <p>', 'id prefix for --count, e.g. line7-')
      .option('--start <n>', 'first number for --count (default 1)', parseIntOption)
      .option('--ids <file>', 'file with one device id per line'),
  ).action(action(async (ids: string[], opts: AddOptions) => {
    const body = registration(ids, opts);
    const result = await withApi(opts, (api) => api.json<{ devices: { id: string; token: string; tokenExpiresAt: string }[] }>('POST', '/v1/devices', body));
    emit(opts, result, () => toCsv(result.devices));
  }));

  addClientOptions(
    devices
      .command('token')
      .description('new one-time enrollment tokens for devices not enrolled yet (each old token stops working); prints id,token CSV')
      .argument('[ids...]', 'device ids')
      .option('--ids <file>', 'file with one device id per line'),
  ).action(action(async (ids: string[], opts: TokenOptions) => {
    if ((ids.length > 0) === (opts.ids !== undefined)) throw new FleetkeyError('CLI_INPUT_INVALID', 'give device ids or --ids FILE (exactly one)');
    const wanted = opts.ids !== undefined ? readIdsFile(opts.ids).map((l) => l.id) : ids;
    const renewed: RenewedToken[] = [];
    let failure: unknown;
    await withApi(opts, async (api) => {
      for (const id of wanted) {
        try {
          renewed.push(await api.json<RenewedToken>('POST', `/v1/devices/${encodeURIComponent(id)}/token`));
        } catch (err) {
          failure = err;
          break;
        }
      }
    });
    if (failure === undefined) return emit(opts, { devices: renewed }, () => toCsv(renewed));
    if (renewed.length === 0) throw failure;
    // The tokens renewed before the refusal are printed all the same: their old tokens no longer work.
    emit(opts, { devices: renewed, error: failureJson(failure) }, () => toCsv(renewed));
    if (!opts.json) throw failure; // the refusal on stderr, as for every command
    process.exitCode = failureExitCode(failure);
  }));

  addClientOptions(
    devices
      .command('reprovision')
      .description('give an active device that lost its key a new one-time enrollment token; revokes its certificates (superseded); prints id,token CSV')
      .argument('<id>', 'device id'),
  ).action(action(async (id: string, opts: ClientCliOptions) => {
    const result = await withApi(opts, (api) => api.json<RenewedToken & { revoked: { serial: string }[] }>('POST', `/v1/devices/${encodeURIComponent(id)}/reprovision`));
    emit(opts, result, () => `${toCsv([result])}\n# revoked ${result.revoked.length} certificate(s): ${result.revoked.map((r) => r.serial).join(' ') || '-'}`);
  }));

  addClientOptions(
    devices
      .command('list')
      .description('list devices with their status')
      .option('--status <status>', 'registered | active | revoked'),
  ).action(action(async (opts: ListOptions) => {
    const all = await withApi(opts, async (api) => {
      const out: DeviceJson[] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({ limit: '1000', ...(opts.status ? { status: opts.status } : {}), ...(cursor ? { cursor } : {}) });
        const page: { devices: DeviceJson[]; nextCursor: string | null } = await api.json('GET', `/v1/devices?${query}`);
        out.push(...page.devices);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return out;
    });
    emit(opts, { devices: all }, () => [
      `${'id'.padEnd(24)} ${'status'.padEnd(10)} enrolled`,
      ...all.map((d) => `${d.id.padEnd(24)} ${d.status.padEnd(10)} ${d.enrolledAt ?? '-'}`),
      `${all.length} device(s)`,
    ].join('\n'));
  }));

  addClientOptions(
    devices.command('show').description('one device with its certificates').argument('<id>', 'device id'),
  ).action(action(async (id: string, opts: ClientCliOptions) => {
    const device = await withApi(opts, (api) => api.json<DeviceJson & { certificates: { serial: string; notAfter: string; revoked: boolean; pending: boolean }[] }>(
      'GET', `/v1/devices/${encodeURIComponent(id)}`));
    emit(opts, device, () => [
      `${device.id}: ${device.status}${device.enrolledAt ? `, enrolled ${device.enrolledAt}` : ''}`,
      ...device.certificates.map((c) => `  ${c.serial}  until ${c.notAfter}${c.revoked ? '  (revoked)' : c.pending ? '  (pending: not used yet)' : ''}`),
    ].join('\n'));
  }));
}
