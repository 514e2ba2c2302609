import { randomBytes } from 'node:crypto';
import { assembleCertsOnly, CERTS_ONLY_MEDIA_TYPE } from '../certs/cms.js';
import { oid, sequence, set } from '../certs/der.js';
import { OID } from '../certs/oids.js';

/** EST (RFC 7030) media types and bodies: what goes over the wire, nothing about who may ask. */

export const EST_PATH = '/.well-known/est';
export const CERTS_ONLY = CERTS_ONLY_MEDIA_TYPE;
/** RFC 7030 §4.5.2. */
export const CSRATTRS_MEDIA_TYPE = 'application/csrattrs';
/** RFC 7030 §4.4.2: the server-made private key, unencrypted PKCS#8 (the TLS session protects it). */
export const PKCS8_MEDIA_TYPE = 'application/pkcs8';

/** RFC 7030 §4.1.3, §4.2.3: base64 (RFC 2045 style lines), announced with Content-Transfer-Encoding. */
export function base64Lines(der: Buffer): string {
  const text = der.toString('base64');
  let out = '';
  for (let i = 0; i < text.length; i += 64) out += `${text.slice(i, i + 64)}\r\n`;
  return out;
}

/** A certs-only message (RFC 7030 §4.1.3 / §4.2.3), base64: leaf first when there is one. */
export function certsOnlyBody(ders: readonly Buffer[]): string {
  return base64Lines(assembleCertsOnly(ders));
}

/**
 * RFC 7030 §4.5.2 CsrAttrs: what a device should put in its request. A P-256 key (attribute
 * ecPublicKey with the curve, as in the RFC's example) signed with ECDSA-SHA256.
 */
export const csrAttrsDer: Buffer = sequence(
  sequence(oid(OID.ecPublicKey), set(oid(OID.p256))),
  oid(OID.ecdsaWithSha256),
);

export interface ServerKeygenParts {
  /** PKCS#8 DER of the server-made key. */
  readonly privateKey: Buffer;
  /** The certs-only DER carrying the issued certificate. */
  readonly certsOnly: Buffer;
}

/**
 * RFC 7030 §4.4.2: a multipart/mixed answer, the private key part first, then the certificate.
 * Returns the content type (with its boundary) and the body.
 */
export function serverKeygenBody(parts: ServerKeygenParts): { contentType: string; body: string } {
  const boundary = `fleetkey-${randomBytes(12).toString('hex')}`;
  const part = (type: string, der: Buffer) =>
    `--${boundary}\r\nContent-Type: ${type}\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(der)}`;
  return {
    contentType: `multipart/mixed; boundary=${boundary}`,
    body: `${part(PKCS8_MEDIA_TYPE, parts.privateKey)}${part(CERTS_ONLY, parts.certsOnly)}--${boundary}--\r\n`,
  };
}
