import { Option, type Command } from 'commander';
import { API_REVOCATION_REASONS } from '../../provisioner/rest-devices.js';
import { addClientOptions, withApi, type ClientCliOptions } from '../client-options.js';
import { emit } from '../output.js';
import { action } from '../program.js';

interface RevokeOptions extends ClientCliOptions {
  reason: string;
}

interface Revoked {
  deviceId: string;
  revoked: { serial: string; reason: string; revokedAt: string }[];
}

/** `fleetkey revoke ID --reason R`: revokes the device and its certificates; brokers cut its sessions, the CRL is updated. */
export function registerRevoke(program: Command): void {
  addClientOptions(
    program
      .command('revoke')
      .description('revoke a device: its certificates go on the CRL and brokers close its sessions (operator or admin token)')
      .argument('<id>', 'device id')
      .addOption(new Option('--reason <reason>', 'RFC 5280 reason').choices(API_REVOCATION_REASONS).makeOptionMandatory()),
  ).action(action(async (id: string, opts: RevokeOptions) => {
    const result = await withApi(opts, (api) => api.json<Revoked>('POST', `/v1/devices/${encodeURIComponent(id)}/revoke`, { reason: opts.reason }));
    emit(opts, result, () => [
      `revoked ${result.deviceId} (${opts.reason})`,
      ...result.revoked.map((r) => `  certificate ${r.serial}`),
    ].join('\n'));
  }));
}
