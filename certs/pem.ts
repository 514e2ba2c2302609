import { FleetkeyError } from '../errors/index.js';

/**
 * PEM (RFC 7468): labelled base64 blocks. Reading is strict about structure (matching BEGIN/END
 * labels, canonical base64, no RFC 1421 headers) and lax only about whitespace (RFC 7468 §3).
 */

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** PEM text of one DER object: 64-character lines, a trailing newline. */
/** The first line of a PEM block with this label (RFC 7468 §2). */
export const pemHeader = (label: string): string => `-----BEGIN ${label}-----`;

export function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Canonical base64 with any whitespace in between, or undefined. Shared with CSR bodies (RFC 7030 §4.2.1). */
export function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\s]+/g, '');
  if (compact.length === 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/**
 * The DER of every block (with `label`, of that label only), in order. Text outside blocks is
 * ignored (RFC 7468 §2 explanatory text); a malformed block is refused.
 */
export function pemBlocks(pem: string, label?: string): Buffer[] {
  const out: Buffer[] = [];
  for (const match of pem.matchAll(BLOCK)) {
    const [, begin, body = '', end] = match;
    if (begin !== end) throw new FleetkeyError('PEM_INVALID', `BEGIN ${begin} closed by END ${end}`);
    if (label !== undefined && begin !== label) continue;
    const der = decodeBase64(body);
    if (!der) throw new FleetkeyError('PEM_INVALID', `${begin} block is not canonical base64`);
    out.push(der);
  }
  return out;
}

/** The DER of the first block (of `label`, when given); junk and absent blocks are refused. */
export function fromPem(pem: string, label?: string): Buffer {
  const [first] = pemBlocks(pem, label);
  if (!first) throw new FleetkeyError('PEM_INVALID', label ? `no ${label} block` : 'no PEM block');
  return first;
}
