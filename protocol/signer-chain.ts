import { X509Certificate } from 'node:crypto';
import { certificateParts } from '../certs/certificate.js';
import { TAG } from '../certs/der.js';
import { DerError, children, contents, readRoot } from '../certs/der-reader.js';
import { identityFromCertificate } from '../certs/identity.js';
import { keyTypeOf } from '../certs/keys.js';
import { OID } from '../certs/oids.js';
import { FleetkeyError } from '../errors/index.js';

/**
 * The grant signer's certificate chain, checked with node:crypto X509Certificate (OpenSSL) plus
 * explicit extension checks — not pkijs's chain engine, which skips EKU, pathLen and unknown critical
 * extensions (FIELD-NOTES). The chain is x5c = [KDC certificate, issuing CA], optionally followed by
 * the fleet root itself; it must end at the fleet root the device was provisioned with.
 */

/** Extensions fleetkey understands; any other extension marked critical makes a certificate unusable (RFC 5280 §4.2). */
const UNDERSTOOD = new Set<string>([OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectAltName]);
/** KeyUsage bits as they sit in the first content octet of the BIT STRING (RFC 5280 §4.2.1.3). */
const KU_DIGITAL_SIGNATURE = 0x80;
const KU_KEY_CERT_SIGN = 0x04;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const untrusted = (detail: string): FleetkeyError => new FleetkeyError('GRANT_SIGNER_UNTRUSTED', detail);
const notKdc = (detail: string): FleetkeyError => new FleetkeyError('GRANT_SIGNER_NOT_KDC', detail);

/** Parses the x5c header: 2 or 3 standard-base64 DER certificates (RFC 7515 §4.1.6). */
export function parseX5c(x5c: unknown): X509Certificate[] {
  if (!Array.isArray(x5c) || x5c.length < 2 || x5c.length > 3) throw new FleetkeyError('GRANT_MALFORMED', 'x5c is not a list of 2 or 3 certificates');
  return x5c.map((entry, i) => {
    if (typeof entry !== 'string' || entry.length > 8192 || !BASE64.test(entry)) throw new FleetkeyError('GRANT_MALFORMED', `x5c[${i}] is not base64`);
    try {
      return new X509Certificate(Buffer.from(entry, 'base64'));
    } catch (err) {
      throw new FleetkeyError('GRANT_MALFORMED', `x5c[${i}] is not a certificate`, { cause: err });
    }
  });
}

/** The first octet of the keyUsage BIT STRING, or undefined when the extension is absent. */
function keyUsageOctet(cert: X509Certificate): number | undefined {
  const ku = certificateParts(cert.raw).extensions.get(OID.keyUsage);
  if (!ku) return undefined;
  const bits = contents(ku.value, readRoot(ku.value, TAG.BIT_STRING));
  return bits.length >= 2 ? (bits[1] as number) : 0; // bits[0] is the unused-bits count
}

/** basicConstraints cA = TRUE, read from the extension itself (X509Certificate.ca also needs keyCertSign). */
function claimsCa(cert: X509Certificate): boolean {
  const bc = certificateParts(cert.raw).extensions.get(OID.basicConstraints);
  if (!bc) return false;
  const [first] = children(bc.value, readRoot(bc.value));
  return first?.tag === TAG.BOOLEAN && bc.value[first.body] !== 0;
}

function assertUsable(cert: X509Certificate, label: string, nowMs: number): void {
  if (nowMs < Date.parse(cert.validFrom) || nowMs > Date.parse(cert.validTo)) throw untrusted(`${label} is not valid at ${new Date(nowMs).toISOString()}`);
  for (const [oid, ext] of certificateParts(cert.raw).extensions) {
    if (ext.critical && !UNDERSTOOD.has(oid)) throw untrusted(`${label} has an unknown critical extension ${oid}`);
  }
}

function assertCa(cert: X509Certificate, label: string): void {
  if (!cert.ca) throw untrusted(`${label} is not a CA (basicConstraints)`);
  const ku = keyUsageOctet(cert);
  if (ku !== undefined && !(ku & KU_KEY_CERT_SIGN)) throw untrusted(`${label} may not sign certificates (keyUsage)`);
}

function assertIssuedBy(child: X509Certificate, parent: X509Certificate, label: string): void {
  if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) throw untrusted(`${label} is not signed by its issuer`);
}

/** Verifies x5c up to `fleetRoot` at `nowMs` and returns the signer (leaf) certificate. */
export function verifySignerChain(chain: readonly X509Certificate[], fleetRoot: X509Certificate, nowMs: number): X509Certificate {
  const [leaf, issuing, last] = chain as [X509Certificate, X509Certificate, X509Certificate?];
  try {
    if (last && !last.raw.equals(fleetRoot.raw)) throw untrusted('x5c[2] is not the fleet root');
    assertUsable(fleetRoot, 'the fleet root', nowMs);
    assertCa(fleetRoot, 'the fleet root');
    assertUsable(issuing, 'the issuing CA', nowMs);
    assertCa(issuing, 'the issuing CA');
    assertIssuedBy(issuing, fleetRoot, 'the issuing CA');
    assertUsable(leaf, 'the signer certificate', nowMs);
    if (leaf.ca || claimsCa(leaf)) throw untrusted('the signer certificate is a CA');
    assertIssuedBy(leaf, issuing, 'the signer certificate');
    return leaf;
  } catch (err) {
    if (err instanceof DerError) throw untrusted(`certificate extensions unreadable: ${err.message}`);
    throw err;
  }
}

/** The signer must be a KDC service certificate: SAN role kdc, digitalSignature, clientAuth, P-256. */
export function assertKdcSigner(leaf: X509Certificate): void {
  const identity = identityFromCertificate(leaf);
  if (identity?.kind !== 'service' || identity.role !== 'kdc') throw notKdc(`signer identity ${JSON.stringify(identity)}`);
  const ku = keyUsageOctet(leaf);
  if (ku === undefined || !(ku & KU_DIGITAL_SIGNATURE)) throw notKdc('signer certificate lacks keyUsage digitalSignature');
  // Node 20 names the extendedKeyUsage list `keyUsage` (an array of OIDs).
  if (!leaf.keyUsage?.includes(OID.clientAuth)) throw notKdc('signer certificate lacks extKeyUsage clientAuth');
  let type: string;
  try {
    type = keyTypeOf(leaf.publicKey);
  } catch {
    type = 'unsupported';
  }
  if (type !== 'ec-p256') throw notKdc(`signer key is ${type}, ES256 needs P-256`);
}
