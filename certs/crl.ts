import { createHash, sign, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { FleetkeyError } from '../errors/index.js';
import { bitString, sequence } from './der.js';
import { OID, type SignatureHash } from './oids.js';
import { toPem } from './pem.js';
import { revocationReasons, type FleetCa, type IssuedCertificate, type RevocationReason } from './types.js';

export interface CrlEntry {
  /** Upper-case hex, as `X509Certificate.serialNumber` prints it. */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

export interface CrlOptions {
  /** Defaults to now. */
  readonly thisUpdate?: Date;
  /** Hours from thisUpdate to nextUpdate: 24 for the issuing CA's CRL, 365 days for the root's. */
  readonly nextUpdateHours?: number;
  /** Must grow with every CRL (RFC 5280 §5.2.3); defaults to thisUpdate in milliseconds since 1970. */
  readonly crlNumber?: bigint;
}

export interface BuiltCrl {
  readonly der: Buffer;
  readonly pem: string;
}

export interface ParsedCrl {
  /** The issuer name as `X509Certificate.subject` prints a plain name (`CN=…` lines). */
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: bigint | undefined;
  readonly entries: CrlEntry[];
}

export const ISSUING_CRL_HOURS = 24;
export const ROOT_CRL_HOURS = 24 * 365;

const CRL_OID = { crlNumber: '2.5.29.20', reasonCode: '2.5.29.21' } as const;
const ECDSA_BY_CURVE: Record<string, { hash: SignatureHash; oid: string }> = {
  prime256v1: { hash: 'sha256', oid: OID.ecdsaWithSha256 },
  secp384r1: { hash: 'sha384', oid: OID.ecdsaWithSha384 },
  secp521r1: { hash: 'sha512', oid: OID.ecdsaWithSha512 },
};
const NAME_SHORT: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.5': 'serialNumber', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST',
  '2.5.4.10': 'O', '2.5.4.11': 'OU', '0.9.2342.19200300.100.1.25': 'DC',
};
const reasonByCode = new Map<number, RevocationReason>(
  Object.entries(revocationReasons).map(([name, code]) => [code, name as RevocationReason]),
);

/** The issuing CA's CRL: it lists revoked device and service certificates. */
export function buildCrl(ca: FleetCa, entries: readonly CrlEntry[], opts: CrlOptions = {}): BuiltCrl {
  return signCrl(ca.issuing.certificate, ca.issuing.privateKey, entries, opts, ISSUING_CRL_HOURS);
}

/**
 * The root's CRL (it lists revoked issuing CAs, usually none). Node's TLS `crl` option checks every
 * chain level, so a broker needs it too; it can only be made where the root key is.
 */
export function buildRootCrl(ca: FleetCa, entries: readonly CrlEntry[] = [], opts: CrlOptions = {}): BuiltCrl {
  if (!ca.root.privateKey) throw new FleetkeyError('CA_ROOT_KEY_UNAVAILABLE', 'the root CRL needs the root key');
  return signCrl(ca.root.certificate, ca.root.privateKey, entries, opts, ROOT_CRL_HOURS);
}

function signCrl(
  issuer: IssuedCertificate, key: KeyObject, entries: readonly CrlEntry[], opts: CrlOptions, defaultHours: number,
): BuiltCrl {
  const algorithm = ECDSA_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''];
  if (!algorithm) throw new FleetkeyError('INTERNAL', 'CRL signing key is not an ECDSA P-256/P-384/P-521 key');
  const thisUpdate = wholeSeconds(opts.thisUpdate ?? new Date());
  const hours = opts.nextUpdateHours ?? defaultHours;
  if (!(hours > 0 && Number.isFinite(hours))) throw new FleetkeyError('CONFIG_INVALID', `nextUpdateHours ${hours}`);
  const crlNumber = opts.crlNumber ?? BigInt(thisUpdate.getTime());
  // RFC 5280 §5.2.3: a non-negative INTEGER of at most 20 octets.
  if (crlNumber < 0n || crlNumber >= 2n ** 159n) throw new FleetkeyError('CONFIG_INVALID', `crlNumber ${crlNumber}`);

  const caCert = pkijs.Certificate.fromBER(issuer.der);
  const signatureAlgorithm = new pkijs.AlgorithmIdentifier({ algorithmId: algorithm.oid });
  const crl = new pkijs.CertificateRevocationList({
    version: 1, // v2, RFC 5280 §5.1.2.1
    signature: signatureAlgorithm,
    issuer: caCert.subject,
    thisUpdate: asTime(thisUpdate),
    nextUpdate: asTime(new Date(thisUpdate.getTime() + hours * 3_600_000)),
    crlExtensions: new pkijs.Extensions({
      extensions: [
        extension(OID.authorityKeyIdentifier, new pkijs.AuthorityKeyIdentifier({
          keyIdentifier: new asn1js.OctetString({ valueHex: keyIdentifier(caCert) }),
        }).toSchema()),
        extension(CRL_OID.crlNumber, asn1js.Integer.fromBigInt(crlNumber)),
      ],
    }),
  });
  // RFC 5280 §5.1.2.6: with no revoked certificates the list is absent, not empty.
  if (entries.length > 0) crl.revokedCertificates = revokedList(entries);

  const tbs = Buffer.from((crl as unknown as { encodeTBS(): asn1js.Sequence }).encodeTBS().toBER());
  const signature = sign(algorithm.hash, tbs, key);
  // Assembled from bytes, so the TBS goes out exactly as signed.
  const der = sequence(tbs, Buffer.from(signatureAlgorithm.toSchema().toBER()), bitString(signature));
  return { der, pem: toPem('X509 CRL', der) };
}

