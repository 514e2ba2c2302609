import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { backupStore, restoreStore } from '../../store/backup.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { certificate, kek, observe, refuses, registered, token } from './contract/fixtures.js';

const redis = await startRedis(t);
let prefixes = 0;

async function fileStore(t: Test): Promise<Store> {
  const store = await openStore(`file:${tempDir(t, 'fleetkey-backup-store-')}`);
  t.teardown(() => store.close());
  return store;
}

async function redisStore(t: Test, prefix = `backup${(prefixes += 1)}:`): Promise<Store> {
  const store = await openStore(redis.url, { prefix });
  t.teardown(() => store.close());
  return store;
}

interface Fleet {
  kek: Buffer;
  secret: Buffer;
  apiSecret: string;
  waiting: { id: string; token: string };
}

/** Devices in every state, certificates, a revocation, two epochs (grants, acks), an API token, a CRL number. */
async function populate(store: Store): Promise<Fleet> {
  const key = kek();
  const secret = randomBytes(32);
  const devices = await registered(store, 5, 'bk');
  for (const d of devices.slice(0, 3)) await store.enrollDevice(d.id, d.token, certificate(d.id));
  await store.recordCertificate(certificate(devices[0]!.id));
  await store.revokeDevice(devices[2]!.id, 'keyCompromise', 'test');
  await store.createNextEpoch(0, randomBytes(32), key, new Date());
  await store.createNextEpoch(1, secret, key, new Date());
  await store.nextGrants(devices.slice(0, 2).map((d) => d.id), 2);
  await store.recordAcks([{ deviceId: devices[0]!.id, epoch: 2, grant: 1 }]);
  const apiSecret = token();
  await store.createApiToken({ id: 'ops', secret: apiSecret, role: 'operator', label: 'night shift' }, 'test');
  await store.nextCrlNumber();
  return { kek: key, secret, apiSecret, waiting: { id: devices[4]!.id, token: devices[4]!.token } };
}

/** observe() plus what it leaves out: tokens, sealed secrets, counters, grants. */
async function state(store: Store, fleet: Fleet, keepAuditIds: boolean): Promise<unknown> {
  const seen = (await observe(store)) as { audit: { id: string }[] };
  const audit = keepAuditIds ? seen.audit : seen.audit.map(({ id: _id, ...rest }) => rest);
  return {
    ...seen,
    audit,
    apiToken: await store.findApiToken(fleet.apiSecret),
    secret: (await store.epochSecret(2, fleet.kek))?.toString('hex'),
    revocationSeq: await store.revocationSeq(),
    // the file store lists grants in the order they were made, Redis by id
    granted: (await store.listGranted(2)).sort(),
    unacked: (await store.listUnacked(2)).sort(),
    expiring: (await store.listExpiringCertificates(new Date(Date.now() + 365 * 86400_000))).map((c) => c.serial).sort(),
  };
}

async function roundTrip(t: Test, from: Store, to: Store, keepAuditIds: boolean): Promise<string> {
  const fleet = await populate(from);
  const file = join(tempDir(t), 'fleet.jsonl');
  const backup = await backupStore(from, file);
  t.equal(statSync(file).mode & 0o777, 0o600, 'the backup file is mode 0600');
  t.equal(backup.header.counts.device, 5, 'header counts the devices');
  const restored = await restoreStore(to, file, { force: false });
  t.equal(restored.identity.generation, 1, 'an unmarked store restores at generation 1');
  t.same(await state(to, fleet, keepAuditIds), await state(from, fleet, keepAuditIds), 'every observable part of the state is equal');
  t.equal(await to.nextCrlNumber(), await from.nextCrlNumber(), 'the CRL number continues from the same place');
  await to.checkEnrollmentToken(fleet.waiting.id, fleet.waiting.token);
  t.pass('a device registered before the backup still enrolls with its token');
  t.same(to.health().identity, restored.identity, 'the target now carries the restored identity marker');
  return file;
}

t.test('file -> file round trip', async (t) => {
  await roundTrip(t, await fileStore(t), await fileStore(t), true);
});

t.test('redis -> redis round trip', async (t) => {
  await roundTrip(t, await redisStore(t), await redisStore(t), true);
});

t.test('file -> redis and redis -> file round trips (audit ids are each backend\'s own)', async (t) => {
  await roundTrip(t, await fileStore(t), await redisStore(t), false);
  await roundTrip(t, await redisStore(t), await fileStore(t), false);
});

