import type { KeyObject } from 'node:crypto';
import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';
import { sealGrantKey, signGrant, type FixedJweInputs, type GrantRecipient, type GrantSigner } from './grant-crypto.js';
import { bindClientId } from './principal.js';
import { isNonce } from './rekey-messages.js';
import { isEpoch, isU32, KEY_BYTES } from './session-key.js';

export { GRANT_ENC, grantRecipient, keyThumbprint, keyWrapAlgFor, sealGrantKey, signGrant } from './grant-crypto.js';
export type { FixedJweInputs, GrantRecipient, GrantSigner, KeyWrapAlg } from './grant-crypto.js';

/**
 * Grants, KDC side (DESIGN.md "Session keys"). A grant is a JWS compact serialization (RFC 7515
 * §7.1), ES256, protected header {"alg":"ES256","x5c":[KDC certificate, issuing CA]} over the payload
 *   {"v":1,"sub":D,"epoch":e,"grant":g,"req":nonce?,"iat":…,"nbf":…,"exp":…,"key":JWE}
 * An epoch grant (for consumers) has no "grant" member and its JWE carries S_e instead of K.
 * "key" is a JWE compact serialization (RFC 7516 §7.1): ECDH-ES+A256KW for EC recipients,
 * RSA-OAEP-256 for RSA, enc A256GCM, plus "kid" = the RFC 7638 thumbprint of the recipient key.
 * The JOSE serializations are written with node:crypto (grant-crypto.ts); devices verify with jose.
 */

export const GRANT_VERSION = 1;
export const GRANT_ALG = 'ES256';
export type GrantKind = 'device' | 'consumer';

interface GrantTimes {
  /** Seconds since the Unix epoch, as all JWT-style times (RFC 7519 §2 NumericDate). */
  readonly iat: number;
  /** The key is used from this time on. */
  readonly nbf: number;
  /** The grant is refused from this time on. */
  readonly exp: number;
}

export interface DeviceGrantInput extends GrantTimes {
  readonly signer: GrantSigner;
  readonly deviceId: string;
  /** The public key of the device's current certificate (or its grantRecipient). */
  readonly devicePublicKey: KeyObject | GrantRecipient;
  readonly epoch: number;
  readonly grant: number;
  /** K, 32 bytes (session-key.ts). */
  readonly key: Uint8Array;
  /** The nonce of the request this grant answers; absent on rotation grants. */
  readonly req?: string | undefined;
}

export interface EpochGrantInput extends GrantTimes {
  readonly signer: GrantSigner;
  /** The consumer's MQTT client id, `consumer-<name>`. */
  readonly consumerId: string;
  readonly consumerPublicKey: KeyObject;
  readonly epoch: number;
  /** S_e, 32 bytes. */
  readonly epochSecret: Uint8Array;
  readonly req?: string | undefined;
}

function assertTimes(t: GrantTimes, req: string | undefined): void {
  const ok = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!ok(t.iat) || !ok(t.nbf) || !ok(t.exp)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant times are whole seconds');
  if (req !== undefined && !isNonce(req)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant req is not a nonce');
}

function assertSecret(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `${what} is 32 bytes`);
}

/** Encrypts a 32-byte key to `recipient` as the JWE of a grant's "key" claim (async form of sealGrantKey). */
export async function encryptGrantKey(recipient: KeyObject, plaintext: Uint8Array, fixed?: FixedJweInputs): Promise<string> {
  return sealGrantKey(recipient, plaintext, fixed);
}

/** Signs a grant payload (already JSON) with the KDC key (async form of signGrant). */
export async function signGrantPayload(signer: GrantSigner, payload: string): Promise<string> {
  return signGrant(signer, payload);
}

/** A device grant: K for (deviceId, epoch, grant), encrypted to the device's certificate key, signed. */
export function deviceGrantJws(input: DeviceGrantInput): string {
  if (!isValidDeviceId(input.deviceId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant: invalid device id');
  if (!isEpoch(input.epoch) || !isU32(input.grant)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant: epoch or grant number');
  assertTimes(input, input.req);
  assertSecret(input.key, 'a session key');
  const key = sealGrantKey(input.devicePublicKey, input.key);
  // Member order is part of the documented format; JSON.stringify omits "req" when undefined.
  const payload = { v: GRANT_VERSION, sub: input.deviceId, epoch: input.epoch, grant: input.grant, req: input.req, iat: input.iat, nbf: input.nbf, exp: input.exp, key };
  return signGrant(input.signer, JSON.stringify(payload));
}

/** An epoch grant for a consumer: S_e, encrypted to the consumer certificate's key, signed. */
export function epochGrantJws(input: EpochGrantInput): string {
  if (!isConsumerId(input.consumerId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'epoch grant: invalid consumer id');
  if (!isEpoch(input.epoch)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'epoch grant: epoch');
  assertTimes(input, input.req);
  assertSecret(input.epochSecret, 'an epoch secret');
  const key = sealGrantKey(input.consumerPublicKey, input.epochSecret);
  const payload = { v: GRANT_VERSION, sub: input.consumerId, epoch: input.epoch, req: input.req, iat: input.iat, nbf: input.nbf, exp: input.exp, key };
  return signGrant(input.signer, JSON.stringify(payload));
}

/** deviceGrantJws as a promise (refusals reject rather than throw). */
export async function buildDeviceGrant(input: DeviceGrantInput): Promise<string> {
  return deviceGrantJws(input);
}

/** epochGrantJws as a promise (refusals reject rather than throw). */
export async function buildEpochGrant(input: EpochGrantInput): Promise<string> {
  return epochGrantJws(input);
}

/** A consumer's client id, which is the `sub` of its epoch grants (protocol/principal.ts). */
export function isConsumerId(id: unknown): id is string {
  return typeof id === 'string' && bindClientId({ kind: 'service', role: 'consumer' }, id).ok;
}
