import { createCipheriv, createDecipheriv } from 'node:crypto';
import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';
import { isEpoch, isU32, KEY_BYTES } from './session-key.js';

/**
 * The telemetry envelope (DESIGN.md "Telemetry envelope"), the payload on `devices/D/telemetry`:
 *
 *   version (1) = 1 ‖ epoch (u32be) ‖ grant (u32be) ‖ seq (u64be) ‖ AES-256-GCM ciphertext ‖ tag (16)
 *
 * Nonce = 4 zero bytes ‖ seq (8 bytes). AAD = the 17 header bytes ‖ UTF-8 device id (from the topic).
 * A key never seals two messages with one seq, so a (key, nonce) pair is never reused.
 */

export const ENVELOPE_VERSION = 1;
export const HEADER_BYTES = 17;
export const TAG_BYTES = 16;
export const NONCE_BYTES = 12;
export const SEQ_MAX = 0xffff_ffff_ffff_ffffn;

export interface EnvelopeHeader {
  readonly epoch: number;
  readonly grant: number;
  /** Sequence number: 0 for a grant's first message, strictly increasing after. */
  readonly seq: bigint;
}

export interface OpenedEnvelope {
  readonly header: EnvelopeHeader;
  readonly payload: Buffer;
}

function assertHeader(header: EnvelopeHeader): void {
  const { epoch, grant, seq } = header;
  if (!isEpoch(epoch) || !isU32(grant) || typeof seq !== 'bigint' || seq < 0n || seq > SEQ_MAX) {
    throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `envelope header epoch ${epoch}, grant ${grant}, seq ${String(seq)}`);
  }
}

function assertKeyAndId(key: Uint8Array, deviceId: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'a session key is 32 bytes');
  if (!isValidDeviceId(deviceId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'envelope: invalid device id');
}

/** The 17 header bytes. */
export function encodeHeader(header: EnvelopeHeader): Buffer {
  assertHeader(header);
  const out = Buffer.alloc(HEADER_BYTES);
  out[0] = ENVELOPE_VERSION;
  out.writeUInt32BE(header.epoch, 1);
  out.writeUInt32BE(header.grant, 5);
  out.writeBigUInt64BE(header.seq, 9);
  return out;
}

/** The header of an envelope, before any key is involved (a consumer picks the key from it). */
export function readEnvelopeHeader(envelope: Uint8Array): EnvelopeHeader {
  if (envelope.length < HEADER_BYTES + TAG_BYTES) throw new FleetkeyError('ENVELOPE_TOO_SHORT', `${envelope.length} bytes`);
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (bytes[0] !== ENVELOPE_VERSION) throw new FleetkeyError('ENVELOPE_VERSION_UNKNOWN', `version ${bytes[0]}`);
  return { epoch: bytes.readUInt32BE(1), grant: bytes.readUInt32BE(5), seq: bytes.readBigUInt64BE(9) };
}

/** Nonce = 0x00000000 ‖ seq: the header's last 8 bytes. */
function nonceOf(header: Buffer): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  header.copy(nonce, 4, 9, HEADER_BYTES);
  return nonce;
}

const aadOf = (header: Buffer, deviceId: string): Buffer => Buffer.concat([header, Buffer.from(deviceId, 'utf8')]);

/** Seals `payload` for `deviceId` under `key`. The caller owns the seq rule (DeviceKeyring keeps it). */
export function sealEnvelope(key: Uint8Array, deviceId: string, header: EnvelopeHeader, payload: Uint8Array): Buffer {
  assertKeyAndId(key, deviceId);
  const head = encodeHeader(header);
  const cipher = createCipheriv('aes-256-gcm', key, nonceOf(head), { authTagLength: TAG_BYTES });
  cipher.setAAD(aadOf(head, deviceId));
  const body = cipher.update(payload);
  cipher.final();
  return Buffer.concat([head, body, cipher.getAuthTag()]);
}

/**
 * Opens an envelope of `deviceId` (the id from the topic, never from the payload) under `key`.
 * The tag is always the last 16 bytes; with `authTagLength: 16` a shortened tag cannot pass (FIELD-NOTES).
 */
export function openEnvelope(key: Uint8Array, deviceId: string, envelope: Uint8Array): OpenedEnvelope {
  assertKeyAndId(key, deviceId);
  const header = readEnvelopeHeader(envelope);
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const head = bytes.subarray(0, HEADER_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(head), { authTagLength: TAG_BYTES });
  decipher.setAAD(aadOf(head, deviceId));
  decipher.setAuthTag(tag);
  const body = decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES));
  try {
    decipher.final();
  } catch (err) {
    body.fill(0);
    throw new FleetkeyError('ENVELOPE_AUTH_FAILED', `epoch ${header.epoch} grant ${header.grant} seq ${header.seq}`, { cause: err });
  }
  return { header, payload: body };
}
