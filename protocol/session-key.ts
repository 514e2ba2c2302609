import { createHmac } from 'node:crypto';
import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';

/**
 * Session key derivation (DESIGN.md "Session keys"):
 *   K = HKDF-SHA256(ikm = S_e, salt = "fleetkey/v1/session", info = D ‖ 0x00 ‖ u32be(e) ‖ u32be(g), 32 bytes)
 * The KDC derives K for each grant; consumers derive the same K from the epoch secret.
 */

export const SESSION_KEY_SALT = 'fleetkey/v1/session';
/** Length of an epoch secret, a session key and a grant's JWE plaintext. */
export const KEY_BYTES = 32;
export const U32_MAX = 0xffff_ffff;

const salt = Buffer.from(SESSION_KEY_SALT, 'utf8');

export function isU32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= U32_MAX;
}

/** An epoch number: epochs count from 1. */
export function isEpoch(value: unknown): value is number {
  return isU32(value) && value >= 1;
}

/** The HKDF info: UTF-8 device id, one zero byte, epoch and grant as 32-bit big-endian integers. */
export function sessionKeyInfo(deviceId: string, epoch: number, grant: number): Buffer {
  if (!isValidDeviceId(deviceId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'session key info: invalid device id');
  if (!isEpoch(epoch) || !isU32(grant)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `session key info: epoch ${epoch}, grant ${grant}`);
  const id = Buffer.from(deviceId, 'utf8');
  const info = Buffer.alloc(id.length + 9);
  id.copy(info, 0);
  // info[id.length] stays 0x00: the separator, unambiguous since a device id never contains NUL.
  info.writeUInt32BE(epoch, id.length + 1);
  info.writeUInt32BE(grant, id.length + 5);
  return info;
}

/**
 * HKDF-SHA256 (RFC 5869) of one epoch secret, its extract step done once: PRK = HMAC(salt, S_e), then
 * each K = T(1) = HMAC(PRK, info ‖ 0x01) — one HMAC per key where hkdfSync redoes both steps, and a
 * rotation derives tens of thousands of keys from one secret. `wipe()` zeroes the PRK.
 */
export class SessionKeyDeriver {
  readonly #prk: Buffer;
  #wiped = false;

  constructor(epochSecret: Uint8Array) {
    if (!(epochSecret instanceof Uint8Array) || epochSecret.length !== KEY_BYTES) {
      throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'an epoch secret is 32 bytes');
    }
    this.#prk = createHmac('sha256', salt).update(epochSecret).digest();
  }

  /** The 32-byte session key of device `deviceId` for grant `grant` of epoch `epoch`. */
  derive(deviceId: string, epoch: number, grant: number): Buffer {
    if (this.#wiped) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'session key deriver used after wipe()');
    const info = sessionKeyInfo(deviceId, epoch, grant);
    return createHmac('sha256', this.#prk).update(info).update(ROUND_1).digest(); // L = HashLen: T(1) is K
  }

  wipe(): void {
    this.#wiped = true;
    this.#prk.fill(0);
  }
}

const ROUND_1 = Buffer.from([1]);

/** The 32-byte session key of device `deviceId` for grant `grant` of epoch `epoch`. */
export function deriveSessionKey(epochSecret: Uint8Array, deviceId: string, epoch: number, grant: number): Buffer {
  const deriver = new SessionKeyDeriver(epochSecret);
  try {
    return deriver.derive(deviceId, epoch, grant);
  } finally {
    deriver.wipe();
  }
}
