import { createPublicKey, type KeyObject } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import { bitString, sequence } from './der.js';
import { bitStringBytes, children, readRoot, whole } from './der-reader.js';
import { keyTypeOf, type KeyType } from './keys.js';
import { ecSpkiAlgorithm, rsaSpkiAlgorithm } from './oids.js';

/** A request key, checked against the key policy, with the SPKI DER the certificate will carry. */
export interface ImportedKey {
  readonly publicKey: KeyObject;
  readonly keyType: KeyType;
  readonly spki: Buffer;
}

/** A key of a supported type that does not decode (say, a point off the curve) is malformed. */
function decodeKey(input: Parameters<typeof createPublicKey>[0]): KeyObject {
  try {
    return createPublicKey(input);
  } catch (err) {
    throw new FleetkeyError('CSR_MALFORMED', `public key: ${(err as Error).message}`, { cause: err });
  }
}

/** Byte templates of a named-curve SPKI with an uncompressed point (RFC 5480 §2), up to the 0x04. */
const ecTemplates = (['ec-p256', 'ec-p384'] as const).map((keyType) => {
  const size = keyType === 'ec-p256' ? 32 : 48;
  const point = Buffer.alloc(2 * size + 1, 0);
  point[0] = 0x04;
  const spki = sequence(ecSpkiAlgorithm[keyType], bitString(point));
  return { keyType, size, crv: keyType === 'ec-p256' ? 'P-256' : 'P-384', prefix: spki.subarray(0, spki.length - 2 * size) };
});

/**
 * The key, imported the cheapest way that still validates it. An uncompressed point under a
 * named-curve SPKI goes in as a JWK (OpenSSL checks it is on the curve and of the right order);
 * an RSA key as its PKCS#1 body. Anything else takes OpenSSL's generic SPKI decoder, which costs
 * more than an ECDSA verify in OpenSSL 3.0.
 */
export function importSpki(spki: Buffer): ImportedKey {
  for (const { keyType, size, crv, prefix } of ecTemplates) {
    if (spki.length === prefix.length + 2 * size && spki.subarray(0, prefix.length).equals(prefix)) {
      const x = spki.toString('base64url', prefix.length, prefix.length + size);
      const y = spki.toString('base64url', prefix.length + size);
      return { publicKey: decodeKey({ key: { kty: 'EC', crv, x, y }, format: 'jwk' }), keyType, spki };
    }
  }
  const [algorithm, key] = children(spki, readRoot(spki));
  const algorithmDer = whole(spki, algorithm!);
  let publicKey: KeyObject;
  if (algorithmDer.equals(rsaSpkiAlgorithm)) {
    publicKey = decodeKey({ key: bitStringBytes(spki, key!), format: 'der', type: 'pkcs1' });
  } else {
    try {
      publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    } catch (err) {
      throw new FleetkeyError('KEY_UNSUPPORTED', `OpenSSL cannot decode the key: ${(err as Error).message}`, { cause: err });
    }
  }
  const keyType = keyTypeOf(publicKey);
  if (keyType === 'rsa') return { publicKey, keyType, spki: publicKey.export({ type: 'spki', format: 'der' }) };
  // RFC 5480 §2.1.1: specifiedCurve (explicit parameters) MUST NOT be used.
  const template = ecTemplates.find((x) => x.keyType === keyType)!;
  if (!algorithmDer.equals(ecSpkiAlgorithm[keyType])) throw new FleetkeyError('KEY_UNSUPPORTED', 'EC key with explicit curve parameters');
  // A compressed point is accepted but written uncompressed, the form every TLS stack reads.
  const { x, y } = publicKey.export({ format: 'jwk' });
  return { publicKey, keyType, spki: Buffer.concat([template.prefix, Buffer.from(x!, 'base64url'), Buffer.from(y!, 'base64url')]) };
}
