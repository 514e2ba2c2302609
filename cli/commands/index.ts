import type { CommandModule } from '../program.js';
import { registerBroker } from './broker.js';
import { registerDemo } from './demo.js';
import { registerDevices } from './devices.js';
import { registerInit } from './init.js';
import { registerKdc } from './kdc.js';
import { registerProvision } from './provision.js';
import { registerProvisioner } from './provisioner.js';
import { registerRevoke } from './revoke.js';
import { registerRotate } from './rotate.js';
import { registerSim } from './sim.js';
import { registerStatus } from './status.js';
import { registerStore } from './store.js';
import { registerTail } from './tail.js';
import { registerTokens } from './tokens.js';
import { registerUp } from './up.js';

/**
 * Every subcommand of `fleetkey`; each module registers itself. `cli/main.ts` runs them and
 * `cli/write-cli-docs.ts` renders docs/cli.md from them, so a command added here is documented too.
 * Importing this module has no side effects.
 */
export const commandModules: readonly CommandModule[] = [registerInit, registerUp, registerBroker,
  registerProvisioner, registerTokens, registerDevices, registerProvision, registerRevoke, registerStatus,
  registerKdc, registerTail, registerRotate, registerSim, registerDemo, registerStore];
