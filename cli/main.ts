#!/usr/bin/env node
import { registerBroker } from './commands/broker.js';
import { registerInit } from './commands/init.js';
import { registerKdc } from './commands/kdc.js';
import { registerRotate } from './commands/rotate.js';
import { registerSim } from './commands/sim.js';
import { registerTail } from './commands/tail.js';
import { registerUp } from './commands/up.js';
import { registerDevices } from './commands/devices.js';
import { registerProvision } from './commands/provision.js';
import { registerProvisioner } from './commands/provisioner.js';
import { registerRevoke } from './commands/revoke.js';
import { registerStatus } from './commands/status.js';
import { registerTokens } from './commands/tokens.js';
import { buildProgram, type CommandModule } from './program.js';

/** Every subcommand of `fleetkey`; each module registers itself. */
const modules: CommandModule[] = [registerInit, registerUp, registerBroker,
  registerProvisioner, registerTokens, registerDevices, registerProvision, registerRevoke, registerStatus,
  registerKdc, registerTail, registerRotate, registerSim];

await buildProgram(modules).parseAsync(process.argv);
