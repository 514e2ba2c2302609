import type { StoreIdentity } from '../identity.js';
import type { StoredDevice } from '../records.js';
import type { ApiTokenRecord, AuditEntry, CertificateRecord, DeviceStatus, EpochRecord, RevocationRecord } from '../types.js';

/**
 * The file store's whole state, in memory. It changes only through `apply(op)`; the journal holds the
 * same ops, so replaying them after a restart rebuilds it. Every op writes absolute values (a grant
 * number, not "+1"), so replay does not depend on anything but order.
 */
export type Op =
  | { readonly t: 'device'; readonly d: readonly StoredDevice[] }
  | { readonly t: 'cert'; readonly c: CertificateRecord }
  /** `seq`: the revocation sequence after this change (journals written before it had none: +1 each). */
  | { readonly t: 'revoke'; readonly r: readonly RevocationRecord[]; readonly seq?: number }
  | { readonly t: 'crl'; readonly n: bigint }
  | { readonly t: 'epoch'; readonly e: EpochRecord; readonly sealed?: Buffer }
  | { readonly t: 'secret-del'; readonly epochs: readonly number[] }
  | { readonly t: 'grant'; readonly e: number; readonly g: readonly (readonly [string, number])[] }
  | { readonly t: 'ack'; readonly e: number; readonly a: readonly (readonly [string, number])[] }
  | { readonly t: 'api-token'; readonly r: ApiTokenRecord; readonly hash: string }
  | { readonly t: 'api-token-del'; readonly id: string }
  | { readonly t: 'audit'; readonly a: readonly AuditEntry[] }
  /** The store identity marker (store/identity.ts). */
  | { readonly t: 'meta'; readonly m: StoreIdentity }
  /** Forgets everything: the first op of a restore that replaces the state. */
  | { readonly t: 'reset' };

export interface StoredApiToken {
  readonly record: ApiTokenRecord;
  readonly hash: string;
}

export class State {
  readonly devices = new Map<string, StoredDevice>();
  readonly counts: Record<DeviceStatus, number> = { registered: 0, active: 0, revoked: 0 };
  readonly certificates = new Map<string, CertificateRecord>();
  readonly serialsBySubject = new Map<string, Set<string>>();
  readonly revocations = new Map<string, RevocationRecord>();
  crlNumber = 0n;
  revocationSeq = 0;
  readonly epochs = new Map<number, EpochRecord>();
  readonly sealedSecrets = new Map<number, Buffer>();
  currentEpoch = 0;
  /** epoch → device → last grant number handed out. */
  readonly grants = new Map<number, Map<string, number>>();
  /** epoch → device → highest grant acknowledged. */
  readonly acks = new Map<number, Map<string, number>>();
  readonly apiTokens = new Map<string, StoredApiToken>();
  readonly apiTokenIdByHash = new Map<string, string>();
  /** Entry `n` (1-based) has id `auditId(n)` and sits at index n - 1. */
  readonly audit: AuditEntry[] = [];
  private sortedIds: string[] | undefined;
  identity: StoreIdentity | undefined;

  apply(op: Op): void {
    switch (op.t) {
      case 'device':
        for (const d of op.d) this.putDevice(d);
        return;
      case 'cert':
        this.certificates.set(op.c.serial, op.c);
        this.subjectSerials(op.c.subject).add(op.c.serial);
        return;
      case 'revoke':
        for (const r of op.r) this.revocations.set(r.serial, r);
        this.revocationSeq = op.seq ?? this.revocationSeq + 1;
        return;
      case 'crl':
        this.crlNumber = op.n;
        return;
      case 'epoch':
        this.epochs.set(op.e.epoch, op.e);
        if (op.sealed !== undefined) this.sealedSecrets.set(op.e.epoch, op.sealed);
        this.currentEpoch = Math.max(this.currentEpoch, op.e.epoch);
        return;
      case 'secret-del':
        for (const e of op.epochs) this.sealedSecrets.delete(e);
        return;
      case 'grant':
        setAll(inner(this.grants, op.e), op.g);
        return;
      case 'ack':
        setAll(inner(this.acks, op.e), op.a);
        return;
      case 'api-token':
        this.apiTokens.set(op.r.id, { record: op.r, hash: op.hash });
        this.apiTokenIdByHash.set(op.hash, op.r.id);
        return;
      case 'api-token-del': {
        const token = this.apiTokens.get(op.id);
        if (token !== undefined) this.apiTokenIdByHash.delete(token.hash);
        this.apiTokens.delete(op.id);
        return;
      }
      case 'audit':
        for (const a of op.a) this.audit[auditSeq(a.id) - 1] = a;
        return;
      case 'meta':
        this.identity = op.m;
        return;
      case 'reset':
        resetState(this);
        return;
    }
  }

  /** Device ids in ascending order (rebuilt lazily after registrations). */
  deviceIds(): readonly string[] {
    this.sortedIds ??= [...this.devices.keys()].sort();
    return this.sortedIds;
  }

  serialsOf(subject: string): readonly string[] {
    return [...(this.serialsBySubject.get(subject) ?? [])];
  }

  /** The ops that rebuild this state from nothing: the snapshot's content. */
  toOps(): Op[] {
    const ops: Op[] = [{ t: 'device', d: [...this.devices.values()] }];
    for (const c of this.certificates.values()) ops.push({ t: 'cert', c });
    ops.push({ t: 'revoke', r: [...this.revocations.values()], seq: this.revocationSeq }, { t: 'crl', n: this.crlNumber });
    for (const e of this.epochs.values()) ops.push({ t: 'epoch', e, ...sealedOf(this.sealedSecrets, e.epoch) });
    for (const [e, m] of this.grants) ops.push({ t: 'grant', e, g: [...m] });
    for (const [e, m] of this.acks) ops.push({ t: 'ack', e, a: [...m] });
    for (const { record, hash } of this.apiTokens.values()) ops.push({ t: 'api-token', r: record, hash });
    ops.push({ t: 'audit', a: this.audit });
    if (this.identity !== undefined) ops.push({ t: 'meta', m: this.identity });
    return ops;
  }

  private putDevice(d: StoredDevice): void {
    const before = this.devices.get(d.id);
    if (before === undefined) this.sortedIds = undefined;
    else this.counts[before.status] -= 1;
    this.counts[d.status] += 1;
    this.devices.set(d.id, d);
  }

  private subjectSerials(subject: string): Set<string> {
    let set = this.serialsBySubject.get(subject);
    if (set === undefined) this.serialsBySubject.set(subject, (set = new Set()));
    return set;
  }
}

export function auditId(seq: number): string {
  return String(seq).padStart(16, '0');
}

export function auditSeq(id: string): number {
  return Number(id);
}

function inner(outer: Map<number, Map<string, number>>, epoch: number): Map<string, number> {
  let m = outer.get(epoch);
  if (m === undefined) outer.set(epoch, (m = new Map()));
  return m;
}

function setAll(m: Map<string, number>, pairs: readonly (readonly [string, number])[]): void {
  for (const [k, v] of pairs) m.set(k, v);
}

function sealedOf(secrets: Map<number, Buffer>, epoch: number): { sealed?: Buffer } {
  const sealed = secrets.get(epoch);
  return sealed === undefined ? {} : { sealed };
}

/** Every collection emptied and every counter back to its start, in place (the store's context holds this object). */
function resetState(state: State): void {
  const fresh = new State() as unknown as Record<string, unknown>;
  const target = state as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(target)) {
    if (value instanceof Map) value.clear();
    else if (Array.isArray(value)) value.length = 0;
    else target[key] = fresh[key];
  }
}
