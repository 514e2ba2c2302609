#!/usr/bin/env node
import { commandModules } from './commands/index.js';
import { buildProgram } from './program.js';

// Subcommands are listed in cli/commands/index.ts (add new ones there: docs/cli.md is rendered from it).
await buildProgram(commandModules).parseAsync(process.argv);
