import { FleetkeyError } from '../../errors/index.js';
import { chunkPairs, type BackupRecord, type StoreSnapshot } from '../backup-records.js';
import type { StoreIdentity } from '../identity.js';
import type { StoredDevice } from '../records.js';
import type { RevocationRecord } from '../types.js';
import type { FileContext } from './context.js';
import { hasFleetState } from './identity.js';
import { auditId, type Op } from './state.js';

/** The state as it is now (memory is the whole truth), returned once all of it is durable. */
export function exportFileState(ctx: FileContext): Promise<StoreSnapshot> {
  const s = ctx.state;
  const records: BackupRecord[] = [];
  for (const d of s.devices.values()) records.push({ t: 'device', d });
  for (const c of s.certificates.values()) records.push({ t: 'cert', c });
  for (const r of s.revocations.values()) records.push({ t: 'revocation', r });
  records.push({ t: 'revocation-seq', n: s.revocationSeq }, { t: 'crl', n: s.crlNumber });
  for (const e of s.epochs.values()) {
    const sealed = s.sealedSecrets.get(e.epoch);
    records.push(sealed === undefined ? { t: 'epoch', e } : { t: 'epoch', e, sealed });
  }
  for (const [e, m] of s.grants) for (const g of chunkPairs([...m])) records.push({ t: 'grants', e, g });
  for (const [e, m] of s.acks) for (const a of chunkPairs([...m])) records.push({ t: 'acks', e, a });
  for (const { record, hash } of s.apiTokens.values()) records.push({ t: 'api-token', r: record, hash });
  for (const a of s.audit) records.push({ t: 'audit', a });
  return ctx.settle({ identity: s.identity, records });
}

/** One journal record: reset, everything in the snapshot, then the marker; audit entries renumbered 1…n. */
export async function importFileState(ctx: FileContext, snapshot: StoreSnapshot, identity: StoreIdentity, force: boolean): Promise<void> {
  if (!force && hasFleetState(ctx.state)) throw new FleetkeyError('STORE_NOT_EMPTY', 'the file store holds devices, certificates, epochs, tokens or audit entries');
  await ctx.commit(importOps(snapshot, identity));
}

function importOps(snapshot: StoreSnapshot, identity: StoreIdentity): Op[] {
  const devices: StoredDevice[] = [];
  const revocations: RevocationRecord[] = [];
  let seq: number | undefined;
  const ops: Op[] = [{ t: 'reset' }];
  const rest: Op[] = [];
  let audit = 0;
  for (const r of snapshot.records) {
    switch (r.t) {
      case 'device': devices.push(r.d); break;
      case 'cert': rest.push({ t: 'cert', c: r.c }); break;
      case 'revocation': revocations.push(r.r); break;
      case 'revocation-seq': seq = r.n; break;
      case 'crl': rest.push({ t: 'crl', n: r.n }); break;
      case 'epoch': rest.push(r.sealed === undefined ? { t: 'epoch', e: r.e } : { t: 'epoch', e: r.e, sealed: r.sealed }); break;
      case 'grants': rest.push({ t: 'grant', e: r.e, g: r.g }); break;
      case 'acks': rest.push({ t: 'ack', e: r.e, a: r.a }); break;
      case 'api-token': rest.push({ t: 'api-token', r: r.r, hash: r.hash }); break;
      case 'audit': rest.push({ t: 'audit', a: [{ ...r.a, id: auditId((audit += 1)) }] }); break;
    }
  }
  ops.push({ t: 'device', d: devices }, ...rest, { t: 'revoke', r: revocations, seq: seq ?? revocations.length }, { t: 'meta', m: identity });
  return ops;
}
