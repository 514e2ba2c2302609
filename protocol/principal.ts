import type { ServiceRole } from '../certs/types.js';

/** What a verified certificate says its holder is (SAN URI of DESIGN.md). */
export type CertificateIdentity =
  | { readonly kind: 'device'; readonly id: string }
  | { readonly kind: 'service'; readonly role: ServiceRole };

/** A connected MQTT client once its client id has been bound to its certificate. */
export type Principal =
  | { readonly kind: 'device'; readonly id: string; readonly clientId: string }
  | { readonly kind: 'service'; readonly role: ServiceRole; readonly clientId: string };

const SUFFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type BindResult = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly reason: string };

/**
 * Binds an MQTT client id to a certificate identity: a device's client id is its device id;
 * a service's is `<role>-<suffix>` (`kdc-1`, `consumer-dashboard`).
 */
export function bindClientId(identity: CertificateIdentity, clientId: string): BindResult {
  if (identity.kind === 'device') {
    return clientId === identity.id
      ? { ok: true, principal: { kind: 'device', id: identity.id, clientId } }
      : { ok: false, reason: `client id "${clientId}" is not the certificate's device id "${identity.id}"` };
  }
  const prefix = `${identity.role}-`;
  if (!clientId.startsWith(prefix) || !SUFFIX.test(clientId.slice(prefix.length))) {
    return { ok: false, reason: `client id "${clientId}" does not have the form ${prefix}<suffix> of the certificate's role` };
  }
  return { ok: true, principal: { kind: 'service', role: identity.role, clientId } };
}
