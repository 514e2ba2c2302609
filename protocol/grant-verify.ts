import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { compactDecrypt, compactVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { CLOCK_LEEWAY_SECONDS } from '../certs/clock.js';
import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';
import { GRANT_ALG, GRANT_ENC, GRANT_VERSION, isConsumerId, keyThumbprint, keyWrapAlgFor, type GrantKind } from './grant.js';
import { isNonce } from './rekey-messages.js';
import { isEpoch, isU32, KEY_BYTES } from './session-key.js';
import { assertKdcSigner, parseX5c, verifySignerChain } from './signer-chain.js';

/**
 * Grants, device and consumer side: the checks of DESIGN.md "Session keys", in this order —
 *   1. shape: JWS compact, protected header {"alg":"ES256","x5c":[…]} and nothing else  GRANT_MALFORMED
 *   2. x5c chain ends at the fleet root, valid now                                     GRANT_SIGNER_UNTRUSTED
 *   3. signer is a KDC certificate (role kdc, digitalSignature, clientAuth, P-256)       GRANT_SIGNER_NOT_KDC
 *   4. ES256 signature                                                                  GRANT_SIGNATURE_INVALID
 *   5. payload claims exactly as specified                                              GRANT_MALFORMED
 *   6. sub is the verifier's own id                                                     GRANT_SUBJECT_MISMATCH
 *   7. exp in the future                                                                GRANT_EXPIRED
 *  7a. iat not beyond the clock leeway in the future (optional, additive)              GRANT_NOT_YET_VALID
 *   8. JWE shape: five segments, alg ECDH-ES+A256KW | RSA-OAEP-256, enc A256GCM, no zip GRANT_MALFORMED
 *  8a. JWE addressed to this key (alg for its type, kid = its thumbprint)               GRANT_WRONG_RECIPIENT
 *   9. JWE decrypts to 32 bytes                                                         GRANT_KEY_UNWRAP_FAILED
 * The acceptance rules (request nonce, newer (epoch, grant)) follow in the keyrings.
 */

/** Larger than any real grant (two certificates and an RSA-wrapped key fit in about 4 KiB). */
export const MAX_GRANT_BYTES = 16 * 1024;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

export interface VerifyGrantOptions {
  /** The fleet's root CA certificate, as provisioned on the device. */
  readonly fleetRoot: X509Certificate;
  /** The verifier's own id: its device id, or its consumer client id. */
  readonly expectedSubject: string;
  /** The private key of the verifier's current certificate. */
  readonly recipientKey: KeyObject;
  readonly expect: GrantKind;
  /** Milliseconds since the Unix epoch; defaults to Date.now(). */
  readonly now?: number;
  /**
   * Check 7a: a grant issued more than this many seconds in the verifier's future is refused (the KDC's
   * clock or this one is wrong, and a key switched at its nbf would be used when consumers have dropped
   * it). Default CLOCK_LEEWAY_SECONDS; Infinity skips the check.
   */
  readonly clockLeewaySeconds?: number;
}

export interface VerifiedGrant {
  readonly kind: GrantKind;
  readonly sub: string;
  readonly epoch: number;
  /** Present on device grants, absent on epoch grants. */
  readonly grant?: number;
  /** K (device grant) or S_e (epoch grant), 32 bytes. */
  readonly key: Buffer;
  readonly req?: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
}

/** A refusal of check 7 or 7a: the grant verified up to there, so its `iat` is the KDC's and can name a clock offset. */
export class GrantTimeError extends FleetkeyError {
  constructor(code: 'GRANT_EXPIRED' | 'GRANT_NOT_YET_VALID', detail: string, readonly iat: number) {
    super(code, detail);
  }
}

const malformed = (detail: string, cause?: unknown): FleetkeyError => new FleetkeyError('GRANT_MALFORMED', detail, { cause });

function jwsHeader(jws: string): Record<string, unknown> {
  if (typeof jws !== 'string' || jws.length > MAX_GRANT_BYTES) throw malformed('not a string of at most 16 KiB');
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) throw malformed('not a JWS compact serialization');
  try {
    return decodeProtectedHeader(jws) as Record<string, unknown>;
  } catch (err) {
    throw malformed('protected header unreadable', err);
  }
}

