import { randomBytes } from 'node:crypto';
import { constants, copyFileSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openFileStore, type FileStoreOptions } from '../../store/file/index.js';
import { decodeFrames } from '../../store/file/frames.js';
import type { Store } from '../../store/types.js';
import { tempDir } from '../helpers/tmp.js';
import { certificate, observe, registered } from './contract/fixtures.js';

const kek = randomBytes(32);

function flip(buf: Buffer, at: number): void {
  buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at);
}

/** A bit of everything, so a reopened store has something to lose. */
async function populate(store: Store): Promise<{ spare: { id: string; token: string }; apiSecret: string; secret: Buffer }> {
  const devices = await registered(store, 40);
  for (const d of devices.slice(0, 10)) await store.enrollDevice(d.id, d.token, certificate(d.id));
  await store.revokeDevice(devices[0]!.id, 'keyCompromise', 'test');
  const [cert] = await store.listCertificates(devices[1]!.id);
  await store.revokeCertificate(cert!.serial, 'superseded', 'test');
  await store.recordCertificate(certificate('service:kdc'));
  const secret = randomBytes(32);
  for (let e = 0; e < 3; e += 1) await store.createNextEpoch(e, e === 2 ? secret : randomBytes(32), kek, new Date());
  await store.markEpochDistributed(2);
  await store.deleteEpochSecretsBefore(2);
  const ids = devices.slice(1, 10).map((d) => d.id);
  await store.nextGrants(ids, 3);
  await store.nextGrants(ids.slice(0, 4), 3);
  await store.recordAcks(ids.slice(0, 3).map((deviceId) => ({ deviceId, epoch: 3, grant: 1 })));
  const apiSecret = randomBytes(24).toString('base64url');
  await store.createApiToken({ id: 'ops', secret: apiSecret, role: 'operator' }, 'cli');
  await store.nextCrlNumber();
  await store.appendAudit({ actor: 'cli', action: 'test.done', subject: 'all', detail: { when: new Date(0).toISOString() } });
  return { spare: devices[39]!, apiSecret, secret };
}

async function reopened(t: Test, dir: string, opts: FileStoreOptions = {}): Promise<Store> {
  const store = await openFileStore(dir, opts);
  t.teardown(() => store.close());
  return store;
}

for (const [name, compactBytes] of [['journal only', undefined], ['compacting every batch', 1], ['compacting now and then', 4096]] as const) {
  t.test(`reopen keeps everything (${name})`, async (t) => {
    const dir = tempDir(t);
    const first = await openFileStore(dir, compactBytes === undefined ? {} : { compactBytes });
    const { spare, apiSecret, secret } = await populate(first);
    const before = await observe(first);
    await first.close();
    const store = await reopened(t, dir);
    t.same(await observe(store), before, 'devices, certificates, revocations, audit, epochs, progress');
    t.ok((await store.epochSecret(3, kek))?.equals(secret), 'epoch secret');
    t.equal(await store.epochSecret(1, kek), undefined, 'deleted secret stays deleted');
    t.equal((await store.findApiToken(apiSecret))?.id, 'ops', 'API token');
    t.equal(await store.nextCrlNumber(), 2n, 'CRL number continues');
    const granted = (await store.listUnacked(3))[0]!;
    t.ok((await store.nextGrants([granted], 3)).get(granted)! > 1, 'grant numbers continue');
    await store.enrollDevice(spare.id, spare.token, certificate(spare.id));
    t.pass('an enrollment token still works');
  });
}

