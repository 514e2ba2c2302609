import t, { type Test } from 'tap';
import { openStore } from '../../store/index.js';
import { RevocationCache } from '../../store/revocation-cache.js';
import { certificateInUse, confirmConnectUse, confirmFirstUse, pendingPredecessor, pendingSuccessors } from '../../store/succession.js';
import type { Store } from '../../store/types.js';
import { tempDir } from '../helpers/tmp.js';
import { certificate, enrolled, registered } from './contract/fixtures.js';

const DAY = 86400_000;

async function fleet(t: Test): Promise<{ store: Store; revocations: RevocationCache; isRevoked: (serial: string) => boolean }> {
  const store = await openStore(`file:${tempDir(t, 'fleetkey-succession-')}`);
  const revocations = await RevocationCache.open(store);
  t.teardown(async () => {
    revocations.close();
    await store.close();
  });
  return { store, revocations, isRevoked: revocations.isRevoked };
}

const superseded = async (store: Store) => (await store.listRevocations()).filter((r) => r.reason === 'superseded').map((r) => r.serial).sort();

t.test('a re-enrolled certificate is pending until its first use; the old one stays in use', async (t) => {
  const { store, isRevoked } = await fleet(t);
  const { id, cert: old } = await enrolled(store);
  const now = Date.now();
  const next = certificate(id, { supersedes: old.serial, issuedAt: new Date(now + 1) });
  await store.recordCertificate(next);
  const records = await store.listCertificates(id);
  t.equal(pendingPredecessor(next, records, isRevoked, now)?.serial, old.serial, 'pending, on the old certificate');
  t.equal(certificateInUse(records, isRevoked, now)?.serial, old.serial, 'the old certificate is the one in use');
  t.same(pendingSuccessors(old.serial, records, isRevoked, now).map((c) => c.serial), [next.serial]);

  t.same(await confirmFirstUse(store, old, records, isRevoked, `device:${id}`, now), [], 'using the old certificate confirms nothing');
  t.same(await superseded(store), []);

  t.same(await confirmFirstUse(store, next, records, isRevoked, `device:${id}`, now), [old.serial], 'first use supersedes the old one');
  t.same(await superseded(store), [old.serial]);
  t.equal(pendingPredecessor(next, records, isRevoked, now), undefined, 'no longer pending');
  t.equal(certificateInUse(records, isRevoked, now)?.serial, next.serial, 'the new certificate is in use');
  t.same(await confirmFirstUse(store, next, records, isRevoked, `device:${id}`, now), [], 'a second use changes nothing');
  t.match((await store.readAudit({ subject: old.serial })).entries, [{ actor: `device:${id}`, action: 'certificate.revoke', detail: { reason: 'superseded' } }]);
});

t.test('first use of one of two answers supersedes the old certificate and the unused answer', async (t) => {
  const { store, isRevoked } = await fleet(t);
  const { id, cert: old } = await enrolled(store);
  const lost = certificate(id, { supersedes: old.serial });
  const kept = certificate(id, { supersedes: old.serial, issuedAt: new Date(Date.now() + 1) });
  await store.recordCertificate(lost);
  await store.recordCertificate(kept);
  const revoked = await confirmConnectUse(store, id, kept.serial, isRevoked, `device:${id}`);
  t.same(revoked.sort(), [old.serial, lost.serial].sort());
  t.same(await superseded(store), [old.serial, lost.serial].sort());
  t.equal(certificateInUse(await store.listCertificates(id), isRevoked, Date.now())?.serial, kept.serial);
});

t.test('confirmConnectUse: one read for a certificate that supersedes nothing; another subject confirms nothing', async (t) => {
  const { store, isRevoked } = await fleet(t);
  const { id, cert: old } = await enrolled(store);
  const other = await enrolled(store);
  const next = certificate(id, { supersedes: old.serial });
  await store.recordCertificate(next);
  t.same(await confirmConnectUse(store, id, old.serial, isRevoked, 'test'), []);
  t.same(await confirmConnectUse(store, other.id, next.serial, isRevoked, 'test'), [], 'a serial of another subject');
  t.same(await confirmConnectUse(store, id, '0A0B', isRevoked, 'test'), [], 'an unrecorded serial');
  t.same(await superseded(store), []);
});

t.test('an expired predecessor leaves its successor in use without a revocation', async (t) => {
  const { store, isRevoked } = await fleet(t);
  const [device] = await registered(store);
  const old = certificate(device!.id, { notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) });
  await store.enrollDevice(device!.id, device!.token, old);
  const next = certificate(device!.id, { supersedes: old.serial });
  await store.recordCertificate(next);
  const records = await store.listCertificates(device!.id);
  t.equal(pendingPredecessor(next, records, isRevoked, Date.now()), undefined);
  t.equal(certificateInUse(records, isRevoked, Date.now())?.serial, next.serial);
  t.same(await confirmConnectUse(store, device!.id, next.serial, isRevoked, 'test'), []);
  t.same(await superseded(store), []);
});
