import t from 'tap';
import { runCli } from '../helpers/spawn-ts.js';
import { runSim, skewed, startUp, tokensFiles } from './clock-skew.js';

// The services 10 minutes ahead (`fleetkey up` under libfaketime, its fleet made at that time), the
// devices at the right time: the fleet's brand-new certificates are not valid yet for anyone else.
// The device refuses the provisioner's certificate (CERT_NOT_YET_VALID), its report says which clock
// to check, and its token stays unused. (Within the leeway: process-clock-skew-service.test.ts.)

const N = 3;

t.test('services 10 minutes ahead: the device refuses the provisioner\'s certificate and names the clock; nothing enrolled', async (t) => {
  const up = await startUp(t, { env: skewed('+10m') });
  // The operator registers the devices on the services' host, with its clock.
  const [tokens] = await tokensFiles(t, up.dir, ['f-'], N, skewed('+10m'));
  const { code, report } = await runSim(t, ['--devices', String(N), '--tokens', tokens!, '--broker', up.mqtts, '--dir', up.dir, '--duration', '1', '--ready-timeout', '10']).done;
  t.equal(code, 1, 'sim exits 1');
  t.same(report.failed, { CERT_NOT_YET_VALID: N }, 'every device ended with CERT_NOT_YET_VALID');
  t.match(report.stages, { enrolled: 0, connected: 0, keyed: 0 }, 'nothing enrolled, nothing connected');
  t.match(report.clock.notes.join('\n'), /the provisioner's certificate is not valid yet by this device's clock: check this device's clock \(or the issuer's\)/, 'the report names the clock');
  const shown = await runCli(t, ['devices', 'show', 'f-dev0', '--dir', up.dir, '--json'], skewed('+10m'));
  t.match(JSON.parse(shown.stdout), { status: 'registered' }, 'the device is still only registered (its token unused)');
});
