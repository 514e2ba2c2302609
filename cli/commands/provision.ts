import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { FleetkeyError } from '../../errors/index.js';
import { addClientOptions, withApi, type ClientCliOptions } from '../client-options.js';
import { readIdsFile } from '../ids-file.js';
import { emit } from '../output.js';
import { action } from '../program.js';
import { provisionBatch, type ProvisionPlan } from '../provision-batch.js';
import { parseIntOption } from '../service-options.js';

interface ProvisionOptions extends ClientCliOptions {
  ids: string;
  out: string;
  passwordFile?: string;
  keyType: ProvisionPlan['keyType'];
  concurrency: number;
  progress: boolean;
}

const HELP = `
Per device, <out>/<id>/ holds key.pem (PKCS#8, 0600), cert.pem, chain.pem (issuing CA + root) and
device.p12 (key, certificate and chain; 0600). Without --password-file (or FLEETKEY_P12_PASSWORD)
each bundle gets a random password, written to device.p12.password (0600).
Resumable: devices whose directory exists are skipped, so rerun the same command after a failure or
a crash (of this command or of the provisioner). A bundle whose answer was lost is fetched again with
the same token while it lives (a new key; the certificate recorded first is replaced at first use),
and asked for again at once while the provisioner is unreachable, for up to FLEETKEY_RETRY_SECONDS.
The ids file has one id per line, or "id,token" lines as \`fleetkey devices add\` prints them;
devices without a token are registered first (their tokens wait in <out>/.pending/ until used).`;

function readPassword(opts: ProvisionOptions): string | undefined {
  if (opts.passwordFile === undefined) return process.env.FLEETKEY_P12_PASSWORD || undefined;
  try {
    const password = readFileSync(opts.passwordFile, 'utf8').replace(/\r?\n$/, '');
    if (password.length === 0) throw new Error('empty');
    return password;
  } catch (err) {
    throw new FleetkeyError('CLI_INPUT_INVALID', `--password-file ${opts.passwordFile}: ${(err as Error).message}`);
  }
}

/** `fleetkey provision --ids FILE --out DIR`: factory batch to per-device bundles, through the REST API. */
export function registerProvision(program: Command): void {
  addClientOptions(
    program
      .command('provision')
      .description('factory batch: per device a server-made key, certificate, chain and PKCS#12 (factory or admin token)')
      .requiredOption('--ids <file>', 'device ids, one per line (or id,token CSV)')
      .requiredOption('--out <dir>', 'output directory')
      .option('--password-file <file>', 'one PKCS#12 password for the batch (env FLEETKEY_P12_PASSWORD)')
      .addOption(new Option('--key-type <type>', 'device key type').choices(['ec-p256', 'ec-p384', 'rsa']).default('ec-p256'))
      .option('--concurrency <n>', 'bundles in flight at once', parseIntOption, 4)
      .option('--no-progress', 'no progress bar even on a terminal'),
  )
    .addHelpText('after', HELP)
    .action(action(async (opts: ProvisionOptions) => {
      const devices = readIdsFile(opts.ids);
      const plan: ProvisionPlan = { out: opts.out, devices, password: readPassword(opts), keyType: opts.keyType, concurrency: opts.concurrency };
      const bar = opts.progress && !opts.json && process.stderr.isTTY
        ? new SingleBar({ stream: process.stderr, format: 'provision [{bar}] {value}/{total} {id}', hideCursor: true }, Presets.shades_classic)
        : undefined;
      bar?.start(devices.length, 0, { id: '' });
      let result;
      try {
        result = await withApi(opts, (api) => provisionBatch(api, plan, (id) => bar?.increment({ id })), opts.concurrency);
        bar?.update(devices.length);
      } finally {
        bar?.stop();
      }
      emit(opts, result, () => [
        `${result.written.length} written, ${result.skipped.length} already done, ${result.failed.length} failed (of ${result.total}) in ${opts.out}`,
        ...result.failed.map((f) => `  ${f.id}: ${f.code}: ${f.message}`),
      ].join('\n'));
      if (result.failed.length > 0) process.exitCode = 2;
    }));
}
