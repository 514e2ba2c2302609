import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { readCrl, verifyCrl } from '../../certs/crl.js';
import { openssl } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tmp.js';
import { bearer, call, startProvisioner } from './fixture.js';

// ok/ cases of the REST API: what a factory tool and an operator do, and what the answers carry.

t.test('ok/ register, list, show, bundle, revoke, CRL, CA, audit, status, tokens, rotations, health', async (t) => {
  const fx = await startProvisioner(t);
  const [factory, operator, admin] = [await fx.apiToken('factory'), await fx.apiToken('operator'), await fx.apiToken('admin')];

  const one = await call(fx, 'POST', '/v1/devices', { headers: bearer(factory), json: { id: 'solo' } });
  t.equal(one.status, 201);
  t.equal(one.headers['cache-control'], 'no-store', 'tokens are not cached');
  const [solo] = one.json().devices;
  t.match(solo, { id: 'solo', token: /^[A-Za-z0-9_-]{32}$/, tokenExpiresAt: String });
  const batch = await call(fx, 'POST', '/v1/devices', { headers: bearer(operator), json: { count: 3, prefix: 'line-', start: 9 } });
  t.same(batch.json().devices.map((d: { id: string }) => d.id), ['line-0009', 'line-0010', 'line-0011']);
  t.equal((await call(fx, 'POST', '/v1/devices', { headers: bearer(admin), json: { ids: ['a-1', 'a-2'] } })).status, 201, 'admin may do what factory may');

  // A lost or expired token: a new one for the registered device; the old one stops working.
  const lineTen = batch.json().devices[1];
  const renewed = await call(fx, 'POST', '/v1/devices/line-0010/token', { headers: bearer(factory) });
  t.equal(renewed.status, 200);
  t.equal(renewed.headers['cache-control'], 'no-store', 'tokens are not cached');
  t.match(renewed.json(), { id: 'line-0010', token: /^[A-Za-z0-9_-]{32}$/, tokenExpiresAt: String });
  t.not(renewed.json().token, lineTen.token, 'a new token');
  const withOld = await call(fx, 'POST', '/v1/devices/line-0010/bundle', { headers: bearer(factory), json: { token: lineTen.token, password: 'flash-me-please' } });
  t.equal(withOld.status, 401, 'the old token no longer works');
  t.equal((await call(fx, 'POST', '/v1/devices/line-0010/token', { headers: bearer(operator), json: {} })).status, 200, 'operators may renew too');
  t.same((await fx.fleet.store.readAudit({ subject: 'line-0010' })).entries.map((e) => e.action),
    ['device.register', 'device.renew-token', 'enroll.refused', 'device.renew-token'], 'audited');

  const page1 = await call(fx, 'GET', '/v1/devices?limit=4', { headers: bearer(factory) });
  t.equal(page1.json().devices.length, 4);
  const page2 = await call(fx, 'GET', `/v1/devices?limit=4&cursor=${page1.json().nextCursor}`, { headers: bearer(factory) });
  t.same(page2.json().devices.map((d: { id: string }) => d.id), ['line-0011', 'solo'], 'cursor paging');
  t.equal(page2.json().nextCursor, null);

  // Factory bundle: JSON form, then raw PKCS#12 for another device.
  const bundle = await call(fx, 'POST', '/v1/devices/solo/bundle', { headers: bearer(factory), json: { token: solo.token, password: 'flash-me-please' } });
  t.equal(bundle.status, 200);
  const b = bundle.json();
  t.match(b, { deviceId: 'solo', serial: /^[0-9A-F]+$/, certificate: /BEGIN CERTIFICATE/, chain: /BEGIN CERTIFICATE[\s\S]+BEGIN CERTIFICATE/, privateKey: /BEGIN PRIVATE KEY/ });
  const dir = tempDir(t);
  writeFileSync(join(dir, 'solo.p12'), Buffer.from(b.pkcs12, 'base64'));
  const p12 = openssl(['pkcs12', '-in', join(dir, 'solo.p12'), '-passin', 'pass:flash-me-please', '-nokeys', '-info']);
  t.equal(p12.status, 0, `openssl reads the PKCS#12 (${p12.stderr.trim()})`);
  t.equal(p12.stdout.match(/BEGIN CERTIFICATE/g)?.length, 3, 'leaf, issuing CA and root');
  const line9 = batch.json().devices[0];
  const raw = await call(fx, 'POST', '/v1/devices/line-0009/bundle', {
    headers: { ...bearer(factory), accept: 'application/x-pkcs12' }, json: { token: line9.token, password: 'flash-me-please', keyType: 'ec-p384' },
  });
  t.equal(raw.headers['content-type'], 'application/x-pkcs12');
  t.equal(raw.body[0], 0x30, 'DER PKCS#12');

  // Re-provisioning: line-0009 lost its key; its certificate is revoked and a new token enrolls it again.
  const reprovisioned = await call(fx, 'POST', '/v1/devices/line-0009/reprovision', { headers: bearer(operator) });
  t.equal(reprovisioned.status, 200);
  t.equal(reprovisioned.headers['cache-control'], 'no-store');
  const rp = reprovisioned.json();
  t.match(rp, { id: 'line-0009', status: 'registered', token: /^[A-Za-z0-9_-]{32}$/, tokenExpiresAt: String, revoked: [{ reason: 'superseded' }] });
  t.equal(rp.revoked.length, 1, 'its one certificate');
  t.match(readCrl((await call(fx, 'GET', '/v1/crl')).body).entries, [{ reason: 'superseded' }], 'on the CRL at once');
  const reflashed = await call(fx, 'POST', '/v1/devices/line-0009/bundle', { headers: bearer(factory), json: { token: rp.token, password: 'flash-me-please' } });
  t.equal(reflashed.status, 200, 'the new token makes a new bundle');
  t.not(reflashed.json().serial, rp.revoked[0].serial, 'with a new certificate');

  const shown = await call(fx, 'GET', '/v1/devices/solo', { headers: bearer(operator) });
  t.match(shown.json(), { id: 'solo', status: 'active', enrolledAt: String, certificates: [{ serial: b.serial, revoked: false }] });

  // Revoke: recorded, on this replica's CRL at once, counted.
  const revoked = await call(fx, 'POST', '/v1/devices/solo/revoke', { headers: bearer(operator), json: { reason: 'keyCompromise' } });
  t.equal(revoked.status, 200);
  t.match(revoked.json(), { deviceId: 'solo', status: 'revoked', revoked: [{ serial: b.serial, reason: 'keyCompromise' }] });
  const crl = await call(fx, 'GET', '/v1/crl');
  t.equal(crl.headers['content-type'], 'application/pkix-crl');
  t.ok(verifyCrl(crl.body, fx.fleet.ca.issuing.certificate.x509), 'signed by the issuing CA');
  t.match(readCrl(crl.body).entries.find((e) => e.serial === b.serial), { reason: 'keyCompromise' });
  writeFileSync(join(dir, 'crl.der'), crl.body);
  t.match(openssl(['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-noout', '-text']).stdout, new RegExp(`Serial Number: ${b.serial}`));
  t.match((await call(fx, 'GET', '/v1/devices/solo', { headers: bearer(operator) })).json().certificates, [{ revoked: true }]);

  const ca = await call(fx, 'GET', '/v1/ca');
  const chain = ca.body.toString().split(/(?=-----BEGIN CERTIFICATE-----)/).map((pem) => new X509Certificate(pem));
  t.same(chain.map((c) => c.fingerprint256), [fx.fleet.ca.issuing.certificate.x509.fingerprint256, fx.fleet.ca.root.certificate.x509.fingerprint256]);

  const audit = (await call(fx, 'GET', '/v1/audit?subject=solo', { headers: bearer(operator) })).json();
  t.match(audit.entries.map((e: { action: string }) => e.action), ['device.register', 'device.enroll', 'device.bundle', 'device.revoke']);
  t.match(audit.entries[3], { actor: /^api:tok-/, subject: 'solo', detail: { reason: 'keyCompromise' } });

  const status = (await call(fx, 'GET', '/v1/status', { headers: bearer(factory) })).json();
  t.same(status.devices, { registered: 4, active: 1, revoked: 1 });
  t.match(status.expiring, { withinDays: 30, count: 0 });

  const created = await call(fx, 'POST', '/v1/tokens', { headers: bearer(admin), json: { role: 'operator', label: 'night shift' } });
  t.equal(created.status, 201);
  const newToken = created.json().token;
  t.equal((await call(fx, 'GET', '/v1/rotations/current', { headers: bearer(newToken) })).status, 200, 'the new token works at once');

  // Rotations: the request is published on the store for the KDC; progress reads the store.
  const heard: unknown[] = [];
  const stop = fx.fleet.store.on('rotate-requested', (e) => heard.push(e));
  t.teardown(stop);
  const rotate = await call(fx, 'POST', '/v1/rotations', { headers: bearer(operator), json: { switchAfterSeconds: 30 } });
  t.equal(rotate.status, 202);
  t.match(rotate.json(), { requested: true, requestedBy: /^api:/, switchAfterSeconds: 30, currentEpoch: null });
  t.match(heard, [{ type: 'rotate-requested', requestedBy: /^api:/, switchAfterSeconds: 30 }]);
  t.equal((await call(fx, 'POST', '/v1/rotations', { headers: bearer(operator) })).status, 202, 'a body is optional');
  t.same((await call(fx, 'GET', '/v1/rotations/current', { headers: bearer(operator) })).json(), { epoch: null, unacked: [] });
  await fx.fleet.store.createNextEpoch(0, Buffer.alloc(32, 7), Buffer.alloc(32, 1), new Date());
  await fx.fleet.store.nextGrants(['line-0009', 'line-0010'], 1);
  await fx.fleet.store.recordAcks([{ deviceId: 'line-0009', epoch: 1, grant: 1 }]);
  const progress = (await call(fx, 'GET', '/v1/rotations/current?unacked=10', { headers: bearer(operator) })).json();
  t.match(progress, { epoch: { epoch: 1, granted: 2, acked: 1 }, unacked: ['line-0010'] });

  t.same((await call(fx, 'GET', '/healthz')).json(), { status: 'ok' });
  t.same((await call(fx, 'GET', '/readyz')).json(), { status: 'ready' });
  const metrics = (await call(fx, 'GET', '/metrics')).body.toString();
  t.match(metrics, /fleetkey_provisioner_enrollments_total\{method="bundle",outcome="issued"\} 3/);
  t.match(metrics, /fleetkey_provisioner_revocations_total\{reason="keyCompromise"\} 1/);
  t.match(metrics, /fleetkey_provisioner_revocations_total\{reason="superseded"\} 1/);
  t.match(metrics, /fleetkey_provisioner_enroll_duration_seconds_bucket/);

});
