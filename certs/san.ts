import { isIPv4, isIPv6 } from 'node:net';
import { FleetkeyError } from '../errors/index.js';

/**
 * Validation and octet forms for server SANs: DNS names in preferred name syntax (RFC 1034 §3.5,
 * RFC 1123 §2.1 letting labels start with a digit) and IP addresses as 4 or 16 octets (RFC 5280 §4.2.1.6).
 */

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A DNS name, lower-cased; no wildcards, no trailing dot. */
export function normalizeDnsName(name: string): string {
  const lower = typeof name === 'string' ? name.toLowerCase() : '';
  if (lower.length < 1 || lower.length > 253 || !lower.split('.').every((label) => LABEL.test(label))) {
    throw new FleetkeyError('CERT_NAME_INVALID', `DNS name ${JSON.stringify(name)?.slice(0, 80)}`);
  }
  return lower;
}

function ipv4Octets(address: string): Buffer {
  return Buffer.from(address.split('.').map((part) => Number.parseInt(part, 10)));
}

function ipv6Octets(address: string): Buffer {
  let text = address;
  const tail: number[] = [];
  if (text.includes('.')) {
    // An embedded IPv4 tail (RFC 4291 §2.2 form 3) stands for the last two groups.
    const cut = text.lastIndexOf(':');
    const v4 = ipv4Octets(text.slice(cut + 1));
    tail.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
    text = text.slice(0, cut + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const [head = '', rest] = text.split('::');
  const left = parse(head);
  const right = [...parse(rest ?? ''), ...tail];
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const out = Buffer.alloc(16);
  [...left, ...new Array<number>(zeros).fill(0), ...right].forEach((group, i) => out.writeUInt16BE(group, i * 2));
  return out;
}

/** The octets of an IPv4 or IPv6 address (no zone ids). */
export function ipAddressOctets(address: string): Buffer {
  if (isIPv4(address)) return ipv4Octets(address);
  if (isIPv6(address) && !address.includes('%')) return ipv6Octets(address);
  throw new FleetkeyError('CERT_NAME_INVALID', `IP address ${JSON.stringify(address)?.slice(0, 80)}`);
}
