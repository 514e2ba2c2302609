import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { identityFromCertificate } from '../certs/identity.js';
import { pemBlocks } from '../certs/pem.js';
import { FleetkeyError } from '../errors/index.js';
import type { RevocationCache } from '../store/revocation-cache.js';
import { certificateInUse } from '../store/succession.js';
import type { CertificateRecord, Store } from '../store/types.js';

/** A recipient of a grant: the key of its current certificate. */
export interface Recipient {
  readonly serial: string;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Buffer;
}

/**
 * Whose key a grant is encrypted to (DESIGN.md: "the public key of the device's current certificate"):
 * the certificate in use (store/succession.ts) — recorded for the subject, valid now, not revoked;
 * after a re-enrollment the new one only from its first use, since until then the device may not
 * have it.
 *
 * Consumers: the broker binds a service's client id only to its role, so the client id `C` names the
 * certificate by convention — its CN is `C` (`<role>-<name>`, certs/issue.ts). The KDC knows consumer
 * certificates from its configuration (`consumerCertificates`, e.g. the data dir's
 * services/consumer.pem) and from store records under the subject `service:<C>`.
 */
export class CertificateDirectory {
  readonly #consumers = new Map<string, X509Certificate[]>();

  constructor(
    private readonly store: Store,
    private readonly revocations: RevocationCache,
    private readonly clock: () => number,
    consumerPems: readonly string[],
  ) {
    for (const pem of consumerPems) {
      for (const der of pemBlocks(pem, 'CERTIFICATE')) {
        const cert = new X509Certificate(der);
        const identity = identityFromCertificate(cert);
        if (identity?.kind !== 'service' || identity.role !== 'consumer') continue; // the issuing CA after a leaf, say
        const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1];
        if (cn === undefined) throw new FleetkeyError('CONFIG_INVALID', `consumer certificate ${cert.serialNumber} has no CN`);
        this.#consumers.set(cn, [...(this.#consumers.get(cn) ?? []), cert]);
      }
    }
  }

  /** The device's current certificate, or undefined. */
  async device(deviceId: string): Promise<Recipient | undefined> {
    this.#assertFresh();
    return this.#current(await this.store.listCertificates(deviceId));
  }

  /** The consumer's current certificate key: configured certificates first, then the store. */
  async consumer(clientId: string): Promise<KeyObject | undefined> {
    this.#assertFresh();
    const now = this.clock();
    const configured = (this.#consumers.get(clientId) ?? [])
      .filter((c) => !this.revocations.isRevoked(c.serialNumber) && Date.parse(c.validFrom) <= now && now < Date.parse(c.validTo))
      .sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom))[0];
    if (configured) return configured.publicKey;
    const recorded = this.#current(await this.store.listCertificates(`service:${clientId}`));
    return recorded && createPublicKey({ key: recorded.spki, format: 'der', type: 'spki' });
  }

  /** No key is wrapped to a certificate that may have been revoked unheard: STORE_UNAVAILABLE, retried like an outage. */
  #assertFresh(): void {
    if (!this.revocations.isFresh()) throw new FleetkeyError('STORE_UNAVAILABLE', 'revocations may be stale (the store event feed was cut)');
  }

  #current(records: readonly CertificateRecord[]): Recipient | undefined {
    const current = certificateInUse(records, this.revocations.isRevoked, this.clock());
    return current && { serial: current.serial, spki: current.spki };
  }
}
