import t from 'tap';
import { randomBytes } from 'node:crypto';
import { fromPem, pemBlocks, pemHeader, toPem } from '../../certs/pem.js';
import { catalogue } from '../../errors/index.js';
import { openssl } from '../helpers/openssl.js';

t.test('ok/toPem wraps at 64 columns and fromPem reads it back', async (t) => {
  for (const size of [0, 1, 47, 48, 49, 1000]) {
    const der = randomBytes(size);
    const pem = toPem('TEST', der);
    t.ok(pem.split('\n').every((line) => line.length <= 64), `${size}: lines ≤ 64`);
    t.ok(size === 0 || fromPem(pem, 'TEST').equals(der), `${size}: round trip`);
  }
});

t.test('ok/openssl reads our PEM and we read openssl PEM', async (t) => {
  const key = openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']).stdout;
  const der = fromPem(key, 'PRIVATE KEY');
  const back = openssl(['pkey', '-outform', 'PEM'], toPem('PRIVATE KEY', der));
  t.equal(back.status, 0, back.stderr);
  t.equal(back.stdout, key);
});

t.test('ok/blocks, labels, explanatory text and CRLF (RFC 7468 §2, §3)', async (t) => {
  const a = randomBytes(20);
  const b = randomBytes(30);
  const text = `Subject: something\r\n${toPem('CERTIFICATE', a).replace(/\n/g, '\r\n')}between\n${toPem('X509 CRL', b)}${toPem('CERTIFICATE', b)}`;
  t.same(pemBlocks(text).map((x) => x.toString('hex')), [a, b, b].map((x) => x.toString('hex')));
  t.same(pemBlocks(text, 'CERTIFICATE').map((x) => x.toString('hex')), [a, b].map((x) => x.toString('hex')));
  t.ok(fromPem(text).equals(a));
  t.ok(fromPem(text, 'X509 CRL').equals(b));
  t.same(pemBlocks('no blocks here'), []);
});

const junk: Array<[string, string, string | undefined]> = [
  ['fail/no block at all', 'hello', undefined],
  ['fail/no block of that label', toPem('CERTIFICATE', randomBytes(8)), 'PRIVATE KEY'],
  ['fail/mismatched labels', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n', undefined],
  ['fail/not base64', '-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', undefined],
  ['fail/base64 without padding', '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n', undefined],
  ['fail/RFC 1421 headers', `${pemHeader('RSA PRIVATE KEY')}\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n`, undefined],
  ['fail/empty body', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n', undefined],
];
for (const [name, pem, label] of junk) {
  t.test(name, async (t) => {
    t.throws(() => fromPem(pem, label), { code: 'PEM_INVALID', message: catalogue.PEM_INVALID.message, status: 400 });
  });
}
