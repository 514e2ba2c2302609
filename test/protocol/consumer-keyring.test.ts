import t from 'tap';
import { randomBytes } from 'node:crypto';
import { ConsumerKeyring } from '../../protocol/consumer-keyring.js';
import { sealEnvelope } from '../../protocol/envelope.js';
import type { VerifiedGrant } from '../../protocol/grant-verify.js';
import { parseRekeyAck, parseRekeyRequest } from '../../protocol/rekey-messages.js';
import { deriveSessionKey } from '../../protocol/session-key.js';
import { protocolFleet } from './fixture.js';

const T0 = 1_800_000_000;
const at = (s: number) => s * 1000;
const C = 'consumer-dash';
const secrets = new Map<number, Buffer>([1, 2, 3, 4].map((e) => [e, randomBytes(32)]));

function epochGrant(epoch: number, opts: { req?: string; nbf?: number } = {}): VerifiedGrant {
  return { kind: 'consumer', sub: C, epoch, key: Buffer.from(secrets.get(epoch)!), ...(opts.req ? { req: opts.req } : {}), iat: T0, nbf: opts.nbf ?? T0, exp: T0 + 300 };
}

/** What device `d` would send with grant `g` of epoch `e`, seq `seq`. */
function sealed(d: string, e: number, g: number, seq: bigint, text = `m${seq}`): Buffer {
  return sealEnvelope(deriveSessionKey(secrets.get(e)!, d, e, g), d, { epoch: e, grant: g, seq }, Buffer.from(text));
}

function startedAt(epoch: number, grace = 60): ConsumerKeyring {
  const ring = new ConsumerKeyring({ consumerId: C, graceSeconds: grace, windowSize: 64 });
  const { nonce } = parseRekeyRequest(ring.newRequest());
  ring.accept(epochGrant(epoch, { req: nonce }));
  return ring;
}

t.test('acceptance: the answer to the latest request, then only newer epochs', async (t) => {
  const ring = new ConsumerKeyring({ consumerId: C });
  t.throws(() => ring.accept(epochGrant(2)), { code: 'GRANT_UNSOLICITED' }, 'fail/rotation grant before any request');
  const old = parseRekeyRequest(ring.newRequest()).nonce;
  const { nonce } = parseRekeyRequest(ring.newRequest());
  t.throws(() => ring.accept(epochGrant(2, { req: old })), { code: 'GRANT_UNSOLICITED' }, 'fail/answer to an earlier request');
  t.throws(() => ring.accept(epochGrant(2)), { code: 'GRANT_UNSOLICITED' }, 'fail/rotation grant, no answer yet');
  t.same(parseRekeyAck(ring.accept(epochGrant(2, { req: nonce, nbf: T0 })), 'consumer'), { epoch: 2 });
  ring.accept(epochGrant(1, { req: nonce, nbf: T0 - 100 })); // the previous epoch, still in grace, answers the same request
  t.same(ring.epochs().map((e) => e.epoch), [1, 2]);
  t.throws(() => ring.accept(epochGrant(2, { req: nonce })), { code: 'GRANT_NOT_NEWER' }, 'fail/an epoch already held');
  t.throws(() => ring.accept(epochGrant(2)), { code: 'GRANT_NOT_NEWER' }, 'fail/rotation grant for the current epoch');
  t.throws(() => ring.accept(epochGrant(1)), { code: 'GRANT_NOT_NEWER' }, 'fail/rotation grant for an older epoch');
  t.throws(() => ring.accept({ ...epochGrant(3), sub: 'consumer-other' }), { code: 'GRANT_MALFORMED' }, 'fail/grant for another consumer');
  t.throws(() => ring.accept({ ...epochGrant(3), kind: 'device', grant: 1 }), { code: 'GRANT_MALFORMED' }, 'fail/device grant');
  ring.accept(epochGrant(3, { nbf: T0 + 10 }));
  t.same(ring.epochs().map((e) => e.epoch), [1, 2, 3]);
  t.throws(() => new ConsumerKeyring({ consumerId: 'dash' }), { code: 'PROTOCOL_INPUT_INVALID' }, 'fail/client id without the consumer- prefix');
  t.throws(() => new ConsumerKeyring({ consumerId: C, graceSeconds: -1 }), { code: 'PROTOCOL_INPUT_INVALID' });
});

