import { crc32 } from 'node:zlib';

/**
 * On-disk framing of the journal and the snapshot: u32be length ‖ u32be CRC-32 of the payload ‖ payload.
 * Decoding stops at the first frame that is cut short, empty or fails its checksum.
 */

const HEADER = 8;
/** A frame longer than this is damage, not data (a snapshot of a very large fleet still fits). */
const MAX_FRAME = 1 << 30;

export function encodeFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  payload.copy(frame, HEADER);
  return frame;
}

export interface DecodedFrames {
  readonly payloads: Buffer[];
  /** Bytes up to the end of the last whole, valid frame. */
  readonly validBytes: number;
}

export function decodeFrames(buf: Buffer): DecodedFrames {
  const payloads: Buffer[] = [];
  let offset = 0;
  while (offset + HEADER <= buf.length) {
    const length = buf.readUInt32BE(offset);
    const end = offset + HEADER + length;
    if (length === 0 || length > MAX_FRAME || end > buf.length) break;
    const payload = buf.subarray(offset + HEADER, end);
    if (crc32(payload) !== buf.readUInt32BE(offset + 4)) break;
    payloads.push(payload);
    offset = end;
  }
  return { payloads, validBytes: offset };
}

/**
 * Whether the bytes from `offset` on are what a crash during the last write leaves: nothing but zeros,
 * or one frame that runs to (or past) the end of the file. Anything else (a bad frame followed by
 * more data) is damage to records that were already acknowledged.
 */
export function isTornTail(buf: Buffer, offset: number): boolean {
  const rest = buf.subarray(offset);
  if (rest.length < HEADER || rest.every((b) => b === 0)) return true;
  return HEADER + rest.readUInt32BE(0) >= rest.length;
}
