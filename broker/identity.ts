import type { TLSSocket } from 'node:tls';
import { identityFromCertificate } from '../certs/identity.js';
import type { CertificateIdentity } from '../protocol/principal.js';

export type PeerIdentity =
  | { readonly ok: true; readonly identity: CertificateIdentity; readonly serial: string; readonly notAfter: Date }
  | { readonly ok: false; readonly reason: string };

/**
 * The identity of a TLS peer, from its verified certificate only. `authorized` is checked even though
 * the server rejects unverified peers: a certificate that did not verify is never an identity.
 */
export function peerIdentity(socket: TLSSocket): PeerIdentity {
  if (!socket.authorized) return { ok: false, reason: `client certificate not verified: ${String(socket.authorizationError)}` };
  const cert = socket.getPeerX509Certificate();
  if (!cert) return { ok: false, reason: 'no client certificate' };
  const identity = identityFromCertificate(cert);
  if (!identity) return { ok: false, reason: 'certificate carries no fleetkey identity (SAN URI)' };
  return { ok: true, identity, serial: cert.serialNumber, notAfter: new Date(cert.validTo) };
}
