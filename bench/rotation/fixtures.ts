/**
 * One rotation bench scenario's identities, made by our own certs/: a fleet CA, the broker's server
 * certificate (files in `dir`, as the broker bench's child reads them), the KDC's service certificate, and N devices each with its own P-256 key (grants are
 * wrapped to each device's key, so keys are not shared). Devices are registered and their certificates
 * recorded in the store, as the provisioner does; the simulator child reads them from one JSON file.
 */
import { writeFileSync } from 'node:fs';
import { FILES } from '../broker/fixtures.js';
import { join } from 'node:path';
import { createFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate, issueServerCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import type { FleetCa } from '../../certs/types.js';
import type { Store } from '../../store/types.js';

export interface SimFixtures {
  readonly ca: string[];
  readonly devices: Array<{ id: string; cert: string; key: string }>;
}

export interface RotationFixtures {
  readonly ca: FleetCa;
  readonly trust: string[];
  readonly kdc: { cert: string; key: string };
  /** The simulator's input file. */
  readonly simFile: string;
  readonly issueSeconds: number;
}

const pkcs8 = (key: ReturnType<typeof generateDeviceKey>['privateKey']) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

export const deviceId = (i: number) => `rot-${String(i).padStart(5, '0')}`;

export async function createRotationFixtures(dir: string, devices: number, store: Store): Promise<RotationFixtures> {
  const ca = createFleetCa({ name: 'Rotation Bench' });
  const issuing = ca.issuing.certificate.pem;
  const trust = [ca.root.certificate.pem, issuing];
  const serverKey = generateDeviceKey('ec-p256');
  const server = issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], publicKey: serverKey.publicKey });
  // The broker child (bench/broker/run-fleetkey.ts) reads these.
  writeFileSync(join(dir, FILES.root), trust[0]!);
  writeFileSync(join(dir, FILES.issuing), issuing);
  writeFileSync(join(dir, FILES.chain), trust.join(''));
  writeFileSync(join(dir, FILES.serverCert), server.pem + issuing);
  writeFileSync(join(dir, FILES.serverKey), pkcs8(serverKey.privateKey), { mode: 0o600 });
  const kdcKey = generateDeviceKey('ec-p256');
  const kdc = issueServiceCertificate(ca, { role: 'kdc', name: 'bench', publicKey: kdcKey.publicKey });

  const started = process.hrtime.bigint();
  const sim: SimFixtures = { ca: trust, devices: [] };
  const records = [];
  for (let i = 0; i < devices; i++) {
    const keys = generateDeviceKey('ec-p256');
    const issued = issueDeviceCertificate(ca, { deviceId: deviceId(i), publicKey: keys.publicKey });
    sim.devices.push({ id: deviceId(i), cert: issued.pem + issuing, key: pkcs8(keys.privateKey) });
    records.push({
      serial: issued.serial, subject: deviceId(i), spki: keys.publicKey.export({ type: 'spki', format: 'der' }),
      notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint: issued.fingerprint, issuedAt: new Date(),
    });
  }
  const issueSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const expires = new Date(Date.now() + 24 * 3600_000);
  for (let i = 0; i < devices; i += 10_000) {
    await store.registerDevices(records.slice(i, i + 10_000).map((r) => ({ id: r.subject, token: `bench-token-${r.subject}-0000`, tokenExpiresAt: expires })), 'bench');
  }
  for (let i = 0; i < records.length; i += 1000) await Promise.all(records.slice(i, i + 1000).map((r) => store.recordCertificate(r)));
  const simFile = join(dir, 'sim.json');
  writeFileSync(simFile, JSON.stringify(sim));
  return {
    ca, trust, simFile, issueSeconds,
    kdc: { cert: kdc.pem + issuing, key: pkcs8(kdcKey.privateKey) },
  };
}