t.test('classification: opened, duplicate, replay, undecryptable', async (t) => {
  const ring = startedAt(1);
  const now = at(T0);
  const kind = (env: Buffer, d = 'dev-1') => ring.open(d, env, now).kind;
  const first = ring.open('dev-1', sealed('dev-1', 1, 1, 0n, 'hello'), now);
  t.equal(first.kind, 'opened');
  t.equal(first.kind === 'opened' && first.payload.toString(), 'hello');
  t.equal(kind(sealed('dev-1', 1, 1, 0n, 'hello')), 'duplicate', 'QoS 1 redelivery');
  t.equal(kind(sealed('dev-1', 1, 1, 3n)), 'opened', 'gap');
  t.equal(kind(sealed('dev-1', 1, 1, 2n)), 'opened', 'reordered within the window: opened once');
  t.equal(kind(sealed('dev-1', 1, 1, 2n)), 'duplicate');
  t.equal(kind(sealed('dev-1', 1, 1, 100n)), 'opened');
  t.equal(kind(sealed('dev-1', 1, 1, 1n)), 'replay', 'never seen, but below the window: never accepted');
  t.equal(kind(sealed('dev-1', 1, 1, 3n)), 'replay', 'seen, and now below the window');
  t.equal(kind(sealed('dev-1', 1, 2, 0n)), 'opened', 'another grant has its own window');
  t.equal(kind(sealed('dev-2', 1, 1, 0n), 'dev-2'), 'opened', 'another device has its own window');
  const forged = sealed('dev-1', 1, 1, 5000n);
  forged[forged.length - 1]! ^= 1;
  t.same(ring.open('dev-1', forged, now), { kind: 'undecryptable', reason: 'auth-failed', header: { epoch: 1, grant: 1, seq: 5000n } });
  t.equal(kind(sealed('dev-1', 1, 1, 101n)), 'opened', 'a forgery does not slide the window');
  t.equal(kind(sealed('dev-1', 1, 1, 102n), 'dev-3'), 'undecryptable', 'envelope of dev-1 posted on dev-3\'s topic');
  t.same(ring.open('dev-1', Buffer.alloc(10), now), { kind: 'undecryptable', reason: 'malformed' });
  t.equal(kind(sealed('dev-1', 2, 1, 0n)), 'undecryptable', 'an epoch newer than any held');
  t.equal((ring.open('dev-1', sealed('dev-1', 2, 1, 0n), now) as { reason: string }).reason, 'no-epoch-key');
  t.equal((ring.open('bad+id', sealed('dev-1', 1, 1, 200n), now) as { reason: string }).reason, 'malformed', 'a topic id that is no device id');
});

t.test('grace: epoch e opens until the next epoch\'s nbf + grace, then is stale', async (t) => {
  const ring = startedAt(1, 60);
  ring.accept(epochGrant(2, { nbf: T0 + 10 }));
  t.same(ring.epochs(), [{ epoch: 1, nbf: T0, graceUntil: at(T0 + 70) }, { epoch: 2, nbf: T0 + 10, graceUntil: Infinity }]);
  t.equal(ring.open('dev-1', sealed('dev-1', 2, 1, 0n), at(T0)).kind, 'opened', 'the next epoch opens as soon as it is held (device clocks drift)');
  t.equal(ring.open('dev-1', sealed('dev-1', 1, 1, 0n), at(T0 + 69)).kind, 'opened', 'previous epoch inside its grace');
  t.equal(ring.open('dev-1', sealed('dev-1', 1, 1, 1n), at(T0 + 70)).kind, 'stale-epoch', 'past its grace');
  t.same(ring.epochs().map((e) => e.epoch), [2], 'its secret is gone');
  t.equal(ring.open('dev-1', sealed('dev-1', 1, 1, 2n), at(T0 + 70)).kind, 'stale-epoch', 'still stale');
  ring.accept(epochGrant(3, { nbf: T0 + 100 }));
  ring.accept(epochGrant(4, { nbf: T0 + 110 }));
  t.same(ring.epochs().map((e) => [e.epoch, e.graceUntil]), [[2, at(T0 + 160)], [3, at(T0 + 170)], [4, Infinity]], 'rotations faster than the grace keep each epoch its own grace');
  t.same(ring.prune(at(T0 + 165)), [2]);
  const late = startedAt(2, 60);
  const { nonce } = parseRekeyRequest(late.newRequest());
  late.accept(epochGrant(3, { req: nonce, nbf: T0 - 3600 }));
  t.same(late.prune(at(T0)), [2], 'a previous epoch whose grace ended long ago is dropped');
});

t.test('end to end: epoch grant from the KDC, device grant, envelope opened', async (t) => {
  const fleet = protocolFleet();
  const consumer = fleet.party('consumer', 'e2e');
  const device = fleet.party('device', 'dev-e2e');
  const ring = new ConsumerKeyring({ consumerId: consumer.id });
  const { nonce } = parseRekeyRequest(ring.newRequest());
  const secret = randomBytes(32);
  ring.accept(await fleet.verifyAs(consumer, await fleet.epochGrant(consumer, { epoch: 5, secret, req: nonce })));
  const K = deriveSessionKey(secret, device.id, 5, 2);
  const v = await fleet.verifyAs(device, await fleet.deviceGrant(device, { epoch: 5, grant: 2, key: K }));
  const env = sealEnvelope(v.key, device.id, { epoch: 5, grant: 2, seq: 0n }, Buffer.from('21.5C'));
  const out = ring.open(device.id, env, fleet.now);
  t.equal(out.kind === 'opened' && out.payload.toString(), '21.5C');
});
