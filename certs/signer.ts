import { sign, type KeyObject } from 'node:crypto';
import { bitString, explicit, sequence, smallInteger, time, tlv, TAG } from './der.js';
import { certificateParts, keyIdentifier } from './certificate.js';
import { keyTypeOf } from './keys.js';
import { contents, readRoot } from './der-reader.js';
import { ecdsaAlgorithm, OID, type SignatureHash } from './oids.js';
import { authorityKeyIdentifier } from './profile.js';
import type { CaMaterial } from './types.js';

/** What signing under one CA needs, all precomputed: issuer Name, AKI, algorithm, hash, key. */
export interface Signer {
  readonly key: KeyObject;
  readonly hash: SignatureHash;
  readonly algorithm: Buffer;
  /** The CA certificate's subject, copied byte for byte so name chaining matches (RFC 5280 §7.1). */
  readonly issuerName: Buffer;
  readonly authorityKeyId: Buffer;
  /** The complete AKI extension for the certificates this CA signs. */
  readonly akiExtension: Buffer;
  readonly notAfter: Date;
}

/** ECDSA with the hash matched to the curve: SHA-256 for P-256, SHA-384 for P-384 (RFC 5480 §4). */
export function signatureHashFor(key: KeyObject): 'sha256' | 'sha384' {
  return keyTypeOf(key) === 'ec-p384' ? 'sha384' : 'sha256';
}

/** A signer for a key and the issuer name / key id it signs as (also used for self-signed roots). */
export function makeSigner(key: KeyObject, issuerName: Buffer, authorityKeyId: Buffer, notAfter: Date): Signer {
  const hash = signatureHashFor(key);
  return {
    key,
    hash,
    algorithm: ecdsaAlgorithm[hash],
    issuerName,
    authorityKeyId,
    akiExtension: authorityKeyIdentifier(authorityKeyId),
    notAfter,
  };
}

const signers = new WeakMap<CaMaterial, Signer>();

/** The cached signer of a loaded CA (one per CaMaterial object). */
export function signerFor(ca: CaMaterial & { readonly privateKey: KeyObject }): Signer {
  let signer = signers.get(ca);
  if (!signer) {
    const parts = certificateParts(ca.certificate.der);
    const ski = parts.extensions.get(OID.subjectKeyIdentifier);
    const keyId = ski ? contents(ski.value, readRoot(ski.value, TAG.OCTET_STRING)) : keyIdentifier(parts.spki);
    signer = makeSigner(ca.privateKey, parts.subjectName, keyId, ca.certificate.notAfter);
    signers.set(ca, signer);
  }
  return signer;
}

export interface TbsFields {
  readonly serial: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectName: Buffer;
  readonly spki: Buffer;
  /** The DER Extension elements, in order. */
  readonly extensions: readonly Buffer[];
}

const VERSION_3 = explicit(0, smallInteger(2));

/** TBSCertificate (RFC 5280 §4.1.2) then Certificate (§4.1.1), signed with `signer`. */
export function signCertificate(signer: Signer, fields: TbsFields): Buffer {
  const tbs = sequence(
    VERSION_3,
    tlv(TAG.INTEGER, fields.serial),
    signer.algorithm,
    signer.issuerName,
    sequence(time(fields.notBefore), time(fields.notAfter)),
    fields.subjectName,
    fields.spki,
    explicit(3, sequence(...fields.extensions)),
  );
  const signature = sign(signer.hash, tbs, signer.key); // ECDSA-Sig-Value DER, as X.509 wants (RFC 5480 §2.2)
  return sequence(tbs, signer.algorithm, bitString(signature));
}
