import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import ts from 'typescript';
import { tempDir } from './tmp.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RELATIVE_IMPORT = /(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)\.js'/g;

/**
 * Runs a TypeScript entry point (a path relative to the repository root, e.g. `cli/main.ts` or
 * `test/store/fixtures/crash-writer.ts`) in a child `node`, killed in teardown if still running.
 * The fixture and everything it imports relatively are transpiled once per test into a temp tree:
 * a child under tap's TS loader (process.execArgv) takes 1.5–3 s to start, plain node ~0.1 s,
 * which is what makes many crash rounds affordable.
 */
export function spawnTs(t: Test, entry: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [compiled(t, entry), ...args], { stdio: 'pipe', ...(env ? { env } : {}) });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

const trees = new WeakMap<Test, string>();

/** The entry transpiled (with what it imports relatively) into the test's temp tree; its path there. */
export function compiled(t: Test, entryPath: string): string {
  let out = trees.get(t);
  if (out === undefined) {
    out = tempDir(t, 'fleetkey-fixture-');
    writeFileSync(join(out, 'package.json'), '{"type":"module"}');
    symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
    trees.set(t, out);
  }
  const entry = join(ROOT, entryPath);
  const queue = [entry];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
    if (existsSync(target)) continue;
    const source = readFileSync(file, 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
    for (const [, spec] of source.matchAll(RELATIVE_IMPORT)) queue.push(resolve(dirname(file), `${spec}.ts`));
  }
  return join(out, relative(ROOT, entry)).replace(/\.ts$/, '.js');
}

/** Each stdout line of the child, as it comes. */
export function onLine(child: ChildProcessWithoutNullStreams, handle: (line: string) => void): void {
  createInterface({ input: child.stdout }).on('line', handle);
}

export function exited(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Runs a `fleetkey` command (cli/main.ts) to its end: exit code, stdout and stderr. */
export async function runCli(t: Test, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs(t, 'cli/main.ts', args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const { code } = await exited(child);
  return { code, stdout, stderr };
}
