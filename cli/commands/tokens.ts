import type { Command } from 'commander';
import { addClientOptions, withApi, type ClientCliOptions } from '../client-options.js';
import { emit } from '../output.js';
import { action } from '../program.js';

interface TokensCreateOptions extends ClientCliOptions {
  role: string;
  label?: string;
}

interface CreatedToken {
  id: string;
  role: string;
  label: string | null;
  createdAt: string;
  token: string;
}

const HELP = `
The first admin token: \`fleetkey provisioner\` writes one to <dir>/provisioner/admin.token (mode 0600)
on its first start with a data dir; commands on that machine use it by default. Use it to make
factory and operator tokens here, hand those out, and keep the admin token for token management.`;

/** `fleetkey tokens create --role R`: a new API token through the REST API (admin only); the secret is shown once. */
export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('manage REST API tokens');
  addClientOptions(
    tokens
      .command('create')
      .description('create an API token (needs an admin token); prints the secret once')
      .requiredOption('--role <role>', 'factory | operator | admin')
      .option('--label <text>', 'a note kept with the token, e.g. who holds it'),
  )
    .addHelpText('after', HELP)
    .action(action(async (opts: TokensCreateOptions) => {
      const created = await withApi(opts, (api) =>
        api.json<CreatedToken>('POST', '/v1/tokens', { role: opts.role, ...(opts.label === undefined ? {} : { label: opts.label }) }));
      emit(opts, created, () => `${created.token}\n# id ${created.id}, role ${created.role}: shown once, store it now`);
    }));
}
