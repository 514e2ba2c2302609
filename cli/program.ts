import { Command } from 'commander';
import { reportFailure } from './output.js';

/** A command module adds its subcommand to the program. */
export type CommandModule = (program: Command) => void;

/**
 * Wraps a command's action so that every failure is printed the same way
 * (code + message, JSON with --json) and ends the process with a non-zero code.
 */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void> | void,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command | undefined;
    const json = Boolean(cmd?.optsWithGlobals?.().json);
    try {
      await run(...args);
    } catch (err) {
      reportFailure(err, json);
    }
  };
}

export function buildProgram(modules: readonly CommandModule[]): Command {
  const program = new Command('fleetkey')
    .description('IoT device provisioning, a mutual-TLS MQTT broker and fleet key rotation')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  for (const register of modules) register(program);
  return program;
}
