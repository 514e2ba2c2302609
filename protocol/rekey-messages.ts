import { randomBytes } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import { isEpoch, isU32 } from './session-key.js';

/**
 * The small JSON bodies of the rekey flow (DESIGN.md "Session keys", steps 1 and 3):
 *   request  on devices/D/rekey/request and services/C/rekey/request: {"nonce":"<16 random bytes, base64url>"}
 *   ack      on devices/D/rekey/ack:  {"epoch":e,"grant":g}
 *            on services/C/rekey/ack: {"epoch":e}
 * Topics are built in protocol/topics.ts.
 */

export const NONCE_BYTES = 16;
/** 16 bytes in unpadded base64url: 22 characters, the last one carrying 2 bits. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** Bodies here are a few dozen bytes; anything larger is refused before parsing. */
const MAX_BODY_BYTES = 256;

export interface RekeyRequest {
  readonly nonce: string;
}

export interface RekeyAck {
  readonly epoch: number;
  /** Absent on a consumer's ack. */
  readonly grant?: number;
}

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64url');
}

export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && NONCE_PATTERN.test(value);
}

export function encodeRekeyRequest(nonce: string): Buffer {
  if (!isNonce(nonce)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'a nonce is 16 bytes, base64url');
  return Buffer.from(JSON.stringify({ nonce }), 'utf8');
}

export function encodeRekeyAck(ack: RekeyAck): Buffer {
  if (!isEpoch(ack.epoch) || (ack.grant !== undefined && !isU32(ack.grant))) {
    throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `ack epoch ${ack.epoch}, grant ${ack.grant}`);
  }
  const body = ack.grant === undefined ? { epoch: ack.epoch } : { epoch: ack.epoch, grant: ack.grant };
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function parseObject(body: Uint8Array | string): Record<string, unknown> {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > MAX_BODY_BYTES) throw new FleetkeyError('REKEY_MESSAGE_INVALID', `body of ${size} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch {
    throw new FleetkeyError('REKEY_MESSAGE_INVALID', 'body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FleetkeyError('REKEY_MESSAGE_INVALID', 'body is not an object');
  return value as Record<string, unknown>;
}

const hasOnly = (obj: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(obj).every((k) => keys.includes(k));

export function parseRekeyRequest(body: Uint8Array | string): RekeyRequest {
  const obj = parseObject(body);
  if (!hasOnly(obj, ['nonce']) || !isNonce(obj.nonce)) throw new FleetkeyError('REKEY_MESSAGE_INVALID', 'request needs exactly {"nonce"}');
  return { nonce: obj.nonce };
}

/** Parses an ack; `kind` says whether a grant number must be present (device) or absent (consumer). */
export function parseRekeyAck(body: Uint8Array | string, kind: 'device' | 'consumer'): RekeyAck {
  const obj = parseObject(body);
  if (kind === 'device') {
    if (!hasOnly(obj, ['epoch', 'grant']) || !isEpoch(obj.epoch) || !isU32(obj.grant)) {
      throw new FleetkeyError('REKEY_MESSAGE_INVALID', 'device ack needs exactly {"epoch","grant"}');
    }
    return { epoch: obj.epoch, grant: obj.grant };
  }
  if (!hasOnly(obj, ['epoch']) || !isEpoch(obj.epoch)) throw new FleetkeyError('REKEY_MESSAGE_INVALID', 'consumer ack needs exactly {"epoch"}');
  return { epoch: obj.epoch };
}
