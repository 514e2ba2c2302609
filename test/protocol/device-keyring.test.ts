import t from 'tap';
import { randomBytes } from 'node:crypto';
import { DeviceKeyring } from '../../protocol/device-keyring.js';
import { openEnvelope, readEnvelopeHeader } from '../../protocol/envelope.js';
import type { VerifiedGrant } from '../../protocol/grant-verify.js';
import { parseRekeyAck, parseRekeyRequest } from '../../protocol/rekey-messages.js';
import { protocolFleet } from './fixture.js';

const T0 = 1_800_000_000; // seconds
const at = (s: number) => s * 1000;
const id = 'dev-1';

function grant(epoch: number, g: number, opts: { req?: string; nbf?: number } = {}): VerifiedGrant {
  return { kind: 'device', sub: id, epoch, grant: g, key: randomBytes(32), ...(opts.req ? { req: opts.req } : {}), iat: T0, nbf: opts.nbf ?? T0, exp: T0 + 300 };
}

/** A keyring that has accepted (epoch, grant) as the answer to its request. */
function started(epoch = 1, g = 1): { ring: DeviceKeyring; nonce: string } {
  const ring = new DeviceKeyring(id);
  const nonce = parseRekeyRequest(ring.newRequest()).nonce;
  ring.accept(grant(epoch, g, { req: nonce }), at(T0));
  return { ring, nonce };
}

t.test('ok/ start: request, the answer to it, ack, seal', async (t) => {
  const ring = new DeviceKeyring(id);
  t.throws(() => ring.sealNext(Buffer.from('x'), at(T0)), { code: 'ENVELOPE_NO_KEY' }, 'nothing to seal with yet');
  const body = ring.newRequest();
  const { nonce } = parseRekeyRequest(body);
  t.equal(Buffer.from(nonce, 'base64url').length, 16);
  t.equal(ring.requestNonce, nonce);
  const accepted = ring.accept(grant(1, 4, { req: nonce }), at(T0));
  t.same(parseRekeyAck(accepted.ack, 'device'), { epoch: 1, grant: 4 });
  t.equal(accepted.ack.toString(), '{"epoch":1,"grant":4}');
  t.equal(accepted.active, true);
  t.same(ring.current(at(T0)), { epoch: 1, grant: 4, nbf: T0 });
  t.same(readEnvelopeHeader(ring.sealNext(Buffer.from('a'), at(T0))), { epoch: 1, grant: 4, seq: 0n });
  t.same(readEnvelopeHeader(ring.sealNext(Buffer.from('b'), at(T0))), { epoch: 1, grant: 4, seq: 1n });
  t.not(parseRekeyRequest(ring.newRequest()).nonce, nonce, 'a fresh nonce per request');
});