function revokedList(entries: readonly CrlEntry[]): pkijs.RevokedCertificate[] {
  const seen = new Set<bigint>();
  return entries.map(({ serial, revokedAt, reason }) => {
    if (!/^[0-9A-Fa-f]{1,40}$/.test(serial)) throw new FleetkeyError('CRL_ENTRY_INVALID', `serial ${JSON.stringify(serial)}`);
    const value = BigInt(`0x${serial}`);
    if (value === 0n || seen.has(value)) throw new FleetkeyError('CRL_ENTRY_INVALID', `serial ${serial} is zero or repeated`);
    seen.add(value);
    if (!(revokedAt instanceof Date) || Number.isNaN(revokedAt.getTime())) {
      throw new FleetkeyError('CRL_ENTRY_INVALID', `revokedAt of ${serial}`);
    }
    // RFC 5280 §5.3.1: removeFromCRL belongs to delta CRLs only, and these are full CRLs.
    if (!Object.hasOwn(revocationReasons, reason) || reason === 'removeFromCRL') {
      throw new FleetkeyError('CRL_ENTRY_INVALID', `reason ${String(reason)}`);
    }
    const code = revocationReasons[reason];
    return new pkijs.RevokedCertificate({
      userCertificate: asn1js.Integer.fromBigInt(value),
      revocationDate: asTime(wholeSeconds(revokedAt)),
      // RFC 5280 §5.3.1: omit reasonCode rather than write `unspecified`.
      ...(code === 0 ? {} : {
        crlEntryExtensions: new pkijs.Extensions({
          extensions: [extension(CRL_OID.reasonCode, new asn1js.Enumerated({ value: code }))],
        }),
      }),
    });
  });
}

/** Parses a CRL (DER) without checking its signature; see verifyCrl. */
export function readCrl(der: Buffer): ParsedCrl {
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(der);
  } catch (err) {
    throw new FleetkeyError('CRL_INVALID', err instanceof Error ? err.message : String(err));
  }
  const number = crl.crlExtensions?.extensions.find((e) => e.extnID === CRL_OID.crlNumber);
  return {
    issuer: crl.issuer.typesAndValues.map((tv) => `${NAME_SHORT[tv.type] ?? tv.type}=${tv.value.valueBlock.value}`).join('\n'),
    thisUpdate: crl.thisUpdate.value,
    nextUpdate: crl.nextUpdate?.value,
    crlNumber: number ? (asn1js.fromBER(number.extnValue.valueBlock.valueHexView).result as asn1js.Integer).toBigInt() : undefined,
    entries: (crl.revokedCertificates ?? []).map((entry) => {
      const reasonExt = entry.crlEntryExtensions?.extensions.find((e) => e.extnID === CRL_OID.reasonCode);
      const code = reasonExt ? (asn1js.fromBER(reasonExt.extnValue.valueBlock.valueHexView).result as asn1js.Enumerated).valueBlock.valueDec : 0;
      const hex = entry.userCertificate.toBigInt().toString(16).toUpperCase();
      return {
        serial: hex.length % 2 ? `0${hex}` : hex,
        revokedAt: entry.revocationDate.value,
        reason: reasonByCode.get(code) ?? 'unspecified',
      };
    }),
  };
}

/** True when `issuer` signed this CRL (issuer name and ECDSA signature); the dates are the caller's to judge. */
export function verifyCrl(der: Buffer, issuer: X509Certificate): boolean {
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(der);
  } catch (err) {
    throw new FleetkeyError('CRL_INVALID', err instanceof Error ? err.message : String(err));
  }
  const algorithm = Object.values(ECDSA_BY_CURVE).find((a) => a.oid === crl.signatureAlgorithm.algorithmId);
  const issuerName = Buffer.from(pkijs.Certificate.fromBER(issuer.raw).subject.toSchema().toBER());
  if (!algorithm || !issuerName.equals(Buffer.from(crl.issuer.toSchema().toBER()))) return false;
  return verify(algorithm.hash, crl.tbsView, issuer.publicKey, crl.signatureValue.valueBlock.valueHexView);
}

function extension(extnID: string, value: { toBER(): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical: false, extnValue: value.toBER() });
}

/** The CA's subjectKeyIdentifier, or RFC 5280 §4.2.1.2 method (1) when it has none. */
function keyIdentifier(cert: pkijs.Certificate): Uint8Array {
  const ski = cert.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  if (ski) return (asn1js.fromBER(ski.extnValue.valueBlock.valueHexView).result as asn1js.OctetString).valueBlock.valueHexView;
  return createHash('sha1').update(cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
}

/** RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050. */
function asTime(date: Date): pkijs.Time {
  return new pkijs.Time({ type: date.getUTCFullYear() < 2050 ? 0 : 1, value: date });
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
