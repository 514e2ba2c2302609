import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Test } from 'tap';
import { createFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate, issueServerCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import type { FleetCa, IssuedCertificate, ServiceRole } from '../../certs/types.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { tempDir } from './tmp.js';

/** A client identity written to disk, as mosquitto_pub and MQTT.js load it. */
export interface ClientFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  readonly issued: IssuedCertificate;
}

/** A fleet for one test: CA in memory, a server certificate for 127.0.0.1, a file: store, a temp dir. */
export interface TestFleet {
  readonly ca: FleetCa;
  readonly dir: string;
  readonly store: Store;
  readonly caFile: string;
  readonly caPems: string[];
  readonly server: { cert: string; key: string };
  device(id: string, opts?: { lifetimeDays?: number; now?: Date }): ClientFiles;
  service(role: ServiceRole, name: string): ClientFiles;
  /** Records a certificate in the store, as the provisioner does at enrollment (or re-enrollment: `supersedes`). */
  record(subject: string, files: ClientFiles, supersedes?: string): Promise<void>;
}

export async function testFleet(t: Test, name = 'Test Fleet'): Promise<TestFleet> {
  const dir = tempDir(t);
  const ca = createFleetCa({ name });
  const caPems = [ca.root.certificate.pem, ca.issuing.certificate.pem];
  const caFile = join(dir, 'chain.pem');
  writeFileSync(caFile, caPems.join(''));
  const serverKey = generateDeviceKey('ec-p256');
  const serverCert = issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], publicKey: serverKey.publicKey });
  const store = await openStore(`file:${join(dir, 'store')}`);
  t.teardown(() => store.close());

  const write = (label: string, issued: IssuedCertificate, privateKey: ReturnType<typeof generateDeviceKey>['privateKey']): ClientFiles => {
    const cert = issued.pem + ca.issuing.certificate.pem;
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const certFile = join(dir, `${label}.pem`);
    const keyFile = join(dir, `${label}.key`);
    writeFileSync(certFile, cert);
    writeFileSync(keyFile, key, { mode: 0o600 });
    return { certFile, keyFile, cert, key, issued };
  };

  return {
    ca,
    dir,
    store,
    caFile,
    caPems,
    server: { cert: serverCert.pem + ca.issuing.certificate.pem, key: serverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    device(id, opts = {}) {
      const keys = generateDeviceKey('ec-p256');
      const issued = issueDeviceCertificate(ca, { deviceId: id, publicKey: keys.publicKey, ...opts });
      return write(`device-${id}-${issued.serial}`, issued, keys.privateKey);
    },
    service(role, serviceName) {
      const keys = generateDeviceKey('ec-p256');
      const issued = issueServiceCertificate(ca, { role, name: serviceName, publicKey: keys.publicKey });
      return write(`service-${role}-${issued.serial}`, issued, keys.privateKey);
    },
    async record(subject, files, supersedes) {
      const { issued } = files;
      const spki = issued.x509.publicKey.export({ type: 'spki', format: 'der' });
      await store.recordCertificate({ serial: issued.serial, subject, spki, notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint: issued.fingerprint, issuedAt: new Date(), supersedes });
    },
  };
}

/** A logger for tests: silent unless FLEETKEY_TEST_LOG is set. */
export function testLogger() {
  return pino({ level: process.env.FLEETKEY_TEST_LOG ?? 'silent' });
}
