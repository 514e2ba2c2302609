#!/usr/bin/env node
import { registerBroker } from './commands/broker.js';
import { registerInit } from './commands/init.js';
import { registerUp } from './commands/up.js';
import { buildProgram, type CommandModule } from './program.js';

/** Every subcommand of `fleetkey`; each module registers itself. */
const modules: CommandModule[] = [registerInit, registerUp, registerBroker];

await buildProgram(modules).parseAsync(process.argv);
