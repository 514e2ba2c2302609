import { createHash, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { CompactEncrypt, CompactSign } from 'jose';
import { isValidDeviceId } from '../certs/identity.js';
import { keyTypeOf } from '../certs/keys.js';
import { FleetkeyError } from '../errors/index.js';
import { bindClientId } from './principal.js';
import { isNonce } from './rekey-messages.js';
import { isEpoch, isU32, KEY_BYTES } from './session-key.js';

/**
 * Grants, KDC side (DESIGN.md "Session keys"). A grant is a JWS compact serialization (RFC 7515
 * §7.1), ES256, protected header {"alg":"ES256","x5c":[KDC certificate, issuing CA]} over the payload
 *   {"v":1,"sub":D,"epoch":e,"grant":g,"req":nonce?,"iat":…,"nbf":…,"exp":…,"key":JWE}
 * An epoch grant (for consumers) has no "grant" member and its JWE carries S_e instead of K.
 * "key" is a JWE compact serialization (RFC 7516 §7.1): ECDH-ES+A256KW for EC recipients,
 * RSA-OAEP-256 for RSA, enc A256GCM, plus "kid" = the RFC 7638 thumbprint of the recipient key.
 */

export const GRANT_VERSION = 1;
export const GRANT_ALG = 'ES256';
export const GRANT_ENC = 'A256GCM';
export type GrantKind = 'device' | 'consumer';
export type KeyWrapAlg = 'ECDH-ES+A256KW' | 'RSA-OAEP-256';

/** The KDC's signing identity: its P-256 service key and x5c = [KDC certificate DER, issuing CA DER]. */
export interface GrantSigner {
  readonly key: KeyObject;
  readonly x5c: readonly Buffer[];
}

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
  /** The public key of the device's current certificate. */
  readonly devicePublicKey: KeyObject;
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

/** The key-management algorithm a recipient key gets (KEY_UNSUPPORTED for any other key). */
export function keyWrapAlgFor(key: KeyObject): KeyWrapAlg {
  return keyTypeOf(key) === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW';
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of the public half of `key`. */
export function keyThumbprint(key: KeyObject): string {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  // Required members only, in lexicographic order (RFC 7638 §3.2).
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Test vectors only: fixes the JWE's ephemeral key, content key and IV so its bytes are reproducible. */
export interface FixedJweInputs {
  readonly epk?: KeyObject;
  readonly cek?: Uint8Array;
  readonly iv?: Uint8Array;
}

/** Encrypts a 32-byte key to `recipient` as the JWE of a grant's "key" claim. */
export async function encryptGrantKey(recipient: KeyObject, plaintext: Uint8Array, fixed?: FixedJweInputs): Promise<string> {
  if (recipient.type !== 'public') throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grants are encrypted to a public key');
  const alg = keyWrapAlgFor(recipient);
  const jwe = new CompactEncrypt(plaintext).setProtectedHeader({ alg, enc: GRANT_ENC, kid: keyThumbprint(recipient) });
  // jose needs the ephemeral key as an extractable CryptoKey (it exports its public half into "epk").
  if (fixed?.epk) jwe.setKeyManagementParameters({ epk: await webcrypto.subtle.importKey('jwk', fixed.epk.export({ format: 'jwk' }), { name: 'ECDH', namedCurve: fixed.epk.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256' }, true, ['deriveBits']) });
  if (fixed?.cek) jwe.setContentEncryptionKey(fixed.cek);
  if (fixed?.iv) jwe.setInitializationVector(fixed.iv);
  return jwe.encrypt(recipient);
}

const x5cCache = new WeakMap<GrantSigner, string[]>();

/** Signs a grant payload (already JSON) with the KDC key; x5c is standard base64 DER (RFC 7515 §4.1.6). */
export async function signGrantPayload(signer: GrantSigner, payload: string): Promise<string> {
  let x5c = x5cCache.get(signer);
  if (!x5c) {
    if (signer.key.type !== 'private' || keyTypeOf(signer.key) !== 'ec-p256' || signer.x5c.length < 1) {
      throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'a grant signer is a P-256 private key with its certificate chain');
    }
    x5cCache.set(signer, (x5c = signer.x5c.map((der) => Buffer.from(der).toString('base64'))));
  }
  return new CompactSign(Buffer.from(payload, 'utf8')).setProtectedHeader({ alg: GRANT_ALG, x5c }).sign(signer.key);
}

function assertTimes(t: GrantTimes, req: string | undefined): void {
  const ok = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!ok(t.iat) || !ok(t.nbf) || !ok(t.exp)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant times are whole seconds');
  if (req !== undefined && !isNonce(req)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant req is not a nonce');
}

function assertSecret(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_BYTES) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `${what} is 32 bytes`);
}

/** A device grant: K for (deviceId, epoch, grant), encrypted to the device's certificate key, signed. */
export async function buildDeviceGrant(input: DeviceGrantInput): Promise<string> {
  if (!isValidDeviceId(input.deviceId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant: invalid device id');
  if (!isEpoch(input.epoch) || !isU32(input.grant)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grant: epoch or grant number');
  assertTimes(input, input.req);
  assertSecret(input.key, 'a session key');
  const key = await encryptGrantKey(input.devicePublicKey, input.key);
  // Member order is part of the documented format; JSON.stringify omits "req" when undefined.
  const payload = { v: GRANT_VERSION, sub: input.deviceId, epoch: input.epoch, grant: input.grant, req: input.req, iat: input.iat, nbf: input.nbf, exp: input.exp, key };
  return signGrantPayload(input.signer, JSON.stringify(payload));
}

/** An epoch grant for a consumer: S_e, encrypted to the consumer certificate's key, signed. */
export async function buildEpochGrant(input: EpochGrantInput): Promise<string> {
  if (!isConsumerId(input.consumerId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'epoch grant: invalid consumer id');
  if (!isEpoch(input.epoch)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'epoch grant: epoch');
  assertTimes(input, input.req);
  assertSecret(input.epochSecret, 'an epoch secret');
  const key = await encryptGrantKey(input.consumerPublicKey, input.epochSecret);
  const payload = { v: GRANT_VERSION, sub: input.consumerId, epoch: input.epoch, req: input.req, iat: input.iat, nbf: input.nbf, exp: input.exp, key };
  return signGrantPayload(input.signer, JSON.stringify(payload));
}

/** A consumer's client id, which is the `sub` of its epoch grants (protocol/principal.ts). */
export function isConsumerId(id: unknown): id is string {
  return typeof id === 'string' && bindClientId({ kind: 'service', role: 'consumer' }, id).ok;
}
