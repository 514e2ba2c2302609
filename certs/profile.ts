import { boolean, implicit, namedBits, octetString, oid, sequence, set, smallInteger, utf8String } from './der.js';
import type { KeyType } from './keys.js';
import { OID } from './oids.js';

/**
 * Certificate profiles as DER fragments (RFC 5280 §4.2). Everything that does not depend on the
 * subject is built once at module load; per certificate only the SAN and SKI are encoded.
 */

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KU = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 } as const;

/** A Name built RDN by RDN (one attribute per SET), values as UTF8String (RFC 5280 §4.1.2.4). */
export function distinguishedName(attributes: ReadonlyArray<readonly [oid: string, value: string]>): Buffer {
  return sequence(...attributes.map(([type, value]) => set(sequence(oid(type), utf8String(value)))));
}

/** A name with only a common name: the subject of every leaf. */
export const commonNameOnly = (cn: string): Buffer => distinguishedName([[OID.commonName, cn]]);

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 §4.1). */
export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  const extnId = oid(id);
  return critical ? sequence(extnId, boolean(true), octetString(value)) : sequence(extnId, octetString(value));
}

/** basicConstraints: CA:FALSE is the empty SEQUENCE, since DER omits DEFAULT values (X.690 §11.5). */
export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const body = ca ? sequence(boolean(true), ...(pathLen === undefined ? [] : [smallInteger(pathLen)])) : sequence();
  return extension(OID.basicConstraints, true, body);
}

const keyUsage = (...bits: number[]): Buffer => extension(OID.keyUsage, true, namedBits(bits));
const extKeyUsage = (...purposes: string[]): Buffer => extension(OID.extKeyUsage, false, sequence(...purposes.map(oid)));

export const subjectKeyIdentifier = (keyId: Buffer): Buffer => extension(OID.subjectKeyIdentifier, false, octetString(keyId));

/** AuthorityKeyIdentifier with only keyIdentifier [0] (RFC 5280 §4.2.1.1). */
export const authorityKeyIdentifier = (keyId: Buffer): Buffer =>
  extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, keyId)));

/** subjectAltName; not critical because every fleetkey subject is non-empty (RFC 5280 §4.2.1.6). */
export const subjectAltName = (generalNames: readonly Buffer[]): Buffer =>
  extension(OID.subjectAltName, false, sequence(...generalNames));

/** GeneralName choices (RFC 5280 §4.2.1.6): [2] dNSName, [6] URI, [7] iPAddress, all IA5/OCTET implicit. */
export const uriName = (uri: string): Buffer => implicit(6, Buffer.from(uri, 'ascii'));
export const dnsName = (name: string): Buffer => implicit(2, Buffer.from(name, 'ascii'));
export const ipName = (address: Buffer): Buffer => implicit(7, address);

/** CA certificates: keyCertSign + cRLSign, critical. */
export const caKeyUsage = keyUsage(KU.keyCertSign, KU.cRLSign);

/** EC keys sign and agree (ECDH-ES grants); RSA keys sign and encipher (RSA-OAEP grants). */
const leafKeyUsage: Readonly<Record<KeyType, Buffer>> = {
  'ec-p256': keyUsage(KU.digitalSignature, KU.keyAgreement),
  'ec-p384': keyUsage(KU.digitalSignature, KU.keyAgreement),
  rsa: keyUsage(KU.digitalSignature, KU.keyEncipherment),
};

export type LeafPurpose = 'client' | 'server';

const purposes: Readonly<Record<LeafPurpose, Buffer>> = {
  client: extKeyUsage(OID.clientAuth),
  server: extKeyUsage(OID.serverAuth),
};

const leafHeads = new Map<string, Buffer>();

/** basicConstraints + keyUsage + extKeyUsage of a leaf, concatenated: constant per key type and purpose. */
export function leafExtensionHead(keyType: KeyType, purpose: LeafPurpose): Buffer {
  const cacheKey = `${keyType}/${purpose}`;
  let head = leafHeads.get(cacheKey);
  if (!head) {
    head = Buffer.concat([basicConstraints(false), leafKeyUsage[keyType], purposes[purpose]]);
    leafHeads.set(cacheKey, head);
  }
  return head;
}
