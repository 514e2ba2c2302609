import { createECDH, createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, type ECDH, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { FleetkeyError } from '../errors/index.js';

/** The device key types fleetkey accepts (DESIGN.md "Identities and the CA"). */
export type KeyType = 'ec-p256' | 'ec-p384' | 'rsa';

export const MIN_RSA_BITS = 2048;

const curves: Readonly<Record<string, KeyType>> = { prime256v1: 'ec-p256', secp384r1: 'ec-p384' };

/** The policy type of a public (or private) key; every other key is refused with KEY_UNSUPPORTED. */
export function keyTypeOf(key: KeyObject): KeyType {
  const kind = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (kind === 'ec') {
    const type = curves[details.namedCurve ?? ''];
    if (type) return type;
    throw new FleetkeyError('KEY_UNSUPPORTED', `EC curve ${details.namedCurve ?? 'with explicit parameters'}`);
  }
  if (kind === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= MIN_RSA_BITS) return 'rsa';
    throw new FleetkeyError('KEY_UNSUPPORTED', `RSA key of ${bits} bits`);
  }
  throw new FleetkeyError('KEY_UNSUPPORTED', `key type ${kind ?? key.type}`);
}

type KeyPair = { privateKey: KeyObject; publicKey: KeyObject };

/*
 * Keys are made so that no KeyObject shares its key with a generateKeyPair job. Node 20 can deadlock
 * otherwise: the KeyObjects a job returns share a mutex with the job, and when the job is garbage
 * collected during a call that holds that mutex and allocates (asymmetricKeyDetails, export), its
 * destructor waits on the mutex forever. Seen here: 2 runs in 4 of 84,000 keys + CSRs hung for good.
 * EC keys come from createECDH (no job at all); RSA keys from a job that returns only DER.
 */

const ecdhContexts = new Map<string, ECDH>();

function ecKey(type: 'ec-p256' | 'ec-p384'): KeyPair {
  const [curve, crv, size] = type === 'ec-p256' ? ['prime256v1', 'P-256', 32] as const : ['secp384r1', 'P-384', 48] as const;
  let ecdh = ecdhContexts.get(curve);
  if (ecdh === undefined) ecdhContexts.set(curve, (ecdh = createECDH(curve)));
  const point = ecdh.generateKeys();
  const raw = ecdh.getPrivateKey(); // big-endian without leading zero bytes: padded to the curve size below
  const scalar = Buffer.alloc(size);
  raw.copy(scalar, size - raw.length);
  raw.fill(0);
  const privateKey = createPrivateKey({
    key: { kty: 'EC', crv, x: point.toString('base64url', 1, 1 + size), y: point.toString('base64url', 1 + size), d: scalar.toString('base64url') },
    format: 'jwk',
  });
  scalar.fill(0);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

const RSA_OPTIONS = {
  modulusLength: MIN_RSA_BITS,
  publicKeyEncoding: { type: 'spki', format: 'der' },
  privateKeyEncoding: { type: 'pkcs8', format: 'der' },
} as const;

function rsaKey(pkcs8: Buffer): KeyPair {
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  pkcs8.fill(0);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** A fresh key pair of a supported type; RSA keys are 2048 bits. */
export function generateDeviceKey(type: KeyType = 'ec-p256'): KeyPair {
  return type === 'rsa' ? rsaKey(generateKeyPairSync('rsa', RSA_OPTIONS).privateKey) : ecKey(type);
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** As generateDeviceKey; an RSA key is made on the libuv thread pool (its generation is slow). */
export async function generateDeviceKeyAsync(type: KeyType = 'ec-p256'): Promise<KeyPair> {
  return type === 'rsa' ? rsaKey((await generateKeyPairAsync('rsa', RSA_OPTIONS)).privateKey) : ecKey(type);
}