t.test('fail/ after a start only the answer to the latest request is accepted', async (t) => {
  const ring = new DeviceKeyring(id);
  t.throws(() => ring.accept(grant(5, 1), at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/rotation grant before any request');
  t.throws(() => ring.accept(grant(5, 1, { req: randomBytes(16).toString('base64url') }), at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/no request made yet');
  const first = parseRekeyRequest(ring.newRequest()).nonce;
  const second = parseRekeyRequest(ring.newRequest()).nonce;
  t.throws(() => ring.accept(grant(5, 1), at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/rotation grant without a key held');
  t.throws(() => ring.accept(grant(5, 1, { req: first }), at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/answer to an earlier request');
  t.equal(ring.current(at(T0)), undefined, 'state unchanged');
  t.equal(ring.accept(grant(5, 2, { req: second }), at(T0)).epoch, 5);
});

t.test('fail/ restart: a replayed old grant is refused until the answer to its own request arrives', async (t) => {
  const before = started(3, 7);
  const replayed = grant(3, 7, { req: before.nonce });
  const oldRotation = grant(3, 7);
  // The device restarts: its state is gone.
  const ring = new DeviceKeyring(id);
  t.throws(() => ring.accept(replayed, at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/replayed answer, no request yet');
  t.throws(() => ring.accept(oldRotation, at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/replayed rotation grant');
  const nonce = parseRekeyRequest(ring.newRequest()).nonce;
  t.throws(() => ring.accept(replayed, at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/replayed answer to the old request');
  t.throws(() => ring.accept(oldRotation, at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/replayed rotation grant, request pending');
  t.equal(ring.current(at(T0)), undefined);
  ring.accept(grant(3, 8, { req: nonce }), at(T0));
  t.same(ring.current(at(T0)), { epoch: 3, grant: 8, nbf: T0 }, 'the answer to its own request is installed');
  t.throws(() => ring.accept(replayed, at(T0)), { code: 'GRANT_UNSOLICITED' }, 'fail/old answer, now with a key');
  t.throws(() => ring.accept(oldRotation, at(T0)), { code: 'GRANT_NOT_NEWER' }, 'fail/old rotation grant, now with a key');
});

t.test('fail/ replay and downgrade once a key is held', async (t) => {
  const { ring, nonce } = started(2, 5);
  const cases: Array<[string, VerifiedGrant, string]> = [
    ['same (epoch, grant) again, answering the request', grant(2, 5, { req: nonce }), 'GRANT_NOT_NEWER'],
    ['older grant, same epoch, answering the request', grant(2, 4, { req: nonce }), 'GRANT_NOT_NEWER'],
    ['older epoch, answering the request (downgrade)', grant(1, 99, { req: nonce }), 'GRANT_NOT_NEWER'],
    ['rotation grant for the same epoch', grant(2, 6), 'GRANT_NOT_NEWER'],
    ['rotation grant for an older epoch', grant(1, 1), 'GRANT_NOT_NEWER'],
    ['answer to a request never made', grant(9, 1, { req: randomBytes(16).toString('base64url') }), 'GRANT_UNSOLICITED'],
  ];
  for (const [name, g, code] of cases) t.throws(() => ring.accept(g, at(T0)), { code }, `fail/${name}`);
  t.same(ring.current(at(T0)), { epoch: 2, grant: 5, nbf: T0 }, 'state unchanged');
  t.throws(() => ring.accept({ ...grant(3, 1), sub: 'dev-2' }, at(T0)), { code: 'GRANT_MALFORMED' }, 'fail/grant for another device');
  t.throws(() => ring.accept({ ...grant(3, 1), kind: 'consumer', grant: undefined }, at(T0)), { code: 'GRANT_MALFORMED' }, 'fail/epoch grant');
  t.equal(ring.accept(grant(2, 6, { req: nonce }), at(T0)).grant, 6, 'ok/ newer grant of the same epoch answering the request');
  t.equal(ring.accept(grant(3, 1), at(T0)).epoch, 3, 'ok/ rotation to a newer epoch');
});

t.test('ok/ rotation: distribute first, switch at nbf', async (t) => {
  const { ring } = started(1, 1);
  const rotation = ring.accept(grant(2, 1, { nbf: T0 + 5 }), at(T0));
  t.equal(rotation.active, false);
  t.same(ring.pending(at(T0)), { epoch: 2, grant: 1, nbf: T0 + 5 });
  t.throws(() => ring.accept(grant(2, 1, { nbf: T0 + 5 }), at(T0)), { code: 'GRANT_NOT_NEWER' }, 'fail/the pending grant again');
  t.throws(() => ring.accept(grant(2, 3), at(T0)), { code: 'GRANT_NOT_NEWER' }, 'fail/rotation grant for the pending epoch');
  t.same(readEnvelopeHeader(ring.sealNext(Buffer.from('x'), at(T0 + 4.999))).epoch, 1, 'old key until nbf');
  t.same(readEnvelopeHeader(ring.sealNext(Buffer.from('x'), at(T0 + 5))), { epoch: 2, grant: 1, seq: 0n }, 'new key from nbf, seq 0');
  t.equal(ring.pending(at(T0 + 5)), undefined);
  const pendingReplaced = started(1, 1).ring;
  pendingReplaced.accept(grant(2, 1, { nbf: T0 + 5 }), at(T0));
  pendingReplaced.accept(grant(3, 1, { nbf: T0 + 10 }), at(T0));
  t.same(pendingReplaced.current(at(T0 + 6)), { epoch: 1, grant: 1, nbf: T0 }, 'a newer pending key replaces the older pending one');
  t.same(pendingReplaced.current(at(T0 + 10)), { epoch: 3, grant: 1, nbf: T0 + 10 });
  const fresh = new DeviceKeyring(id);
  const nonce = parseRekeyRequest(fresh.newRequest()).nonce;
  t.equal(fresh.accept(grant(4, 1, { req: nonce, nbf: T0 + 60 }), at(T0)).active, true, 'with no key in use, the answer to its request is used at once');
});

t.test('seq: 0 per key, strictly increasing, never a (key, seq) pair twice across switches', async (t) => {
  const { ring, nonce } = started(1, 1);
  const seen = new Set<string>();
  const perKey = new Map<string, bigint[]>();
  const seal = (now: number) => {
    const h = readEnvelopeHeader(ring.sealNext(Buffer.from('m'), at(now)));
    const k = `${h.epoch}/${h.grant}`;
    const pair = `${k}/${h.seq}`;
    t.notOk(seen.has(pair), `unique ${pair}`);
    seen.add(pair);
    perKey.set(k, [...(perKey.get(k) ?? []), h.seq]);
  };
  for (let i = 0; i < 3; i++) seal(T0);
  ring.accept(grant(1, 2, { req: nonce }), at(T0)); // a reconnect without restart: new grant, same epoch
  for (let i = 0; i < 3; i++) seal(T0);
  ring.accept(grant(2, 1, { nbf: T0 + 5 }), at(T0)); // rotation
  for (let i = 0; i < 3; i++) seal(T0 + 1);
  for (let i = 0; i < 3; i++) seal(T0 + 6);
  t.same(Object.fromEntries(perKey), { '1/1': [0n, 1n, 2n], '1/2': [0n, 1n, 2n, 3n, 4n, 5n], '2/1': [0n, 1n, 2n] }, 'grant 1/2 stays in use until the rotation\'s nbf');
  const pending = started(1, 1).ring;
  pending.sealNext(Buffer.from('a'), at(T0));
  pending.accept(grant(2, 1, { nbf: T0 + 5 }), at(T0));
  t.same(readEnvelopeHeader(pending.sealNext(Buffer.from('b'), at(T0))).seq, 1n, 'accepting a pending key does not reset the seq of the key in use');
});

t.test('end to end: a real grant verified, accepted, sealed; the KDC\'s K opens it', async (t) => {
  const fleet = protocolFleet();
  const device = fleet.party('device', 'dev-e2e');
  const ring = new DeviceKeyring(device.id);
  const nonce = parseRekeyRequest(ring.newRequest()).nonce;
  const key = randomBytes(32);
  const verified = await fleet.verifyAs(device, await fleet.deviceGrant(device, { epoch: 1, grant: 3, key, req: nonce }));
  ring.accept(verified, fleet.now);
  const sealed = ring.sealNext(Buffer.from('hello'), fleet.now);
  t.equal(openEnvelope(key, device.id, sealed).payload.toString(), 'hello');
  t.throws(() => new DeviceKeyring('bad/id'), { code: 'PROTOCOL_INPUT_INVALID' });
});
