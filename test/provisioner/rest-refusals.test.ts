import t from 'tap';
import { basic, bearer, call, startProvisioner, stateOf, auditOf } from './fixture.js';

// Every REST refusal as a table: status, code, `{ error: { code, message } }` and nothing else, no
// state change, and an audit entry when the refusal concerns a device.

t.test('fail/ REST API refusals', async (t) => {
  const fx = await startProvisioner(t);
  const [factory, operator, admin] = [await fx.apiToken('factory'), await fx.apiToken('operator'), await fx.apiToken('admin')];
  const tokens = await fx.register(['reg-1', 'reg-2', 'gone']);
  t.equal((await call(fx, 'POST', '/v1/devices/gone/revoke', { headers: bearer(operator), json: { reason: 'unspecified' } })).status, 200);
  const done = await call(fx, 'POST', '/v1/devices/reg-2/bundle', { headers: bearer(factory), json: { token: tokens.get('reg-2'), password: 'long enough' } });
  t.equal(done.status, 200, 'setup: reg-2 got its bundle');
  // Within its life the same token would fetch the bundle again (a lost answer); not once its certificate is revoked.
  await fx.fleet.store.revokeCertificate((done.json() as { serial: string }).serial, 'keyCompromise', 'test');

  type Case = { name: string; method: string; path: string; headers?: Record<string, string>; json?: unknown; body?: string; status: number; code: string; audited?: string; header?: [string, RegExp] };
  const cases: Case[] = [
    { name: 'no token', method: 'GET', path: '/v1/devices', status: 401, code: 'API_AUTH_REQUIRED', header: ['www-authenticate', /^Bearer realm="fleetkey"$/] },
    { name: 'Basic instead of Bearer', method: 'GET', path: '/v1/devices', headers: basic('admin', admin), status: 401, code: 'API_AUTH_REQUIRED' },
    { name: 'unknown token', method: 'GET', path: '/v1/devices', headers: bearer('fk_not-a-token'), status: 401, code: 'API_TOKEN_INVALID', header: ['www-authenticate', /error="invalid_token"/] },
    { name: 'factory revokes', method: 'POST', path: '/v1/devices/reg-1/revoke', headers: bearer(factory), json: { reason: 'unspecified' }, status: 403, code: 'API_ROLE_FORBIDDEN' },
    { name: 'operator makes a token', method: 'POST', path: '/v1/tokens', headers: bearer(operator), json: { role: 'admin' }, status: 403, code: 'API_ROLE_FORBIDDEN' },
    { name: 'operator builds a bundle', method: 'POST', path: '/v1/devices/reg-1/bundle', headers: bearer(operator), json: { token: tokens.get('reg-1'), password: 'long enough' }, status: 403, code: 'API_ROLE_FORBIDDEN' },
    { name: 'factory reads the audit log', method: 'GET', path: '/v1/audit', headers: bearer(factory), status: 403, code: 'API_ROLE_FORBIDDEN' },
    { name: 'factory starts a rotation', method: 'POST', path: '/v1/rotations', headers: bearer(factory), json: {}, status: 403, code: 'API_ROLE_FORBIDDEN' },
    { name: 'register an invalid id', method: 'POST', path: '/v1/devices', headers: bearer(factory), json: { ids: ['ok-1', 'bad id'] }, status: 400, code: 'DEVICE_ID_INVALID', audited: 'ok-1' },
    { name: 'register a batch with a taken id', method: 'POST', path: '/v1/devices', headers: bearer(factory), json: { ids: ['new-1', 'reg-1'] }, status: 409, code: 'DEVICE_EXISTS', audited: 'new-1' },
    { name: 'register with id and count', method: 'POST', path: '/v1/devices', headers: bearer(factory), json: { id: 'a', count: 2, prefix: 'p' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'register count without prefix', method: 'POST', path: '/v1/devices', headers: bearer(factory), json: { count: 2 }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'register with an unknown field', method: 'POST', path: '/v1/devices', headers: bearer(factory), json: { id: 'a', role: 'admin' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'register with a count over the batch limit', method: 'POST', path: '/v1/devices', headers: bearer(factory), json: { count: 10_001, prefix: 'p' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'register with broken JSON', method: 'POST', path: '/v1/devices', headers: { ...bearer(factory), 'content-type': 'application/json' }, body: '{"id":', status: 400, code: 'REQUEST_INVALID' },
    { name: 'register as form data', method: 'POST', path: '/v1/devices', headers: { ...bearer(factory), 'content-type': 'application/x-www-form-urlencoded' }, body: 'id=a', status: 415, code: 'MEDIA_TYPE_UNSUPPORTED' },
    { name: 'register a body over 64 KiB', method: 'POST', path: '/v1/devices', headers: { ...bearer(factory), 'content-type': 'application/json' }, body: `{"ids":["${'a'.repeat(70_000)}"]}`, status: 413, code: 'BODY_TOO_LARGE' },
    { name: 'list with a bad cursor', method: 'GET', path: '/v1/devices?cursor=%21%21', headers: bearer(factory), status: 400, code: 'CURSOR_INVALID' },
    { name: 'list with a bad status', method: 'GET', path: '/v1/devices?status=sleeping', headers: bearer(factory), status: 400, code: 'REQUEST_INVALID' },
    { name: 'get an unknown device', method: 'GET', path: '/v1/devices/nobody', headers: bearer(factory), status: 404, code: 'DEVICE_NOT_FOUND' },
    { name: 'revoke an unknown device', method: 'POST', path: '/v1/devices/nobody/revoke', headers: bearer(operator), json: { reason: 'keyCompromise' }, status: 404, code: 'DEVICE_NOT_FOUND', audited: 'nobody' },
    { name: 'revoke twice', method: 'POST', path: '/v1/devices/gone/revoke', headers: bearer(operator), json: { reason: 'keyCompromise' }, status: 409, code: 'DEVICE_STATE_CONFLICT', audited: 'gone' },
    { name: 'revoke with an unknown reason', method: 'POST', path: '/v1/devices/reg-1/revoke', headers: bearer(operator), json: { reason: 'bored' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'revoke with removeFromCRL', method: 'POST', path: '/v1/devices/reg-1/revoke', headers: bearer(operator), json: { reason: 'removeFromCRL' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'bundle with a short password', method: 'POST', path: '/v1/devices/reg-1/bundle', headers: bearer(factory), json: { token: tokens.get('reg-1'), password: 'short' }, status: 400, code: 'PKCS12_PASSWORD_TOO_SHORT', audited: 'reg-1' },
    { name: 'bundle with a wrong token', method: 'POST', path: '/v1/devices/reg-1/bundle', headers: bearer(factory), json: { token: 'wrong-token-wrong-token', password: 'long enough' }, status: 401, code: 'ENROLLMENT_REFUSED', audited: 'reg-1' },
    { name: 'bundle for an enrolled device whose certificate is revoked', method: 'POST', path: '/v1/devices/reg-2/bundle', headers: bearer(factory), json: { token: tokens.get('reg-2'), password: 'long enough' }, status: 401, code: 'ENROLLMENT_REFUSED', audited: 'reg-2' },
    { name: 'bundle for a revoked device', method: 'POST', path: '/v1/devices/gone/bundle', headers: bearer(factory), json: { token: tokens.get('gone'), password: 'long enough' }, status: 401, code: 'ENROLLMENT_REFUSED', audited: 'gone' },
    { name: 'bundle with an unknown key type', method: 'POST', path: '/v1/devices/reg-1/bundle', headers: bearer(factory), json: { token: tokens.get('reg-1'), password: 'long enough', keyType: 'dsa' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'renew the token of an enrolled device', method: 'POST', path: '/v1/devices/reg-2/token', headers: bearer(factory), status: 409, code: 'DEVICE_STATE_CONFLICT', audited: 'reg-2' },
    { name: 'renew the token of a revoked device', method: 'POST', path: '/v1/devices/gone/token', headers: bearer(operator), status: 409, code: 'DEVICE_STATE_CONFLICT', audited: 'gone' },
    { name: 'renew the token of an unknown device', method: 'POST', path: '/v1/devices/nobody/token', headers: bearer(factory), status: 404, code: 'DEVICE_NOT_FOUND', audited: 'nobody' },
    { name: 'renew a token with an unknown field', method: 'POST', path: '/v1/devices/reg-1/token', headers: bearer(factory), json: { ttl: 9999 }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'factory re-provisions', method: 'POST', path: '/v1/devices/reg-2/reprovision', headers: bearer(factory), status: 403, code: 'API_ROLE_FORBIDDEN' },
    { name: 're-provision a registered device', method: 'POST', path: '/v1/devices/reg-1/reprovision', headers: bearer(operator), status: 409, code: 'DEVICE_STATE_CONFLICT', audited: 'reg-1' },
    { name: 're-provision a revoked device', method: 'POST', path: '/v1/devices/gone/reprovision', headers: bearer(operator), status: 409, code: 'DEVICE_STATE_CONFLICT', audited: 'gone' },
    { name: 're-provision an unknown device', method: 'POST', path: '/v1/devices/nobody/reprovision', headers: bearer(operator), status: 404, code: 'DEVICE_NOT_FOUND', audited: 'nobody' },
    { name: 'rotation with a zero delay', method: 'POST', path: '/v1/rotations', headers: bearer(operator), json: { switchAfterSeconds: 0 }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'token with an unknown role', method: 'POST', path: '/v1/tokens', headers: bearer(admin), json: { role: 'root' }, status: 400, code: 'REQUEST_INVALID' },
    { name: 'unknown endpoint', method: 'GET', path: '/v1/nothing', headers: bearer(admin), status: 404, code: 'ROUTE_NOT_FOUND' },
    { name: 'unknown EST operation', method: 'POST', path: '/.well-known/est/fullcmc', status: 404, code: 'ROUTE_NOT_FOUND' },
  ];

  for (const c of cases) {
    await t.test(`fail/${c.method} ${c.path} ${c.name}`, async (t) => {
      const before = await stateOf(fx.fleet.store);
      const auditBefore = (await auditOf(fx.fleet.store)).length;
      const answer = await call(fx, c.method, c.path, { ...(c.headers ? { headers: c.headers } : {}), ...(c.json !== undefined ? { json: c.json } : {}), ...(c.body !== undefined ? { body: c.body } : {}) });
      t.equal(answer.status, c.status, 'status');
      const body = answer.json();
      t.same(Object.keys(body), ['error']);
      t.equal(body.error.code, c.code, 'code');
      t.match(body.error.message, /^[A-Z].*\.$/, 'a sentence');
      if (c.header) t.match(answer.headers[c.header[0]], c.header[1]);
      t.equal(await stateOf(fx.fleet.store), before, 'no state change');
      const audit = await auditOf(fx.fleet.store);
      if (c.audited) {
        t.equal(audit.length, auditBefore + 1, 'one audit entry');
        t.equal(audit.at(-1)?.subject, c.audited);
        t.match(audit.at(-1)?.action, /\.refused$/);
        t.equal((audit.at(-1)?.detail as { code?: string } | undefined)?.code, c.code);
      } else {
        t.equal(audit.length, auditBefore, 'not audited');
      }
    });
  }

  const ok = await call(fx, 'POST', '/v1/devices/reg-1/bundle', { headers: bearer(factory), json: { token: tokens.get('reg-1'), password: 'long enough' } });
  t.equal(ok.status, 200, 'reg-1 was left enrollable by every refused bundle');
});
