import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { openssl } from '../helpers/openssl.js';

/** Helpers for the certs tests: CSRs made by `openssl req`, and `openssl x509 -text` read back. */

export interface OpensslCsr {
  readonly der: Buffer;
  readonly pem: string;
  readonly keyFile: string;
}

/**
 * `openssl req -new` with a fresh key: `newkey` is what follows `-newkey` (`ec`, `rsa:2048`,
 * `ed25519`…), `extra` any further arguments (`-pkeyopt …`, `-addext …`, `-sha1`).
 */
export function opensslCsr(dir: string, name: string, subject: string, newkey: string, extra: readonly string[] = []): OpensslCsr {
  const keyFile = join(dir, `${name}.key`);
  const pemFile = join(dir, `${name}.csr`);
  const req = openssl(['req', '-new', '-newkey', newkey, ...extra, '-nodes', '-keyout', keyFile, '-subj', subject, '-out', pemFile]);
  if (req.status !== 0) throw new Error(`openssl req failed: ${req.stderr}`);
  const derFile = join(dir, `${name}.csr.der`);
  if (openssl(['req', '-in', pemFile, '-outform', 'DER', '-out', derFile]).status !== 0) throw new Error('openssl req -outform DER failed');
  return { der: readFileSync(derFile), pem: readFileSync(pemFile, 'latin1'), keyFile };
}

/** `openssl req` from an existing PEM key file. */
export function opensslCsrFromKey(dir: string, name: string, subject: string, keyFile: string, extra: readonly string[] = []): Buffer {
  const out = join(dir, `${name}.from-key.der`);
  const req = openssl(['req', '-new', '-key', keyFile, ...extra, '-subj', subject, '-outform', 'DER', '-out', out]);
  if (req.status !== 0) throw new Error(`openssl req failed: ${req.stderr}`);
  return readFileSync(out);
}

export interface ExtensionText {
  readonly critical: boolean;
  readonly value: string;
}

/** `openssl x509 -text -noout`, and its "X509v3 extensions" section as name → { critical, value }. */
/** The extensions every leaf of the fleet profile carries (device, server, service), sorted as openssl names them. */
export const LEAF_PROFILE_EXTENSIONS = [
  'X509v3 Authority Key Identifier',
  'X509v3 Basic Constraints',
  'X509v3 Extended Key Usage',
  'X509v3 Key Usage',
  'X509v3 Subject Alternative Name',
  'X509v3 Subject Key Identifier',
] as const;

export function x509Text(pem: string): { text: string; extensions: Map<string, ExtensionText> } {
  const run = openssl(['x509', '-text', '-noout'], pem);
  if (run.status !== 0) throw new Error(`openssl x509 failed: ${run.stderr}`);
  const extensions = new Map<string, ExtensionText>();
  const lines = run.stdout.split('\n');
  const start = lines.findIndex((line) => line.trim() === 'X509v3 extensions:');
  let current: { name: string; critical: boolean; value: string[] } | undefined;
  const flush = (): void => {
    if (current) extensions.set(current.name, { critical: current.critical, value: current.value.join(' ') });
  };
  for (const line of start < 0 ? [] : lines.slice(start + 1)) {
    if (/^ {4}\S/.test(line)) break; // "    Signature Algorithm:" ends the section
    const header = /^ {12}(\S.*?):( critical)?\s*$/.exec(line);
    if (header) {
      flush();
      current = { name: header[1]!, critical: header[2] !== undefined, value: [] };
    } else if (current && line.trim()) {
      current.value.push(line.trim());
    }
  }
  flush();
  return { text: run.stdout, extensions };
}

/** The serial as openssl prints it, colons removed, upper case. */
export function serialFromText(text: string): string {
  const match = /Serial Number:\s*\n?\s*([0-9a-f:]+)/i.exec(text);
  return (match?.[1] ?? '').replace(/:/g, '').toUpperCase();
}
