import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import { assertDate, assertEpoch } from './records.js';

/**
 * How the store keeps secrets: enrollment and API tokens only as SHA-256 (they are high-entropy
 * random strings, so a slow KDF adds nothing), epoch secrets only sealed under the KEK.
 */

const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export function hashToken(token: string): string {
  return tokenDigest(token).toString('hex');
}

export function tokenMatches(token: string, expectedHash: string): boolean {
  const actual = tokenDigest(token);
  const expected = Buffer.from(expectedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

function assertKek(kek: Buffer): void {
  if (kek.length !== 32) throw new FleetkeyError('KEK_INVALID', `KEK is ${kek.length} bytes, expected 32`);
}

function epochAad(epoch: number): Buffer {
  const aad = Buffer.alloc(4);
  aad.writeUInt32BE(epoch);
  return aad;
}

/** AES-256-GCM under the KEK, AAD = u32be(epoch). Layout: iv (12) ‖ ciphertext ‖ tag (16). */
export function sealEpochSecret(kek: Buffer, epoch: number, secret: Buffer): Buffer {
  assertKek(kek);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(epochAad(epoch));
  return Buffer.concat([iv, cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
}

export function openEpochSecret(kek: Buffer, epoch: number, sealed: Buffer): Buffer {
  assertKek(kek);
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new FleetkeyError('EPOCH_SECRET_UNREADABLE', `sealed secret of epoch ${epoch} is too short`);
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(epochAad(epoch));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw new FleetkeyError('EPOCH_SECRET_UNREADABLE', `epoch ${epoch}: wrong KEK or tampered secret`, { cause: err });
  }
}

const SECRET_BYTES = 32;

/**
 * Checks the input of `createNextEpoch` and seals the new epoch's secret: what both stores do first.
 * The new epoch is `expectedCurrent + 1`, or `minimum` when that is higher.
 */
export function sealNextEpochSecret(expectedCurrent: number, secret: Buffer, kek: Buffer, activatesAt: Date, minimum?: number): { epoch: number; sealed: Buffer } {
  assertEpoch(expectedCurrent, true);
  assertDate('activatesAt', activatesAt);
  if (minimum !== undefined) assertEpoch(minimum);
  if (!Buffer.isBuffer(secret) || secret.length !== SECRET_BYTES) throw new FleetkeyError('STORE_INPUT_INVALID', `epoch secret must be ${SECRET_BYTES} bytes`);
  const epoch = Math.max(expectedCurrent + 1, minimum ?? 0);
  return { epoch, sealed: sealEpochSecret(kek, epoch, secret) };
}