t.test('a restored file: store reopens with the same state and identity', async (t) => {
  const dir = tempDir(t, 'fleetkey-backup-reopen-');
  const source = await fileStore(t);
  const fleet = await populate(source);
  const file = join(tempDir(t), 'fleet.jsonl');
  await backupStore(source, file);
  const target = await openStore(`file:${dir}`);
  const { identity } = await restoreStore(target, file, { force: false });
  const before = await state(target, fleet, true);
  await target.close();
  const again = await openStore(`file:${dir}`);
  t.teardown(() => again.close());
  t.same(await state(again, fleet, true), before, 'the journal replays the restore');
  t.same(again.health().identity, identity);
});

t.test('a store that holds state is refused unless --force, and is left unchanged', async (t) => {
  const source = await redisStore(t);
  const fleet = await populate(source);
  const file = join(tempDir(t), 'fleet.jsonl');
  await backupStore(source, file);
  for (const target of [await redisStore(t), await fileStore(t)]) {
    await registered(target, 2, 'other');
    const before = await observe(target);
    await refuses(t, restoreStore(target, file, { force: false }), 'STORE_NOT_EMPTY');
    t.same(await observe(target), before, 'nothing changed');
    await restoreStore(target, file, { force: true });
    t.same(await state(target, fleet, false), await state(source, fleet, false), '--force replaces the state');
  }
});

t.test('a damaged, cut or foreign file is BACKUP_INVALID, a missing one too', async (t) => {
  const source = await fileStore(t);
  await populate(source);
  const dir = tempDir(t);
  const file = join(dir, 'fleet.jsonl');
  await backupStore(source, file);
  const bytes = readFileSync(file);
  const flipped = Buffer.from(bytes);
  const at = bytes.indexOf('"bk-');
  flipped[at + 2] = 'c'.charCodeAt(0);
  const cases: [string, Buffer | undefined, RegExp][] = [
    ['one byte changed', flipped, /digest does not match/],
    ['cut short', bytes.subarray(0, bytes.length - 40), /whole line|trailer/],
    ['empty', Buffer.alloc(0), /empty/],
    ['not a backup', Buffer.from('hello\nworld\n'), /trailer|header/],
    ['missing', undefined, /cannot read/],
  ];
  for (const [what, content, detail] of cases) {
    const path = join(dir, `${what.replace(/\W/g, '-')}.jsonl`);
    if (content !== undefined) writeFileSync(path, content);
    const target = await fileStore(t);
    const err = await refuses(t, restoreStore(target, path, { force: true }), 'BACKUP_INVALID', what);
    t.match(err?.detail, detail, `${what}: the detail says why`);
    t.same(target.health().identity, undefined, `${what}: nothing was restored`);
  }
});

t.test('no secret in clear in a backup: tokens only hashed, epoch secrets only sealed', async (t) => {
  for (const store of [await fileStore(t), await redisStore(t)]) {
    const fleet = await populate(store);
    const file = join(tempDir(t), 'fleet.jsonl');
    await backupStore(store, file);
    const bytes = readFileSync(file);
    const forms = (b: Buffer) => [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url')];
    for (const [what, needles] of [
      ['epoch secret', forms(fleet.secret)],
      ['API token', [fleet.apiSecret, ...forms(Buffer.from(fleet.apiSecret))]],
      ['enrollment token', [fleet.waiting.token, ...forms(Buffer.from(fleet.waiting.token))]],
      ['KEK', forms(fleet.kek)],
    ] as const) {
      t.notOk(needles.some((n) => bytes.includes(n)), `${store.url.split(':')[0]}: the ${what} is not in the backup`);
    }
  }
});

t.test('a redis backup under concurrent writes is one instant of the store', async (t) => {
  const writer = await redisStore(t, 'backup-busy:');
  const reader = await redisStore(t, 'backup-busy:');
  let stop = false;
  let written = 0;
  const writing = (async () => {
    while (!stop) {
      await registered(writer, 20, 'busy');
      written += 20;
    }
  })();
  const dir = tempDir(t);
  let backups = 0;
  while (written < 2000 || backups < 5) {
    const file = join(dir, `b${backups}.jsonl`);
    const { header } = await backupStore(reader, file);
    const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1, -1).map((l) => JSON.parse(l) as { t: string; d?: { id: string }; a?: { action: string; subject: string } });
    const devices = new Set(lines.filter((l) => l.t === 'device').map((l) => l.d!.id));
    const audited = new Set(lines.filter((l) => l.t === 'audit' && l.a!.action === 'device.register').map((l) => l.a!.subject));
    t.equal(devices.size, audited.size, `backup ${backups}: ${devices.size} devices, ${audited.size} registrations in the audit log`);
    t.ok([...devices].every((id) => audited.has(id)), `backup ${backups}: every device's registration is in it, and no other`);
    t.equal(header.counts.device ?? 0, devices.size);
    backups += 1;
  }
  stop = true;
  await writing;
  t.ok(backups >= 5, `${backups} backups taken while ${written} devices were registered`);
});
