import t from 'tap';
import { createFleetCa } from '../../certs/ca.js';
import { assembleCertsOnly, decodeCertsOnly, encodeCertsOnly } from '../../certs/cms.js';
import { base64Lines } from '../../provisioner/est-wire.js';
import { resolveProvisionerOptions } from '../../provisioner/options.js';
import { RateLimiter } from '../../provisioner/rate-limit.js';
import { registrationIds } from '../../provisioner/registration.js';
import { testLogger } from '../helpers/fleet.js';

t.test('RateLimiter: burst, refill, Retry-After, forgetting', async (t) => {
  let now = 0;
  const limiter = new RateLimiter({ perSecond: 2, burst: 3 }, () => now, 2);
  for (let i = 0; i < 3; i++) t.same(limiter.take('a'), { allowed: true }, `burst ${i + 1}`);
  t.same(limiter.take('a'), { allowed: false, retryAfterSeconds: 1 }, 'empty: retry after the time one token takes');
  now += 500;
  t.same(limiter.take('a'), { allowed: true }, 'one token back after 1/perSecond');
  t.same(limiter.take('b'), { allowed: true }, 'keys are independent');
  limiter.take('c');
  t.equal(limiter.size, 2, 'at most maxKeys buckets: the least recently used goes');
  now += 60_000;
  limiter.take('d');
  t.equal(limiter.size, 1, 'refilled buckets are swept');
  const slow = new RateLimiter({ perSecond: 1 / 60, burst: 1 }, () => now);
  slow.take('x');
  t.same(slow.take('x'), { allowed: false, retryAfterSeconds: 60 });
});

t.test('fail/ provisioner options are validated', async (t) => {
  const base = { tls: () => ({ ca: [], cert: '', key: '' }), ca: createFleetCa({ name: 'Options' }), store: {} as never, logger: testLogger() };
  t.ok(Object.isFrozen(resolveProvisionerOptions(base)), 'frozen');
  t.equal(resolveProvisionerOptions(base).port, 8443, 'documented default');
  const bad: Record<string, unknown>[] = [
    { port: 70000 }, { port: 1.5 }, { bodyLimitBytes: 10 }, { enrollmentTokenTtlSeconds: 0 }, { deviceLifetimeDays: 0 },
    { ipRateLimit: { perSecond: 0, burst: 1 } }, { deviceRateLimit: { perSecond: 1, burst: 0 } }, { crlNextUpdateHours: 0 }, { issuingWorkers: -1 }, { issuingWorkers: 1.5 }, { ca: undefined },
  ];
  for (const override of bad) {
    t.throws(() => resolveProvisionerOptions({ ...base, ...override } as never), { code: 'CONFIG_INVALID' }, JSON.stringify(override));
  }
});

t.test('registration ids', async (t) => {
  t.same(registrationIds({ id: 'a' }), ['a']);
  t.same(registrationIds({ ids: ['a', 'b'] }), ['a', 'b']);
  t.same(registrationIds({ count: 2, prefix: 'p-' }), ['p-0001', 'p-0002']);
  t.same(registrationIds({ count: 2, prefix: 'p-', start: 99999 }), ['p-099999', 'p-100000'], 'one width for the batch, from its last number');
  t.throws(() => registrationIds({}), { code: 'REQUEST_INVALID' });
});

t.test('assembleCertsOnly is byte-identical to the pkijs encoder', async (t) => {
  const ca = createFleetCa({ name: 'CMS' });
  const ders = [ca.issuing.certificate.der, ca.root.certificate.der];
  t.same(assembleCertsOnly(ders), encodeCertsOnly(ders));
  t.same(assembleCertsOnly([ders[0]!]), encodeCertsOnly([ders[0]!]));
  t.same(decodeCertsOnly(assembleCertsOnly(ders)), ders, 'and reads back in order');
  t.throws(() => assembleCertsOnly([]), { code: 'CMS_CERTIFICATE_INVALID' });
  t.throws(() => assembleCertsOnly([Buffer.from('x')]), { code: 'CMS_CERTIFICATE_INVALID' });
});

t.test('EST base64 bodies: RFC 2045 lines of at most 64 characters, CRLF after each', async (t) => {
  for (const size of [0, 1, 47, 48, 49, 500, 1234]) {
    const der = Buffer.alloc(size, 0x5a);
    const body = base64Lines(der);
    const lines = body.split('\r\n');
    t.equal(lines.pop(), '', `${size} bytes: ends with CRLF or is empty`);
    t.ok(lines.every((line) => line.length > 0 && line.length <= 64), `${size} bytes: line lengths`);
    t.ok(lines.slice(0, -1).every((line) => line.length === 64), `${size} bytes: only the last line is short`);
    t.same(Buffer.from(lines.join(''), 'base64'), der);
  }
});
