import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
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

/** A fresh device key pair; RSA keys are 2048 bits. */
export function generateDeviceKey(type: KeyType = 'ec-p256'): { privateKey: KeyObject; publicKey: KeyObject } {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS });
  return generateKeyPairSync('ec', { namedCurve: type === 'ec-p256' ? 'P-256' : 'P-384' });
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** As generateDeviceKey, on the libuv thread pool (for RSA, whose generation is slow). */
export function generateDeviceKeyAsync(type: KeyType = 'ec-p256'): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (type === 'rsa') return generateKeyPairAsync('rsa', { modulusLength: MIN_RSA_BITS });
  return generateKeyPairAsync('ec', { namedCurve: type === 'ec-p256' ? 'P-256' : 'P-384' });
}
