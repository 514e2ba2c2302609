import { readFileSync } from 'node:fs';
import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';

/** One line of an ids file: a device id, and its enrollment token when the file came from `devices add`. */
export interface IdLine {
  readonly id: string;
  readonly token: string | undefined;
}

/**
 * Reads an ids file: one device per line, `id` or `id,token` (the CSV `fleetkey devices add` prints,
 * header line included). Blank lines and `#` comments are skipped; a bad id or a repeated one is refused.
 */
export function readIdsFile(path: string): IdLine[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetkeyError('CLI_INPUT_INVALID', `${path}: ${(err as Error).message}`);
  }
  const seen = new Set<string>();
  const lines: IdLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || (i === 0 && /^id(,token)?$/i.test(line))) return;
    const [id = '', token, ...rest] = line.split(',').map((s) => s.trim());
    if (!isValidDeviceId(id) || rest.length > 0 || token === '') throw new FleetkeyError('CLI_INPUT_INVALID', `${path}:${i + 1}: not "id" or "id,token"`);
    if (seen.has(id)) throw new FleetkeyError('CLI_INPUT_INVALID', `${path}:${i + 1}: ${id} appears twice`);
    seen.add(id);
    lines.push({ id, token });
  });
  if (lines.length === 0) throw new FleetkeyError('CLI_INPUT_INVALID', `${path} names no device`);
  return lines;
}

/** CSV with a header; ids and base64url tokens need no quoting. */
export function toCsv(rows: readonly { id: string; token: string }[]): string {
  return ['id,token', ...rows.map((r) => `${r.id},${r.token}`)].join('\n');
}
