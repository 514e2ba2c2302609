import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { pemBlocks } from '../certs/pem.js';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import type { GrantSigner } from '../protocol/grant.js';
import { assertKdcSigner } from '../protocol/signer-chain.js';

/** The PEM form of a signer, which worker threads rebuild their own KeyObjects from. */
export interface SignerMaterial {
  readonly keyPem: string;
  readonly x5c: readonly Buffer[];
}

/**
 * The grant signer from the KDC's client identity: `cert` holds the KDC certificate followed by the
 * issuing CA (x5c, DESIGN.md "Session keys"), `key` its P-256 private key. Refuses anything a device
 * would refuse as a signer (protocol/signer-chain.ts), and a key that is not the certificate's.
 */
export function loadSigner(certPem: string, keyPem: string): { signer: GrantSigner; material: SignerMaterial; certificate: X509Certificate } {
  const x5c = pemBlocks(certPem, 'CERTIFICATE');
  if (x5c.length < 2) throw new FleetkeyError('KDC_SIGNER_INVALID', 'the KDC certificate file must hold the certificate and the issuing CA');
  let certificate: X509Certificate;
  let key: ReturnType<typeof createPrivateKey>;
  try {
    certificate = new X509Certificate(x5c[0]!);
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new FleetkeyError('KDC_SIGNER_INVALID', `unreadable KDC certificate or key: ${(err as Error).message}`, { cause: err });
  }
  try {
    assertKdcSigner(certificate);
  } catch (err) {
    if (isFleetkeyError(err)) throw new FleetkeyError('KDC_SIGNER_INVALID', err.detail ?? err.message, { cause: err });
    throw err;
  }
  if (!createPublicKey(key).equals(certificate.publicKey)) throw new FleetkeyError('KDC_SIGNER_INVALID', 'the key is not the KDC certificate\'s key');
  const chain = x5c.slice(0, 2);
  return { signer: { key, x5c: chain }, material: { keyPem, x5c: chain }, certificate };
}
