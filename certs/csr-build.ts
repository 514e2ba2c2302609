import { sign, type KeyObject } from 'node:crypto';
import { bitString, NULL, oid, sequence, smallInteger, tlv } from './der.js';
import { keyTypeOf } from './keys.js';
import { OID } from './oids.js';
import { commonNameOnly } from './profile.js';

/**
 * A PKCS#10 request (RFC 2986 §4) with subject CN and no attributes, as a device (or the
 * simulator, or a benchmark) makes one. ECDSA with SHA-256 (P-256) or SHA-384 (P-384), or
 * sha256WithRSAEncryption.
 */
export function createCsr(keys: { privateKey: KeyObject; publicKey: KeyObject }, commonName: string): Buffer {
  const keyType = keyTypeOf(keys.publicKey);
  const info = sequence(
    smallInteger(0),
    commonNameOnly(commonName),
    keys.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa0), // attributes [0] IMPLICIT SET, empty
  );
  const [hash, algorithm] =
    keyType === 'rsa'
      ? (['sha256', sequence(oid(OID.sha256WithRsa), NULL)] as const)
      : keyType === 'ec-p384'
        ? (['sha384', sequence(oid(OID.ecdsaWithSha384))] as const)
        : (['sha256', sequence(oid(OID.ecdsaWithSha256))] as const);
  return sequence(info, algorithm, bitString(sign(hash, info, keys.privateKey)));
}
