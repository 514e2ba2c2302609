import { constants, createCipheriv, createECDH, createHash, createPublicKey, publicEncrypt, randomBytes, sign, type ECDH, type KeyObject } from 'node:crypto';
import { keyTypeOf } from '../certs/keys.js';
import { FleetkeyError } from '../errors/index.js';

/**
 * The JOSE compact serializations a grant is made of, written with node:crypto alone (the build
 * side only: verification stays on jose, protocol/grant-verify.ts). jose's builder spent most of a
 * grant in WebCrypto key imports and promise hops (≈ 13% of the raw crypto, bench/grant-crypto.ts);
 * this writes byte for byte what jose writes — the vectors test checks it — at a fraction of that.
 *
 *   JWE (RFC 7516 §7.1)  header "." encrypted_key "." iv "." ciphertext "." tag
 *     ECDH-ES+A256KW (RFC 7518 §4.6): Z = ECDH(epk, recipient); KEK = Concat KDF (SHA-256, one round)
 *       over AlgorithmID "ECDH-ES+A256KW", empty PartyUInfo/PartyVInfo, SuppPubInfo 256;
 *       encrypted_key = AES-256 Key Wrap (RFC 3394) of the CEK.
 *     RSA-OAEP-256 (RFC 7518 §4.3): encrypted_key = RSAES-OAEP (SHA-256, MGF1-SHA-256) of the CEK.
 *     A256GCM (RFC 7518 §5.3): 96-bit IV, 128-bit tag, AAD = ASCII of the encoded protected header.
 *   JWS (RFC 7515 §7.1)  header "." payload "." signature; ES256 = r ‖ s (RFC 7518 §3.4).
 */

export type KeyWrapAlg = 'ECDH-ES+A256KW' | 'RSA-OAEP-256';
export const GRANT_ENC = 'A256GCM';

/** Test vectors only: fixes the JWE's ephemeral key, content key and IV so its bytes are reproducible. */
export interface FixedJweInputs {
  readonly epk?: KeyObject;
  readonly cek?: Uint8Array;
  readonly iv?: Uint8Array;
}

/**
 * What encrypting to one recipient key needs, worked out once per key (grantRecipient): a KDC that
 * grants the same devices every rotation keeps these rather than KeyObjects.
 */
export interface GrantRecipient {
  readonly alg: KeyWrapAlg;
  readonly kid: string;
  /** EC only: OpenSSL curve name, JWK crv, coordinate bytes, uncompressed public point. */
  readonly ec?: { readonly curve: string; readonly crv: string; readonly size: number; readonly point: Buffer };
  /** RSA only: the key OAEP encrypts to. */
  readonly rsa?: KeyObject;
}
type Recipient = GrantRecipient;

const b64u = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

const ECDH_ALG = Buffer.from('ECDH-ES+A256KW', 'ascii');
/** Concat KDF OtherInfo (RFC 7518 §4.6.2): AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo (bits). */
const OTHER_INFO = Buffer.concat([u32(ECDH_ALG.length), ECDH_ALG, u32(0), u32(0), u32(256)]);
const ROUND_1 = u32(1);
/** RFC 3394 §2.2.3.1 default initial value. */
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const EC_CURVES: Readonly<Record<string, { curve: string; crv: string; size: number }>> = {
  'ec-p256': { curve: 'prime256v1', crv: 'P-256', size: 32 },
  'ec-p384': { curve: 'secp384r1', crv: 'P-384', size: 48 },
};

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

const recipients = new WeakMap<KeyObject, Recipient>();

/** SubjectPublicKeyInfo DER up to the EC point, for named-curve P-256 and P-384 keys (RFC 5480 §2). */
const SPKI_EC_PREFIXES = [
  { prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'), type: 'ec-p256' },
  { prefix: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'), type: 'ec-p384' },
] as const;

/**
 * The recipient of a grant from its public key, or from the SubjectPublicKeyInfo DER of the device's
 * certificate: P-256/P-384 points are read straight from the DER (no KeyObject, which costs as much as
 * a third of a grant to import); anything else goes through createPublicKey. KEY_UNSUPPORTED as usual.
 */
export function grantRecipient(key: KeyObject | Uint8Array): GrantRecipient {
  if (!(key instanceof Uint8Array)) {
    if (key.type !== 'public') throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'grants are encrypted to a public key');
    return recipientOf(key);
  }
  const der = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  for (const { prefix, type } of SPKI_EC_PREFIXES) {
    const curve = EC_CURVES[type]!;
    if (der.length !== prefix.length + 1 + 2 * curve.size || !der.subarray(0, prefix.length).equals(prefix) || der[prefix.length] !== 4) continue;
    const point = Buffer.from(der.subarray(prefix.length));
    const x = b64u(point.subarray(1, 1 + curve.size));
    const y = b64u(point.subarray(1 + curve.size));
    const kid = createHash('sha256').update(JSON.stringify({ crv: curve.crv, kty: 'EC', x, y })).digest('base64url'); // RFC 7638 §3.2
    return { alg: 'ECDH-ES+A256KW', kid, ec: { ...curve, point } };
  }
  return recipientOf(createPublicKey({ key: der, format: 'der', type: 'spki' }));
}

function recipientOf(key: KeyObject): Recipient {
  let r = recipients.get(key);
  if (r) return r;
  const type = keyTypeOf(key);
  const alg = type === 'rsa' ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW';
  const curve = EC_CURVES[type];
  let ec: Recipient['ec'];
  if (curve) {
    const jwk = key.export({ format: 'jwk' });
    ec = { ...curve, point: Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]) };
  }
  r = { alg, kid: keyThumbprint(key), ...(ec ? { ec } : { rsa: key }) };
  recipients.set(key, r);
  return r;
}

