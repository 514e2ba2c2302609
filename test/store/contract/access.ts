import type { Test } from 'tap';
import type { AuditEntry, Store } from '../../../store/types.js';
import { refuses, refusesUnchanged, token, type OpenStore } from './fixtures.js';

async function readAll(store: Store, query: { subject?: string; limit?: number }): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.readAudit({ ...query, ...(cursor === undefined ? {} : { cursor }) });
    entries.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor !== undefined && (pages += 1) < 1000);
  return entries;
}

export function accessContract(t: Test, open: OpenStore): void {
  t.test('API tokens: kept as a hash, found by secret, revoked', async (t) => {
    const store = await open(t);
    const secret = token();
    const record = await store.createApiToken({ id: 'ops-1', secret, role: 'operator', label: 'night shift' }, 'cli');
    t.same({ ...record, createdAt: undefined }, { id: 'ops-1', role: 'operator', label: 'night shift', createdAt: undefined });
    t.ok(record.createdAt instanceof Date);
    t.notOk(JSON.stringify(record).includes(secret), 'no secret in the record');
    t.same(await store.findApiToken(secret), record);
    t.equal(await store.findApiToken(token()), undefined, 'unknown secret');
    t.equal(await store.findApiToken(''), undefined, 'empty secret');
    await refusesUnchanged(t, store, () => store.createApiToken({ id: 'ops-1', secret: token(), role: 'admin' }, 'cli'), 'API_TOKEN_EXISTS', 'same id');
    await refusesUnchanged(t, store, () => store.createApiToken({ id: 'ops-2', secret, role: 'admin' }, 'cli'), 'API_TOKEN_EXISTS', 'same secret');
    await refusesUnchanged(t, store, () => store.createApiToken({ id: 'ops-3', secret: token(), role: 'root' as never }, 'cli'), 'STORE_INPUT_INVALID', 'unknown role');
    await refusesUnchanged(t, store, () => store.createApiToken({ id: 'ops-3', secret: 'short', role: 'admin' }, 'cli'), 'STORE_INPUT_INVALID', 'short secret');
    const plain = await store.createApiToken({ id: 'factory-1', secret: token(), role: 'factory' }, 'cli');
    t.equal(plain.label, undefined);
    await store.revokeApiToken('ops-1', 'api:admin');
    t.equal(await store.findApiToken(secret), undefined, 'revoked');
    await refusesUnchanged(t, store, () => store.revokeApiToken('ops-1', 'api:admin'), 'API_TOKEN_NOT_FOUND', 'revoked twice');
    t.same((await store.readAudit({ subject: 'ops-1' })).entries.map((e) => [e.actor, e.action]), [['cli', 'api-token.create'], ['api:admin', 'api-token.revoke']]);
  });

  t.test('audit log: append-only, ordered, read from a cursor, filtered by subject', async (t) => {
    const store = await open(t);
    const appended: AuditEntry[] = [];
    for (let i = 0; i < 25; i += 1) {
      appended.push(await store.appendAudit({ actor: 'kdc', action: 'epoch.rotate', subject: i % 3 === 0 ? 'dev-a' : 'dev-b', detail: { i, nested: { ok: true } } }));
    }
    t.equal(new Set(appended.map((e) => e.id)).size, 25, 'distinct ids');
    t.ok(appended.every((e) => e.time instanceof Date), 'time is a Date');
    t.same(await readAll(store, { limit: 10 }), appended, 'pages of 10 give every entry once, in order');
    t.same((await store.readAudit({})).entries, appended, 'one page');
    const after = await store.readAudit({ cursor: appended[4]!.id, limit: 3 });
    t.same(after.entries, appended.slice(5, 8), 'an entry id is a cursor');
    t.same(await readAll(store, { subject: 'dev-a', limit: 4 }), appended.filter((e) => e.subject === 'dev-a'), 'subject filter with pages');
    const concurrent = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendAudit({ actor: 'cli', action: 'x.y', subject: `c${i}` })));
    const tail = (await readAll(store, { limit: 7 })).slice(25);
    t.same(tail.map((e) => e.id), concurrent.map((e) => e.id), 'concurrent appends read back in append order');
    await refusesUnchanged(t, store, () => store.appendAudit({ actor: '', action: 'x', subject: 'y' }), 'STORE_INPUT_INVALID', 'empty actor');
    await refusesUnchanged(t, store, () => store.appendAudit({ actor: 'a', action: 'x', subject: 'y', detail: { big: 'x'.repeat(10_000) } }), 'STORE_INPUT_INVALID', 'detail too big');
    await refuses(t, store.readAudit({ cursor: 'not a cursor' }), 'CURSOR_INVALID', 'garbage cursor');
  });

  t.test('events: delivered to subscribers, unsubscribe stops them, a throwing handler harms nothing', async (t) => {
    const store = await open(t);
    const got: unknown[] = [];
    store.on('rotate-requested', () => {
      throw new Error('handler bug');
    });
    const stop = store.on('rotate-requested', (e) => got.push(e));
    const event = { type: 'rotate-requested', requestedBy: 'api:ops-1', switchAfterSeconds: 30 } as const;
    await store.publish(event);
    await waitFor(() => got.length === 1, 100);
    t.same(got, [event]);
    stop();
    await store.publish({ ...event, switchAfterSeconds: undefined });
    await new Promise((r) => setTimeout(r, 50));
    t.equal(got.length, 1, 'nothing after unsubscribe');
    const ca: unknown[] = [];
    store.on('ca-changed', (e) => ca.push(e));
    await store.publish({ type: 'ca-changed' });
    await waitFor(() => ca.length === 1, 100);
    t.same(ca, [{ type: 'ca-changed' }]);
    await refuses(t, store.publish({ type: 'events-resumed' }), 'STORE_INPUT_INVALID', 'events-resumed is raised by a store, never published');
  });

  t.test('after close every call is refused with STORE_UNAVAILABLE', async (t) => {
    const store = await open(t);
    await store.close();
    await refuses(t, store.getDevice('a'), 'STORE_UNAVAILABLE', 'read after close');
    await refuses(t, store.appendAudit({ actor: 'a', action: 'b', subject: 'c' }), 'STORE_UNAVAILABLE', 'write after close');
    await store.close();
    t.pass('close twice is harmless');
  });
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
  if (!done()) throw new Error(`not within ${ms} ms`);
}
