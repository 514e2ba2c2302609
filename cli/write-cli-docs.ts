import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { commandModules } from './commands/index.js';
import { buildProgram } from './program.js';

/**
 * docs/cli.md, rendered from commander's own help of every command, so the reference cannot drift
 * from the code: `npm run docs:cli` writes it, test/cli/cli-docs.test.ts compares it. The text does
 * not depend on where it is rendered: a fixed width, no colours, and the program built with no
 * FLEETKEY_* variable set (options read them as defaults when they are registered).
 */

const HELP_WIDTH = 100;

const PREAMBLE = `# Command-line reference

Every \`fleetkey\` command, as \`fleetkey <command> --help\` prints it. This file is generated from the
commands' definitions by \`npm run docs:cli\`; \`test/cli/cli-docs.test.ts\` fails when the two differ.

Defaults are shown as the code sets them. Where an option names an environment variable
(\`FLEETKEY_DIR\`, \`FLEETKEY_STORE\`, …), a set variable replaces the default; a flag beats both.
A failure prints its code and message (with \`--json\`, \`{"error":{"code","message"}}\` on stdout) and
exits 2 when something was refused (bad input, a refused request) or 1 on a fault; codes are listed in
[errors.md](errors.md). A usage error commander catches itself (unknown option, missing argument)
exits 1. How the commands fit together: [operations.md](operations.md).
`;

/** The program as registered with a clean environment; the caller's environment is restored. */
function cleanProgram(): Command {
  const saved = Object.entries(process.env).filter(([name]) => name.startsWith('FLEETKEY_'));
  for (const [name] of saved) delete process.env[name];
  try {
    return buildProgram(commandModules);
  } finally {
    for (const [name, value] of saved) process.env[name] = value;
  }
}

/** Everything `<cmd> --help` writes, including text added with addHelpText. */
function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({
    writeOut: (chunk) => {
      text += chunk;
    },
    getOutHelpWidth: () => HELP_WIDTH,
    getOutHasColors: () => false,
  });
  cmd.outputHelp();
  return text.replace(/[ \t]+$/gm, '').trimEnd();
}

function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The program, then every subcommand depth first, in the order `--help` lists them (by name). */
function walk(cmd: Command): Command[] {
  const children = cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
    .slice()
    .sort((a, b) => a.name().localeCompare(b.name()));
  return [cmd, ...children.flatMap(walk)];
}

/** GitHub's anchor for a heading of the form "`fleetkey devices add`". */
function anchor(path: string): string {
  return path.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
}

export function renderCliDocs(): string {
  const commands = walk(cleanProgram());
  const index = commands.slice(1).map((c) => {
    const path = pathOf(c);
    return `- [\`${path}\`](#${anchor(path)}): ${c.description()}`;
  });
  const sections = commands.map((c) => `## \`${pathOf(c)}\`\n\n\`\`\`text\n${helpOf(c)}\n\`\`\`\n`);
  return [PREAMBLE, index.join('\n'), '', ...sections].join('\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('../../docs/cli.md', import.meta.url), renderCliDocs());
}