/**
 * One ECDH context per curve, given a fresh key pair by generateKeys() for every grant: creating the
 * context costs as much as a third of making the key.
 */
const ephemeralContexts = new Map<string, ECDH>();

function ephemeralContext(curve: string): ECDH {
  let ecdh = ephemeralContexts.get(curve);
  if (ecdh === undefined) {
    ecdh = createECDH(curve);
    ephemeralContexts.set(curve, ecdh);
  }
  return ecdh;
}

/** ECDH-ES key agreement with a fresh (or fixed) ephemeral key: the KEK and the "epk" member. */
function agree(ec: NonNullable<Recipient['ec']>, fixed: KeyObject | undefined): { kek: Buffer; epk: Record<string, string> } {
  const ecdh = fixed ? createECDH(ec.curve) : ephemeralContext(ec.curve);
  let pub: Buffer;
  if (fixed) {
    if (keyTypeOf(fixed) !== `ec-p${ec.size === 32 ? 256 : 384}`) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'fixed epk is not on the recipient curve');
    ecdh.setPrivateKey(Buffer.from(fixed.export({ format: 'jwk' }).d!, 'base64url'));
    pub = ecdh.getPublicKey();
  } else {
    pub = ecdh.generateKeys(); // the uncompressed public point
  }
  const z = ecdh.computeSecret(ec.point);
  const kek = createHash('sha256').update(ROUND_1).update(z).update(OTHER_INFO).digest();
  z.fill(0);
  // jose's member order, kept so that the bytes match it: x, crv, kty, y.
  return { kek, epk: { x: b64u(pub.subarray(1, 1 + ec.size)), crv: ec.crv, kty: 'EC', y: b64u(pub.subarray(1 + ec.size)) } };
}

/** Encrypts a 32-byte key to `recipient` (a public KeyObject, or grantRecipient's) as the JWE of a grant's "key" claim. */
export function sealGrantKey(recipient: KeyObject | GrantRecipient, plaintext: Uint8Array, fixed?: FixedJweInputs): string {
  const r = isRecipient(recipient) ? recipient : grantRecipient(recipient);
  const fresh = fixed ? undefined : randomBytes(44); // CEK (32) and IV (12) in one draw
  const cek = fixed?.cek ? Buffer.from(fixed.cek) : fresh ? fresh.subarray(0, 32) : randomBytes(32);
  let header: Record<string, unknown>;
  let encryptedKey: Buffer;
  if (r.ec) {
    const { kek, epk } = agree(r.ec, fixed?.epk);
    const kw = createCipheriv('id-aes256-wrap', kek, KW_IV);
    encryptedKey = Buffer.concat([kw.update(cek), kw.final()]);
    kek.fill(0);
    header = { alg: r.alg, enc: GRANT_ENC, kid: r.kid, epk };
  } else {
    encryptedKey = publicEncrypt({ key: r.rsa!, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    header = { alg: r.alg, enc: GRANT_ENC, kid: r.kid };
  }
  const protectedHeader = b64u(JSON.stringify(header));
  const iv = fixed?.iv ? Buffer.from(fixed.iv) : fresh ? fresh.subarray(32) : randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
  gcm.setAAD(Buffer.from(protectedHeader, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  cek.fill(0);
  return `${protectedHeader}.${b64u(encryptedKey)}.${b64u(iv)}.${b64u(ciphertext)}.${b64u(gcm.getAuthTag())}`;
}

function isRecipient(value: KeyObject | GrantRecipient): value is GrantRecipient {
  return typeof (value as GrantRecipient).kid === 'string' && typeof (value as GrantRecipient).alg === 'string';
}

/** The KDC's signing identity: its P-256 service key and x5c = [KDC certificate DER, issuing CA DER]. */
export interface GrantSigner {
  readonly key: KeyObject;
  readonly x5c: readonly Buffer[];
}

const headers = new WeakMap<GrantSigner, string>();

/** The encoded protected header {"alg":"ES256","x5c":[…]} (x5c standard base64 DER, RFC 7515 §4.1.6). */
function signerHeader(signer: GrantSigner): string {
  let header = headers.get(signer);
  if (header === undefined) {
    let type = 'unsupported';
    try {
      type = keyTypeOf(signer.key);
    } catch {
      // reported below
    }
    if (signer.key.type !== 'private' || type !== 'ec-p256' || signer.x5c.length < 1) {
      throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'a grant signer is a P-256 private key with its certificate chain');
    }
    header = b64u(JSON.stringify({ alg: 'ES256', x5c: signer.x5c.map((der) => Buffer.from(der).toString('base64')) }));
    headers.set(signer, header);
  }
  return header;
}

/** Signs a grant payload (already JSON) as an ES256 JWS compact serialization. */
export function signGrant(signer: GrantSigner, payload: string): string {
  const input = `${signerHeader(signer)}.${b64u(payload)}`;
  const signature = sign('sha256', Buffer.from(input, 'ascii'), { key: signer.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(signature)}`;
}
