/**
 * A small DER (X.690) writer for the certificate hot path: building ASN.1 objects in pkijs costs
 * far more than signing, so certificates are assembled from byte strings here.
 * Only definite lengths, single-byte tags, and the universal types X.509 needs.
 */

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function headerLength(length: number): number {
  if (length < 0x80) return 2;
  let bytes = 0;
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes++;
  return 2 + bytes;
}

/** One TLV: tag, minimal definite length (X.690 §10.1), then the contents in order. */
export function tlv(tag: number, ...contents: readonly Buffer[]): Buffer {
  let length = 0;
  for (const part of contents) length += part.length;
  const header = headerLength(length);
  const out = Buffer.allocUnsafe(header + length);
  out[0] = tag;
  if (length < 0x80) {
    out[1] = length;
  } else {
    out[1] = 0x80 | (header - 2);
    for (let i = header - 1, n = length; i >= 2; i--, n = Math.floor(n / 256)) out[i] = n & 0xff;
  }
  let at = header;
  for (const part of contents) {
    part.copy(out, at);
    at += part.length;
  }
  return out;
}

export const sequence = (...contents: readonly Buffer[]): Buffer => tlv(TAG.SEQUENCE, ...contents);
export const set = (...contents: readonly Buffer[]): Buffer => tlv(TAG.SET, ...contents);
export const octetString = (bytes: Buffer): Buffer => tlv(TAG.OCTET_STRING, bytes);
export const utf8String = (text: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(text, 'utf8'));
export const ia5String = (text: string): Buffer => tlv(TAG.IA5_STRING, Buffer.from(text, 'latin1'));
export const boolean = (value: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 1, value ? 0xff : 0x00]);
export const NULL = Buffer.from([TAG.NULL, 0]);

/** `[n] EXPLICIT`: a constructed context-specific wrapper. */
export const explicit = (n: number, ...contents: readonly Buffer[]): Buffer => tlv(0xa0 | n, ...contents);
/** `[n] IMPLICIT` of a primitive type: the contents under a context-specific primitive tag. */
export const implicit = (n: number, bytes: Buffer): Buffer => tlv(0x80 | n, bytes);

/**
 * An INTEGER from an unsigned big-endian magnitude: leading zero octets dropped, one 0x00 put
 * back when the top bit is set, so the value stays positive and minimal (X.690 §8.3.2).
 */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const digits = magnitude.subarray(start);
  if (digits.length === 0) return Buffer.from([TAG.INTEGER, 1, 0]);
  return (digits[0] as number) & 0x80 ? tlv(TAG.INTEGER, Buffer.from([0]), digits) : tlv(TAG.INTEGER, digits);
}

export const smallInteger = (value: number): Buffer => unsignedInteger(Buffer.from([value]));

/** A BIT STRING: the unused-bits octet, then the bits (X.690 §8.6.2). */
export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.from([unusedBits]), bytes);
}

/**
 * A named-bit BIT STRING (e.g. KeyUsage) from the numbers of its set bits, bit 0 first, with
 * trailing zero bits removed as DER requires (X.690 §11.2.2).
 */
export function namedBits(bits: readonly number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
  return bitString(bytes, 7 - (highest & 7));
}

const encodedOids = new Map<string, Buffer>();

/**
 * An OBJECT IDENTIFIER from dotted form (X.690 §8.19). Encoded once per OID and then shared: the
 * hot paths (certificates, certs-only answers) use the same few, and the builders here only copy.
 * Callers pass constants only (the cache never shrinks) and never modify the bytes they get.
 */
export function oid(dotted: string): Buffer {
  let der = encodedOids.get(dotted);
  if (der === undefined) encodedOids.set(dotted, (der = encodeOid(dotted)));
  return der;
}

function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => Number.parseInt(arc, 10));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new TypeError(`bad OID ${dotted}`);
  }
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(bytes));
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * A validity time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), always
 * in UTC with seconds and without fractions.
 */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1) + pad(date.getUTCDate()) + pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) + pad(date.getUTCSeconds()) + 'Z';
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(pad(year % 100) + rest, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(pad(year, 4) + rest, 'latin1'));
}
