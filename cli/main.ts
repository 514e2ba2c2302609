#!/usr/bin/env node
import { buildProgram, type CommandModule } from './program.js';

/** Every subcommand of `fleetkey`; each module registers itself. */
const modules: CommandModule[] = [];

await buildProgram(modules).parseAsync(process.argv);
