import type { Command } from 'commander';
import { addClientOptions, withApi, type ClientCliOptions } from '../client-options.js';
import { emit } from '../output.js';
import { action } from '../program.js';

interface Status {
  devices: Record<string, number>;
  expiring: { withinDays: number; count: number; certificates: { serial: string; subject: string; notAfter: string }[] };
  epoch: number | null;
  crl: { ready: boolean };
}

/** `fleetkey status`: devices by status and certificates that expire soon, from the provisioner. */
export function registerStatus(program: Command): void {
  addClientOptions(
    program.command('status').description('devices by status and certificates expiring within 30 days'),
  ).action(action(async (opts: ClientCliOptions) => {
    const status = await withApi(opts, (api) => api.json<Status>('GET', '/v1/status'));
    emit(opts, status, () => [
      `devices     ${Object.entries(status.devices).map(([s, n]) => `${s} ${n}`).join(', ')}`,
      `key epoch   ${status.epoch ?? 'none yet'}`,
      `expiring    ${status.expiring.count} certificate(s) within ${status.expiring.withinDays} days`,
      ...status.expiring.certificates.map((c) => `  ${c.notAfter}  ${c.subject}  ${c.serial}`),
    ].join('\n'));
  }));
}
