import { readFileSync } from 'node:fs';
import t from 'tap';
import { commandModules } from '../../cli/commands/index.js';
import { buildProgram } from '../../cli/program.js';
import { renderCliDocs } from '../../cli/write-cli-docs.js';

t.test('docs/cli.md is in step with the commands', async (t) => {
  const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  t.equal(doc, renderCliDocs(), 'run `npm run docs:cli` after changing a command, an option or a help text');
});

t.test('the rendering does not depend on the environment', async (t) => {
  const clean = renderCliDocs();
  const saved = { dir: process.env.FLEETKEY_DIR, broker: process.env.FLEETKEY_BROKER };
  t.teardown(() => {
    for (const [name, value] of [['FLEETKEY_DIR', saved.dir], ['FLEETKEY_BROKER', saved.broker]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  process.env.FLEETKEY_DIR = '/somewhere/else';
  process.env.FLEETKEY_BROKER = 'mqtts://elsewhere:1';
  const rendered = renderCliDocs();
  t.equal(rendered, clean, 'FLEETKEY_* variables do not change the defaults shown');
  t.notMatch(rendered, /somewhere\/else|elsewhere:1/);
  t.equal(process.env.FLEETKEY_DIR, '/somewhere/else', 'the caller\'s environment is restored');
  t.match(rendered, /--dir <dir>[^\n]*\n?[^\n]*\(default: "\.\/data"\)/, 'the code\'s own default is shown');
  t.notMatch(rendered, /\u001b\[/, 'no terminal colours');
});

t.test('every command and subcommand has a section', async (t) => {
  const rendered = renderCliDocs();
  const program = buildProgram(commandModules);
  const paths = program.commands.flatMap((c) => [`fleetkey ${c.name()}`, ...c.commands.map((s) => `fleetkey ${c.name()} ${s.name()}`)]);
  t.ok(paths.length >= 13, `${paths.length} commands`);
  for (const path of paths) t.match(rendered, `\n## \`${path}\`\n`, path);
});
