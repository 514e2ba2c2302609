import type { Test } from 'tap';
import type { StoreEvent } from '../../../store/types.js';
import { certificate, enrolled, refusesUnchanged, token, type OpenStore } from './fixtures.js';

/** The revocation sequence (Store.revocationSeq): one step per revoking change, carried by its events. */
export function revocationSeqContract(t: Test, open: OpenStore): void {
  t.test('every revoking change adds one to the sequence, and its events carry the new value', async (t) => {
    const store = await open(t);
    t.equal(await store.revocationSeq(), 0, 'a new store starts at 0');
    const a = await enrolled(store);
    const b = await enrolled(store);
    const extra = certificate(b.id);
    await store.recordCertificate(extra);
    t.equal(await store.revocationSeq(), 0, 'enrolling and recording certificates revoke nothing');
    const heard: StoreEvent[] = [];
    store.on('revoked', (e) => heard.push(e));
    store.on('device-changed', (e) => heard.push(e));

    await store.revokeCertificate(extra.serial, 'superseded', 'test');
    t.equal(await store.revocationSeq(), 1, 'revokeCertificate');
    await store.reprovisionDevice(b.id, token(), new Date(Date.now() + 3_600_000), 'test');
    t.equal(await store.revocationSeq(), 2, 'reprovisionDevice');
    await store.revokeDevice(a.id, 'keyCompromise', 'test');
    t.equal(await store.revocationSeq(), 3, 'revokeDevice');

    const seqs = heard.map((e) => [e.type, 'seq' in e ? e.seq : undefined, e.type === 'device-changed' ? e.status : undefined]);
    t.same(seqs, [
      ['revoked', 1, undefined],
      ['revoked', 2, undefined], ['device-changed', undefined, 'registered'],
      ['revoked', 3, undefined], ['device-changed', 3, 'revoked'],
    ], 'revoked events and device-changed → revoked carry the sequence; a device going back to registered does not');

    await refusesUnchanged(t, store, () => store.revokeDevice(a.id, 'keyCompromise', 'test'), 'DEVICE_STATE_CONFLICT', 'a refused revocation');
    t.equal(await store.revocationSeq(), 3, 'a refused revocation does not count');
  });

  t.test('concurrent revocations get distinct, consecutive sequence numbers', async (t) => {
    const store = await open(t);
    const devices = await Promise.all(Array.from({ length: 8 }, () => enrolled(store)));
    const seqs: number[] = [];
    store.on('revoked', (e) => seqs.push(e.seq!));
    await Promise.all(devices.map((d) => store.revokeDevice(d.id, 'unspecified', 'test')));
    t.same([...seqs].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8]);
    t.equal(await store.revocationSeq(), 8);
  });
}
