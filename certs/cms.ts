import * as pkijs from 'pkijs';
import { FleetkeyError } from '../errors/index.js';
import { explicit, oid, sequence, set, smallInteger } from './der.js';

/** RFC 7030 §4.1.3 / §4.2.3: the media type of EST's `/cacerts` and enrollment responses. */
export const CERTS_ONLY_MEDIA_TYPE = 'application/pkcs7-mime; smime-type=certs-only';

const ID_DATA = '1.2.840.113549.1.7.1';
const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';

/**
 * A degenerate SignedData (RFC 5652 §5, "certs-only"): no content, no signers, just certificates,
 * kept in the order given (EST clients read the leaf first).
 */
export function encodeCertsOnly(ders: readonly Buffer[]): Buffer {
  if (ders.length === 0) throw new FleetkeyError('CMS_CERTIFICATE_INVALID', 'no certificates');
  const certificates = ders.map((der, i) => {
    try {
      return pkijs.Certificate.fromBER(der);
    } catch (err) {
      throw new FleetkeyError('CMS_CERTIFICATE_INVALID', `certificate ${i}: ${(err as Error).message}`);
    }
  });
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: ID_DATA }),
    certificates,
  });
  const contentInfo = new pkijs.ContentInfo({ contentType: ID_SIGNED_DATA, content: signedData.toSchema() });
  return Buffer.from(contentInfo.toSchema().toBER());
}

/** The X.509 certificates of a certs-only message, DER, in message order. Signers are not checked. */
export function decodeCertsOnly(der: Buffer): Buffer[] {
  let certificates: pkijs.SignedData['certificates'];
  try {
    const contentInfo = pkijs.ContentInfo.fromBER(der);
    if (contentInfo.contentType !== ID_SIGNED_DATA) throw new Error(`content type ${contentInfo.contentType}`);
    certificates = new pkijs.SignedData({ schema: contentInfo.content }).certificates;
  } catch (err) {
    throw new FleetkeyError('CMS_INVALID', err instanceof Error ? err.message : String(err));
  }
  const x509 = (certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  if (x509.length === 0) throw new FleetkeyError('CMS_INVALID', 'no X.509 certificates');
  return x509.map((c) => Buffer.from(c.toSchema().toBER()));
}

/** The body EST sends (RFC 7030 §4.1.3, Content-Transfer-Encoding base64): 64-character lines, CRLF. */
export function encodeCertsOnlyBase64(ders: readonly Buffer[]): string {
  const b64 = encodeCertsOnly(ders).toString('base64');
  return `${b64.match(/.{1,64}/g)!.join('\r\n')}\r\n`;
}

/** Reads an EST base64 body (any line breaks and surrounding whitespace). */
export function decodeCertsOnlyBase64(body: string | Buffer): Buffer[] {
  const text = (typeof body === 'string' ? body : body.toString('latin1')).replace(/\s+/g, '');
  // Buffer.from(…, 'base64') skips characters it does not know; refuse them instead.
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new FleetkeyError('CMS_INVALID', 'body is not base64');
  }
  return decodeCertsOnly(Buffer.from(text, 'base64'));
}

/**
 * The same certs-only message as `encodeCertsOnly`, assembled with the DER writer instead of pkijs
 * objects (which cost more than issuing the certificate): for the enrollment hot path, where the
 * certificates were just issued here and need no parsing. Byte-identical to `encodeCertsOnly`.
 */
export function assembleCertsOnly(ders: readonly Buffer[]): Buffer {
  if (ders.length === 0 || ders.some((der) => !Buffer.isBuffer(der) || der[0] !== 0x30)) {
    throw new FleetkeyError('CMS_CERTIFICATE_INVALID', 'no certificates, or one that is not a DER SEQUENCE');
  }
  const signedData = sequence(
    smallInteger(1), // CMSVersion 1: no attribute certificates, eContentType id-data (RFC 5652 §5.1)
    set(), // digestAlgorithms: none, there are no signers
    sequence(oid(ID_DATA)), // encapContentInfo without eContent
    explicit(0, ...ders), // certificates [0] IMPLICIT CertificateSet, in the order given
    set(), // signerInfos: none
  );
  return sequence(oid(ID_SIGNED_DATA), explicit(0, signedData));
}
