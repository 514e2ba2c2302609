import t from 'tap';
import type { Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { createFleetCa } from '../../certs/ca.js';
import { createCsr } from '../../certs/csr-build.js';
import { parseCsr } from '../../certs/csr.js';
import { IssuingWorkers } from '../../certs/issuing-workers.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { isFleetkeyError } from '../../errors/index.js';

const ca = createFleetCa({ name: 'Issuing Workers Test' });

function checkLeaf(t: Test, der: Buffer, deviceId: string, spki: Buffer): void {
  const x509 = new X509Certificate(der);
  t.ok(x509.verify(ca.issuing.certificate.x509.publicKey), 'signed by the issuing CA');
  t.equal(x509.subject, `CN=${deviceId}`);
  t.equal(x509.subjectAltName, `URI:urn:fleetkey:device:${deviceId}`);
  t.ok(x509.publicKey.export({ type: 'spki', format: 'der' }).equals(spki), 'certifies the given key');
}

for (const size of [1, 0]) {
  const label = size === 0 ? 'on the calling thread' : 'on a worker';
  t.test(`ok/${label}: a CSR in DER, base64 and PEM; and a key made here`, async (t) => {
    const workers = new IssuingWorkers(ca, size);
    t.teardown(() => workers.close());
    const keys = generateDeviceKey('ec-p256');
    const der = createCsr(keys, 'dev-w1');
    const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
    for (const input of [der, der.toString('base64'), Buffer.from(der.toString('base64'))]) {
      const { issued, spki: certified } = await workers.fromCsr(input, 'dev-w1', 30);
      t.ok(certified.equals(spki), 'the SPKI comes back as the certificate carries it');
      checkLeaf(t, issued.der, 'dev-w1', spki);
      t.equal(issued.serial, issued.x509.serialNumber.toUpperCase(), 'serial as X509Certificate prints it');
      t.equal(issued.notAfter.getTime() - issued.notBefore.getTime(), 30 * 86_400_000 + 5 * 60_000, 'lifetime asked for, with the backdate');
    }
    const made = generateDeviceKey('ec-p384');
    const madeSpki = made.publicKey.export({ type: 'spki', format: 'der' });
    const { issued } = await workers.forKey(madeSpki, 'ec-p384', 'dev-w2', 90);
    checkLeaf(t, issued.der, 'dev-w2', madeSpki);
  });

  t.test(`fail/${label}: the same refusals as parseCsr, and nothing issued`, async (t) => {
    const workers = new IssuingWorkers(ca, size);
    t.teardown(() => workers.close());
    const good = createCsr(generateDeviceKey(), 'dev-w3');
    const tampered = Buffer.from(good);
    tampered[tampered.length - 5]! ^= 0x01;
    const cases: Array<[string, Buffer | string, string]> = [
      ['not base64', 'not a csr!', 'CSR_ENCODING_INVALID'],
      ['truncated DER', good.subarray(0, 40), 'CSR_MALFORMED'],
      ['bad signature', tampered, 'CSR_SIGNATURE_INVALID'],
      ['CN of another device', good, 'CSR_CN_MISMATCH'],
      ['oversized', 'A'.repeat(20_000), 'CSR_TOO_LARGE'],
    ];
    for (const [name, input, code] of cases) {
      const deviceId = name === 'CN of another device' ? 'dev-other' : 'dev-w3';
      const err = await workers.fromCsr(input, deviceId, 30).then(() => undefined, (e: unknown) => e);
      t.ok(isFleetkeyError(err, code as never), `${name}: ${code}`);
      let expected: unknown;
      try {
        parseCsr(input);
      } catch (e) {
        expected = e;
      }
      if (expected !== undefined) t.equal((err as Error).message, (expected as Error).message, `${name}: same message as on this thread`);
    }
    const bad = await workers.forKey(Buffer.from('3000', 'hex'), 'ec-p256', 'bad id!', 30).then(() => undefined, (e: unknown) => e);
    t.ok(isFleetkeyError(bad, 'DEVICE_ID_INVALID'), 'an invalid device id is refused');
  });
}

t.test('fail/after close, requests are refused', async (t) => {
  const workers = new IssuingWorkers(ca, 1);
  await workers.close();
  const err = await workers.fromCsr(createCsr(generateDeviceKey(), 'dev-w4'), 'dev-w4', 30).then(() => undefined, (e: unknown) => e);
  t.ok(isFleetkeyError(err, 'INTERNAL'));
});

t.test('ok/requests spread over two workers all come back, each to its caller', async (t) => {
  const workers = new IssuingWorkers(ca, 2);
  t.teardown(() => workers.close());
  const ids = Array.from({ length: 40 }, (_, i) => `dev-s${i}`);
  const results = await Promise.all(ids.map((id) => workers.fromCsr(createCsr(generateDeviceKey(), id), id, 30)));
  t.same(results.map((r) => r.issued.x509.subject), ids.map((id) => `CN=${id}`));
  t.equal(new Set(results.map((r) => r.issued.serial)).size, ids.length, 'serials unique');
});

t.test('ok/answers that come back together in one batch each reach their own caller, refusals included', async (t) => {
  const workers = new IssuingWorkers(ca, 1);
  t.teardown(() => workers.close());
  const ids = Array.from({ length: 24 }, (_, i) => `dev-b${i}`);
  const csrs = ids.map((id) => createCsr(generateDeviceKey(), id));
  // Every third request names another device than its CSR does: refused, between accepted ones.
  const settled = await Promise.allSettled(ids.map((id, i) => workers.fromCsr(csrs[i]!, i % 3 === 2 ? `${id}-other` : id, 30)));
  settled.forEach((result, i) => {
    if (i % 3 === 2) {
      t.ok(result.status === 'rejected' && isFleetkeyError(result.reason, 'CSR_CN_MISMATCH'), `${ids[i]}: refused`);
    } else {
      t.ok(result.status === 'fulfilled' && result.value.issued.x509.subject === `CN=${ids[i]}`, `${ids[i]}: its own certificate`);
    }
  });
});
