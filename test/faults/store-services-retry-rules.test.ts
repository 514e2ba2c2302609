import t from 'tap';
import { retryLine, retrySafe, retrySecondsFromEnv, retryWaitSeconds, waitingFor } from '../../cli/api-retry.js';
import { retryDelay, storeNotReachedYet } from '../../cli/open-store.js';
import { unavailableRetryAfter } from '../../provisioner/http-errors.js';
import { FleetkeyError } from '../../errors/index.js';

// The rules behind waiting: which start failures a service waits out, which CLI calls are sent again.

t.test('a service waits for an unreachable store, never for a configuration error', async (t) => {
  const errno = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });
  const wait = [
    new FleetkeyError('STORE_UNAVAILABLE', 'cannot connect', { cause: new Error('Connection is closed.') }),
    errno('ECONNREFUSED'), errno('ENOTFOUND'), errno('EAI_AGAIN'), errno('ETIMEDOUT'),
    new Error('All sentinels are unreachable and retry is disabled.'),
    new Error('LOADING Redis is loading the dataset in memory'),
  ];
  for (const err of wait) t.ok(storeNotReachedYet(err), `waits: ${err.message}`);
  const refuse = [
    new FleetkeyError('STORE_UNAVAILABLE', 'x', { cause: new Error('WRONGPASS invalid username-password pair') }),
    new Error('NOAUTH Authentication required.'),
    new FleetkeyError('STORE_URL_INVALID', 'bad'),
    new FleetkeyError('STORE_STATE_LOST', 'empty'),
    new FleetkeyError('STORE_IDENTITY_MISMATCH', 'other fleet'),
    new FleetkeyError('DATA_DIR_INCOMPLETE', 'no ca'),
    new Error('some bug'),
    'not an error',
  ];
  for (const err of refuse) t.notOk(storeNotReachedYet(err), `exits: ${err instanceof Error ? err.message : err}`);
});

t.test('the wait between attempts doubles from 250 ms to 5 s, ±25 %', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 10].map((n) => retryDelay(n, () => 0.5)), [250, 500, 1000, 2000, 4000, 5000, 5000]);
  t.equal(retryDelay(1, () => 0), 188);
  t.equal(retryDelay(10, () => 0.999), 6248);
});

t.test('the provisioner says Retry-After 2 to 4', async (t) => {
  t.same([0, 0.4, 0.99].map((r) => unavailableRetryAfter(() => r)), [2, 3, 4]);
});

t.test('the CLI sends again reads, revocations and token renewals; never what would happen twice', async (t) => {
  for (const [method, path] of [['GET', '/v1/devices?limit=5'], ['GET', '/v1/rotations/current'], ['POST', '/v1/devices/d1/revoke'], ['POST', '/v1/devices/d1/token']]) {
    t.ok(retrySafe(method!, path!), `${method} ${path}`);
  }
  for (const [method, path] of [['POST', '/v1/devices'], ['POST', '/v1/devices/d1/bundle'], ['POST', '/v1/devices/d1/reprovision'], ['POST', '/v1/tokens'], ['POST', '/v1/rotations'], ['DELETE', '/v1/tokens/x'], ['POST', '/v1/devices/d1/revoke/x']]) {
    t.notOk(retrySafe(method!, path!), `not ${method} ${path}`);
  }
  t.equal(waitingFor('STORE_UNAVAILABLE'), 'store unavailable at the provisioner');
  t.equal(waitingFor('PROVISIONER_NOT_READY'), 'provisioner not ready');
  t.equal(waitingFor('STORE_STATE_LOST'), undefined, 'a lost store needs an operator: no retry');
  t.equal(waitingFor('DEVICE_NOT_FOUND'), undefined);
});

t.test('Retry-After is honoured; without it the CLI backs off 1, 2, 4, 5 s', async (t) => {
  t.equal(retryWaitSeconds(1, '3'), 3);
  t.equal(retryWaitSeconds(5, '0'), 0);
  t.equal(retryWaitSeconds(1, '3600'), 60, 'capped at a minute');
  t.same([1, 2, 3, 4, 9].map((n) => retryWaitSeconds(n, undefined)), [1, 2, 4, 5, 5]);
  t.equal(retryWaitSeconds(2, 'Wed, 21 Oct 2015 07:28:00 GMT'), 2, 'an HTTP date is not read: backoff');
  t.equal(retrySecondsFromEnv({}), 60);
  t.equal(retrySecondsFromEnv({ FLEETKEY_RETRY_SECONDS: '0' }), 0);
  t.equal(retrySecondsFromEnv({ FLEETKEY_RETRY_SECONDS: '15' }), 15);
  t.equal(retrySecondsFromEnv({ FLEETKEY_RETRY_SECONDS: 'soon' }), 60);
  t.equal(retryLine({ method: 'GET', path: '/v1/status', code: 'STORE_UNAVAILABLE', waitingFor: 'store unavailable at the provisioner', attempt: 2, waitSeconds: 2 }),
    'store unavailable at the provisioner; retrying in 2 s (attempt 3)…');
});