t.test('a journal tail torn by a crash is cut off; damage before it is STORE_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const store = await openFileStore(dir);
  await populate(store);
  const withoutLast = await observe(store);
  await store.appendAudit({ actor: 'cli', action: 'last', subject: 'x' });
  const withLast = await observe(store);
  await store.close();
  const journal = readFileSync(join(dir, 'store.journal'));
  const { payloads, validBytes } = decodeFrames(journal);
  t.equal(validBytes, journal.length, 'a cleanly closed journal is whole');
  const lastStart = journal.length - 8 - payloads.at(-1)!.length;
  const cases: [string, Buffer, unknown][] = [
    ['cut inside the header', journal.subarray(0, lastStart + 5), withoutLast],
    ['cut inside the payload', journal.subarray(0, journal.length - 3), withoutLast],
    ['last payload damaged', Buffer.concat([journal.subarray(0, journal.length - 1), Buffer.from('!')]), withoutLast],
    ['zeros after the end', Buffer.concat([journal, Buffer.alloc(4096)]), withLast],
    ['half a frame after the end', Buffer.concat([journal, journal.subarray(lastStart, lastStart + 12)]), withLast],
  ];
  for (const [what, bytes, expected] of cases) {
    writeFileSync(join(dir, 'store.journal'), bytes);
    const s = await openFileStore(dir);
    t.same(await observe(s), expected, what);
    await s.close();
    t.ok(readFileSync(join(dir, 'store.journal')).length <= Math.max(bytes.length, journal.length), `${what}: truncated`);
  }
  const damaged = Buffer.from(journal);
  flip(damaged, lastStart - 20);
  writeFileSync(join(dir, 'store.journal'), damaged);
  await t.rejects(openFileStore(dir), { code: 'STORE_CORRUPT' }, 'a damaged acknowledged record');
  writeFileSync(join(dir, 'store.journal'), journal);
  await (await openFileStore(dir)).close();
  t.pass('the refused open released the lock');
});

t.test('snapshot damage and a missing snapshot are STORE_CORRUPT', async (t) => {
  const dir = tempDir(t);
  const store = await openFileStore(dir, { compactBytes: 1 });
  await populate(store);
  await store.close();
  const snapshot = readFileSync(join(dir, 'store.snapshot'));
  const damaged = Buffer.from(snapshot);
  flip(damaged, 100);
  writeFileSync(join(dir, 'store.snapshot'), damaged);
  await t.rejects(openFileStore(dir), { code: 'STORE_CORRUPT' }, 'damaged snapshot');
  rmSync(join(dir, 'store.snapshot'));
  await t.rejects(openFileStore(dir), { code: 'STORE_CORRUPT' }, 'journal of a later generation without its snapshot');
  writeFileSync(join(dir, 'store.journal'), 'not a journal');
  await t.rejects(openFileStore(dir), { code: 'STORE_CORRUPT' }, 'no journal header');
});

t.test('a crash between the two renames of a compaction: the older journal is ignored', async (t) => {
  const dir = tempDir(t);
  const first = await openFileStore(dir);
  await populate(first);
  await first.close();
  copyFileSync(join(dir, 'store.journal'), join(dir, 'old.journal'));
  const second = await openFileStore(dir, { compactBytes: 1 });
  await second.appendAudit({ actor: 'cli', action: 'compact', subject: 'now' });
  const compacted = await observe(second);
  await second.close();
  copyFileSync(join(dir, 'old.journal'), join(dir, 'store.journal'));
  rmSync(join(dir, 'old.journal'));
  writeFileSync(join(dir, 'store.snapshot.tmp'), 'left over');
  const store = await reopened(t, dir);
  t.same(await observe(store), compacted, 'the snapshot holds it all, the stale journal is not replayed twice');
});

t.test('the journal is opened O_DSYNC: a write returns only once it is durable', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const dir = tempDir(t);
  const store = await openFileStore(dir);
  t.teardown(() => store.close());
  const journal = join(dir, 'store.journal');
  const fd = readdirSync('/proc/self/fd').find((n) => {
    try {
      return readlinkSync(`/proc/self/fd/${n}`) === journal;
    } catch {
      return false;
    }
  });
  t.ok(fd, 'the journal is open');
  const flags = Number.parseInt(/^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
  t.equal(flags & constants.O_DSYNC, constants.O_DSYNC, 'O_DSYNC set');
  t.equal(flags & constants.O_APPEND, constants.O_APPEND, 'O_APPEND set');
});
