import type { Command } from 'commander';
import pino from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import { formatReport } from '../demo/report.js';
import { runDemo } from '../demo/story.js';
import { emit, type CommonOptions } from '../output.js';
import { action } from '../program.js';
import { parseIntOption } from '../service-options.js';

interface DemoCliOptions extends CommonOptions {
  devices: number;
  rate: number;
  switchAfter: number;
  logLevel: string;
}

const HELP = `
On a temporary data dir (removed at the end), in this process: init; provisioner, broker and KDC on
free loopback ports (the file: store); a decrypting consumer; --devices devices registered over REST,
each enrolling over EST with its own key and CSR, connecting over mutual TLS and sending sealed
telemetry; two rotations followed to every ack; one device revoked (its session must be cut within
1 s, its re-enrollment refused, and the next epoch must key every device but it); then every sealed
message must have been opened. Prints a table of the steps (--json: the report); exit code 1 if any
step did not hold.`;

/** `fleetkey demo`: the whole story in one command, with a report. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the whole story on a temporary fleet: enroll, connect, decrypt, rotate twice, revoke; a PASS/FAIL table')
    .option('--devices <n>', 'number of simulated devices', parseIntOption, 20)
    .option('--rate <n>', 'telemetry messages per second per device', parseIntOption, 2)
    .option('--switch-after <s>', 'seconds from a rotation to the devices switching keys', parseIntOption, 2)
    .option('--log-level <level>', 'log level of the services, to stderr', 'error')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', HELP)
    .action(action(async (opts: DemoCliOptions) => {
      if (!(opts.devices >= 2 && opts.devices <= 500)) throw new FleetkeyError('CLI_INPUT_INVALID', '--devices must be between 2 and 500');
      if (!(opts.rate >= 1)) throw new FleetkeyError('CLI_INPUT_INVALID', '--rate must be at least 1');
      if (!(opts.switchAfter >= 1)) throw new FleetkeyError('CLI_INPUT_INVALID', '--switch-after must be at least 1');
      // Services log to stderr: stdout carries the table or the JSON report.
      const logger = pino({ name: 'fleetkey-demo', level: opts.logLevel }, pino.destination(2));
      const show = process.stderr.isTTY || !opts.json;
      const progress = (line: string) => {
        if (show) process.stderr.write(`${line}\n`);
      };
      const report = await runDemo({ devices: opts.devices, rate: opts.rate, switchAfterSeconds: opts.switchAfter, cutWithinMs: 1000 }, logger, progress);
      emit(opts, report, () => formatReport(report));
      if (!report.ok) process.exitCode = 1;
    }));
}
