import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { FleetkeyError } from '../errors/index.js';
import { keyTypeOf } from './keys.js';

export interface Pkcs12Input {
  readonly privateKey: KeyObject;
  /** The leaf certificate (DER) that belongs to privateKey. */
  readonly certificate: Buffer;
  /** CA certificates (DER), issuing CA first. */
  readonly chain: readonly Buffer[];
  /** At least PKCS12_MIN_PASSWORD_LENGTH characters; UTF-8 is fine. */
  readonly password: string;
  /** Shown as the alias by keytool, the macOS keychain and `openssl pkcs12 -info`. */
  readonly friendlyName?: string;
}

export const PKCS12_MIN_PASSWORD_LENGTH = 8;
/** PBKDF2 and MAC iterations. Devices import bundles on small CPUs, hence not OWASP's 600,000. */
export const PKCS12_ITERATIONS = 10_000;

const OID = {
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

/**
 * A PKCS#12 bundle (RFC 7292) of key, certificate and chain: the key in a PKCS#8 shrouded key bag
 * (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC), the public certificates in an unencrypted SafeContents,
 * a SHA-256 HMAC over the whole. OpenSSL 3 reads it without `-legacy`, and so does Node's `pfx`.
 * RSA keys go the same way: the key bag is opaque PKCS#8 to pkijs. node-forge cannot do this job:
 * it cannot read the EC CA certificates of the chain, and it re-encodes an ECDSA-signed RSA leaf
 * (NULL signature parameters), breaking its signature.
 */
export async function buildPkcs12(input: Pkcs12Input): Promise<Buffer> {
  if ([...input.password].length < PKCS12_MIN_PASSWORD_LENGTH) throw new FleetkeyError('PKCS12_PASSWORD_TOO_SHORT');
  checkKey(input.privateKey);
  const leaf = parseCertificate(input.certificate, 'certificate');
  input.chain.forEach((der, i) => parseCertificate(der, `chain[${i}]`));
  if (!leaf.checkPrivateKey(input.privateKey)) throw new FleetkeyError('PKCS12_KEY_MISMATCH');

  const password = new TextEncoder().encode(input.password).buffer as ArrayBuffer;
  // OpenSSL pairs key and certificate by localKeyId: SHA-1 of the certificate, as OpenSSL makes it.
  const attributes = [
    new pkijs.Attribute({
      type: OID.localKeyId,
      values: [new asn1js.OctetString({ valueHex: createHash('sha1').update(input.certificate).digest() })],
    }),
    ...(input.friendlyName === undefined ? [] : [
      new pkijs.Attribute({ type: OID.friendlyName, values: [new asn1js.BmpString({ value: input.friendlyName })] }),
    ]),
  ];

  const keyBag = new pkijs.PKCS8ShroudedKeyBag({
    parsedValue: pkijs.PrivateKeyInfo.fromBER(input.privateKey.export({ format: 'der', type: 'pkcs8' })),
  });
  await keyBag.makeInternalValues({
    password,
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: PKCS12_ITERATIONS,
  });
  const certBags = [input.certificate, ...input.chain].map((der, i) => new pkijs.SafeBag({
    bagId: OID.certBag,
    bagValue: new pkijs.CertBag({ certId: OID.x509Certificate, certValue: new asn1js.OctetString({ valueHex: der }) }),
    ...(i === 0 ? { bagAttributes: attributes } : {}),
  }));

  const authenticatedSafe = new pkijs.AuthenticatedSafe({
    parsedValue: {
      safeContents: [
        { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [
          new pkijs.SafeBag({ bagId: OID.shroudedKeyBag, bagValue: keyBag, bagAttributes: attributes }),
        ] }) },
        { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: certBags }) },
      ],
    },
  });
  await authenticatedSafe.makeInternalValues({ safeContents: [{}, {}] });
  const pfx = new pkijs.PFX({ parsedValue: { integrityMode: 0, authenticatedSafe } });
  await pfx.makeInternalValues({
    password,
    iterations: PKCS12_ITERATIONS,
    pbkdf2HashAlgorithm: { name: 'SHA-256' },
    hmacHashAlgorithm: 'SHA-256',
  });
  return Buffer.from(pfx.toSchema().toBER());
}

function checkKey(key: KeyObject): void {
  keyTypeOf(key);
  if (key.type !== 'private') throw new FleetkeyError('KEY_UNSUPPORTED', `a ${key.type} key is not a private key`);
}

function parseCertificate(der: Buffer, what: string): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (err) {
    throw new FleetkeyError('PKCS12_CERTIFICATE_INVALID', `${what}: ${(err as Error).message}`);
  }
  // X509Certificate also takes PEM; the bag must hold the DER itself.
  if (!cert.raw.equals(der)) throw new FleetkeyError('PKCS12_CERTIFICATE_INVALID', `${what}: not DER`);
  return cert;
}
