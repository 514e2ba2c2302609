import type { DeviceStatus } from '../types.js';

export const DEFAULT_PREFIX = 'fleetkey:';

/**
 * Every Redis key the store uses, all under one prefix so that fleets can share a server.
 * Scripts get their keys from here as KEYS[…]; none builds a key name itself.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  /** Hash: the device record's fields and its enrollment-token hash. */
  device(id: string): string {
    return `${this.prefix}device:${id}`;
  }

  /** Sorted set (all scores 0, ordered by id): every device, and the devices of one status. */
  devices(status?: DeviceStatus): string {
    return status === undefined ? `${this.prefix}devices` : `${this.prefix}devices:${status}`;
  }

  /** Hash serial → certificate JSON. */
  get certificates(): string {
    return `${this.prefix}certs`;
  }

  /** Set of the serials issued to one subject. */
  certificatesOf(subject: string): string {
    return `${this.prefix}certs-of:${subject}`;
  }

  /** Sorted set serial by notAfter (ms) of certificates not revoked. */
  get expiry(): string {
    return `${this.prefix}certs-expiry`;
  }

  /** Hash serial → revocation JSON. */
  get revocations(): string {
    return `${this.prefix}revoked`;
  }

  /** Counter of revoking changes (Store.revocationSeq). */
  get revocationSeq(): string {
    return `${this.prefix}revocation-seq`;
  }

  get crlNumber(): string {
    return `${this.prefix}crl-number`;
  }

  get currentEpoch(): string {
    return `${this.prefix}epoch`;
  }

  /** Hash epoch → epoch record JSON. */
  get epochs(): string {
    return `${this.prefix}epochs`;
  }

  /** Hash epoch → sealed epoch secret (binary). */
  get epochSecrets(): string {
    return `${this.prefix}epoch-secrets`;
  }

  /** Hash device → last grant number in the epoch; its length is the number of devices granted. */
  grants(epoch: number): string {
    return `${this.prefix}grants:${epoch}`;
  }

  /** Hash device → highest acknowledged grant in the epoch. */
  acks(epoch: number): string {
    return `${this.prefix}acks:${epoch}`;
  }

  /** String with a TTL: the KDC replica distributing this epoch (its lease). */
  rotationLease(epoch: number): string {
    return `${this.prefix}rotation-lease:${epoch}`;
  }

  /** String with a TTL: a KDC replica has claimed this rekey request (assertRequestClaims: no "/" in either part). */
  rekeyClaim(id: string, nonce: string): string {
    return `${this.prefix}rekey-claim:${id}/${nonce}`;
  }

  apiTokenById(id: string): string {
    return `${this.prefix}api-token:${id}`;
  }

  apiTokenByHash(hash: string): string {
    return `${this.prefix}api-token-hash:${hash}`;
  }

  /** Stream of every audit entry, and one per subject holding the same ids. */
  audit(subject?: string): string {
    return subject === undefined ? `${this.prefix}audit` : `${this.prefix}audit-of:${subject}`;
  }

  /** Pub/sub channel of store events. */
  get events(): string {
    return `${this.prefix}events`;
  }
}