const onlyKeys = (obj: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(obj).every((k) => keys.includes(k));
const isTime = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

type Claims = Omit<VerifiedGrant, 'key' | 'kind'> & { readonly jwe: string };

function parseClaims(payload: Uint8Array, kind: GrantKind): Claims {
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch (err) {
    throw malformed('payload is not JSON', err);
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw malformed('payload is not an object');
  const o = c as Record<string, unknown>;
  const allowed = ['v', 'sub', 'epoch', 'req', 'iat', 'nbf', 'exp', 'key', ...(kind === 'device' ? ['grant'] : [])];
  if (!onlyKeys(o, allowed)) throw malformed(`unexpected claims for a ${kind} grant: ${Object.keys(o).join(',')}`);
  if (o.v !== GRANT_VERSION) throw malformed(`version ${String(o.v)}`);
  const subOk = kind === 'device' ? isValidDeviceId(o.sub) : isConsumerId(o.sub);
  if (!subOk || !isEpoch(o.epoch) || (kind === 'device' && !isU32(o.grant))) throw malformed('sub, epoch or grant invalid');
  if (o.req !== undefined && !isNonce(o.req)) throw malformed('req is not a nonce');
  if (!isTime(o.iat) || !isTime(o.nbf) || !isTime(o.exp)) throw malformed('iat, nbf or exp invalid');
  if (typeof o.key !== 'string') throw malformed('key is not a string');
  return {
    sub: o.sub as string,
    epoch: o.epoch,
    ...(kind === 'device' ? { grant: o.grant as number } : {}),
    ...(o.req === undefined ? {} : { req: o.req }),
    iat: o.iat,
    nbf: o.nbf,
    exp: o.exp,
    jwe: o.key,
  };
}

async function unwrapKey(jwe: string, recipientKey: KeyObject): Promise<Buffer> {
  const parts = jwe.split('.');
  if (parts.length !== 5 || !parts.every((p, i) => (i === 1 && p === '') || SEGMENT.test(p))) throw malformed('key is not a JWE compact serialization');
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(jwe) as Record<string, unknown>;
  } catch (err) {
    throw malformed('JWE header unreadable', err);
  }
  if (header.enc !== GRANT_ENC || (header.alg !== 'ECDH-ES+A256KW' && header.alg !== 'RSA-OAEP-256') || header.zip !== undefined) {
    throw malformed(`JWE alg ${String(header.alg)} / enc ${String(header.enc)}`);
  }
  const publicKey = createPublicKey(recipientKey);
  if (header.alg !== keyWrapAlgFor(publicKey)) throw new FleetkeyError('GRANT_WRONG_RECIPIENT', `JWE alg ${header.alg} for a ${publicKey.asymmetricKeyType} key`);
  if (header.kid !== undefined && header.kid !== keyThumbprint(publicKey)) throw new FleetkeyError('GRANT_WRONG_RECIPIENT', `JWE kid ${String(header.kid)}`);
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, recipientKey, { keyManagementAlgorithms: [header.alg], contentEncryptionAlgorithms: [GRANT_ENC] }));
  } catch (err) {
    throw new FleetkeyError('GRANT_KEY_UNWRAP_FAILED', err instanceof Error ? err.message : 'JWE decryption failed', { cause: err });
  }
  if (plaintext.length !== KEY_BYTES) throw new FleetkeyError('GRANT_KEY_UNWRAP_FAILED', `plaintext of ${plaintext.length} bytes`);
  return Buffer.from(plaintext);
}

/** Checks 7 and 7a; the details name the clock, since a grant out of time usually means a wrong one. */
function assertTimely(claims: Claims, nowMs: number, leewaySeconds: number): void {
  const now = Math.floor(nowMs / 1000);
  const clock = `this clock (${new Date(nowMs).toISOString()})`;
  if (now >= claims.exp) {
    throw new GrantTimeError('GRANT_EXPIRED', `exp ${claims.exp} passed by ${clock}; iat ${claims.iat} is ${now - claims.iat} s behind it: check this clock or the KDC's`, claims.iat);
  }
  if (claims.iat - now > leewaySeconds) {
    throw new GrantTimeError('GRANT_NOT_YET_VALID', `iat ${claims.iat} is ${claims.iat - now} s ahead of ${clock}, beyond the ${leewaySeconds} s leeway: check this clock or the KDC's`, claims.iat);
  }
}

/** Verifies a grant and unwraps its key; every refusal is a FleetkeyError with a GRANT_* code. */
export async function verifyGrant(jws: string, opts: VerifyGrantOptions): Promise<VerifiedGrant> {
  const nowMs = opts.now ?? Date.now();
  const header = jwsHeader(jws);
  if (header.alg !== GRANT_ALG || !onlyKeys(header, ['alg', 'x5c'])) throw malformed(`JWS header ${Object.keys(header).join(',')} alg ${String(header.alg)}`);
  const signer = verifySignerChain(parseX5c(header.x5c), opts.fleetRoot, nowMs);
  assertKdcSigner(signer);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, signer.publicKey, { algorithms: [GRANT_ALG] }));
  } catch (err) {
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new FleetkeyError('GRANT_SIGNATURE_INVALID', 'ES256 signature', { cause: err });
    throw malformed('JWS rejected', err);
  }
  const claims = parseClaims(payload, opts.expect);
  if (claims.sub !== opts.expectedSubject) throw new FleetkeyError('GRANT_SUBJECT_MISMATCH', `sub ${claims.sub}, expected ${opts.expectedSubject}`);
  assertTimely(claims, nowMs, opts.clockLeewaySeconds ?? CLOCK_LEEWAY_SECONDS);
  const key = await unwrapKey(claims.jwe, opts.recipientKey);
  const { jwe: _jwe, ...rest } = claims;
  return { kind: opts.expect, ...rest, key };
}
