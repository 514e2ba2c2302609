import { TAG } from './der.js';

/**
 * A strict DER reader over one buffer: elements are offsets, nothing is copied until asked.
 * It refuses indefinite and non-minimal lengths, multi-byte tags and anything that runs past its
 * parent, so a truncated or padded input fails here rather than deeper in.
 */

export class DerError extends Error {
  override readonly name = 'DerError';
}

export interface Element {
  readonly tag: number;
  /** Offset of the tag octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly body: number;
  /** Offset just past the contents. */
  readonly end: number;
}

/** Reads the element at `at`, which must end at or before `limit` (X.690 §8.1). */
export function readElement(der: Buffer, at: number, limit = der.length): Element {
  if (at + 2 > limit) throw new DerError(`truncated header at ${at}`);
  const tag = der[at] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${at}`);
  const first = der[at + 1] as number;
  let body = at + 2;
  let length = first;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new DerError(`indefinite length at ${at}`);
    if (count > 4) throw new DerError(`length too large at ${at}`);
    if (body + count > limit) throw new DerError(`truncated length at ${at}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[body + i] as number);
    if (length < 0x80 || der[body] === 0) throw new DerError(`non-minimal length at ${at}`);
    body += count;
  }
  const end = body + length;
  if (end > limit) throw new DerError(`element at ${at} runs past its parent (${end} > ${limit})`);
  return { tag, start: at, body, end };
}

/** The one element that fills `der` exactly: trailing bytes are refused. */
export function readRoot(der: Buffer, tag: number = TAG.SEQUENCE): Element {
  const root = expectTag(readElement(der, 0), tag);
  if (root.end !== der.length) throw new DerError(`${der.length - root.end} bytes after the outer element`);
  return root;
}

export function expectTag(el: Element, tag: number): Element {
  if (el.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)} at ${el.start}, got 0x${el.tag.toString(16)}`);
  return el;
}

/** The children of a constructed element, in order. */
export function children(der: Buffer, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.body; at < parent.end; ) {
    const el = readElement(der, at, parent.end);
    out.push(el);
    at = el.end;
  }
  return out;
}

/** The children, requiring at least `count` of them. */
export function childrenAtLeast(der: Buffer, parent: Element, count: number): Element[] {
  const list = children(der, parent);
  if (list.length < count) throw new DerError(`expected ${count} elements at ${parent.start}, got ${list.length}`);
  return list;
}

export const contents = (der: Buffer, el: Element): Buffer => der.subarray(el.body, el.end);
export const whole = (der: Buffer, el: Element): Buffer => der.subarray(el.start, el.end);

/** The bits of a BIT STRING with no unused bits (keys and signatures, X.690 §8.6.2.2). */
export function bitStringBytes(der: Buffer, el: Element): Buffer {
  expectTag(el, TAG.BIT_STRING);
  if (el.end === el.body || der[el.body] !== 0) throw new DerError(`bit string at ${el.start} has unused bits`);
  return der.subarray(el.body + 1, el.end);
}

/** Dotted form of an OBJECT IDENTIFIER (X.690 §8.19). */
export function readOid(der: Buffer, el: Element): string {
  expectTag(el, TAG.OID);
  const arcs: number[] = [];
  let value = 0;
  for (let i = el.body; i < el.end; i++) {
    const byte = der[i] as number;
    if (value === 0 && byte === 0x80) throw new DerError(`non-minimal OID arc at ${el.start}`);
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError(`OID arc too large at ${el.start}`);
    if (!(byte & 0x80)) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    } else if (i === el.end - 1) {
      throw new DerError(`truncated OID at ${el.start}`);
    }
  }
  if (arcs.length === 0) throw new DerError(`empty OID at ${el.start}`);
  return arcs.join('.');
}

/** The text of a directory string (RFC 5280 §4.1.2.4). */
export function readString(der: Buffer, el: Element): string {
  const bytes = contents(der, el);
  switch (el.tag) {
    case TAG.UTF8_STRING:
      return bytes.toString('utf8');
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.T61_STRING:
      return bytes.toString('latin1');
    case TAG.BMP_STRING:
      if (bytes.length % 2) throw new DerError(`odd-length BMPString at ${el.start}`);
      return Buffer.from(bytes).swap16().toString('utf16le');
    default:
      throw new DerError(`not a string at ${el.start} (tag 0x${el.tag.toString(16)})`);
  }
}

/** A UTCTime or GeneralizedTime in the `Z` form RFC 5280 §4.1.2.5 requires, as a Date. */
export function readTime(der: Buffer, el: Element): Date {
  const text = contents(der, el).toString('latin1');
  const match = el.tag === TAG.UTC_TIME ? /^(\d{2})(\d{10})Z$/.exec(text) : el.tag === TAG.GENERALIZED_TIME ? /^(\d{4})(\d{10})Z$/.exec(text) : null;
  if (!match) throw new DerError(`not an RFC 5280 time: tag ${el.tag}`);
  const year = match[1]!.length === 2 ? (Number(match[1]) < 50 ? 2000 : 1900) + Number(match[1]) : Number(match[1]);
  const [mo, d, h, mi, sec] = (match[2]!.match(/\d{2}/g) ?? []).map(Number) as [number, number, number, number, number];
  return new Date(Date.UTC(year, mo - 1, d, h, mi, sec));
}
