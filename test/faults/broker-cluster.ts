import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { loadFleetCa } from '../../certs/ca-files.js';
import { issueDeviceCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import type { ServiceRole } from '../../certs/types.js';
import { readCaPems } from '../../cli/data-dir.js';
import type { Store } from '../../store/types.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

/** A broker process: its MQTT URL, whether it is still running, and its JSON log lines. */
export interface BrokerProcess {
  readonly url: string;
  readonly logs: Record<string, unknown>[];
  readonly pid: number;
  exitedCount(): number;
}

/** A data dir made by `fleetkey init`, and certificates issued by its CA as enrollment would. */
export interface FaultFleet {
  readonly dir: string;
  /** `args` are added to the command line (a repeated flag takes the last value). */
  broker(storeUrl: string, args?: string[]): Promise<BrokerProcess>;
  /** A device registered and its certificate recorded in `store`; the options MQTT.js connects with. */
  device(store: Store, id: string): Promise<IClientOptions>;
  service(role: ServiceRole, name: string): IClientOptions;
}

export async function faultFleet(t: Test): Promise<FaultFleet> {
  const dir = join(tempDir(t), 'data');
  const init = spawnTs(t, 'cli/main.ts', ['init', '--dir', dir, '--dns', 'localhost', '--ip', '127.0.0.1']);
  const { code } = await exited(init);
  if (code !== 0) throw new Error(`fleetkey init exited ${code}`);
  const ca = loadFleetCa(join(dir, 'ca'));
  const caPems = readCaPems(dir);
  const options = (clientId: string, issued: { pem: string }, key: ReturnType<typeof generateDeviceKey>['privateKey']): IClientOptions => ({
    protocolVersion: 4, clientId, ca: caPems, cert: issued.pem + ca.issuing.certificate.pem,
    key: key.export({ type: 'pkcs8', format: 'pem' }).toString(), rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000, keepalive: 10,
  });
  return {
    dir,
    async broker(storeUrl, args = []) {
      const child = spawnTs(t, 'cli/main.ts', ['broker', '--dir', dir, '--store', storeUrl, '--json', '--port', '0', '--metrics-port', '-1', '--log-level', 'info', ...args]);
      let exits = 0;
      void exited(child).then(() => (exits += 1));
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const logs: Record<string, unknown>[] = [];
      const url = await new Promise<string>((resolve, reject) => {
        onLine(child, (line) => {
          try {
            const parsed = JSON.parse(line) as Record<string, unknown>;
            logs.push(parsed);
            if (parsed.service === 'broker') resolve(String(parsed.mqtts));
          } catch {
            // not JSON
          }
        });
        void exited(child).then(({ code: c }) => reject(new Error(`broker exited (${c}): ${stderr}`)));
        setTimeout(() => reject(new Error(`broker did not start within 30 s: ${stderr}`)), 30_000).unref();
      });
      return { url, logs, pid: child.pid!, exitedCount: () => exits };
    },
    async device(store, id) {
      const keys = generateDeviceKey('ec-p256');
      const issued = issueDeviceCertificate(ca, { deviceId: id, publicKey: keys.publicKey });
      await store.registerDevices([{ id, token: 't'.repeat(32), tokenExpiresAt: new Date(Date.now() + 3600_000) }], 'test');
      const spki = issued.x509.publicKey.export({ type: 'spki', format: 'der' });
      await store.recordCertificate({ serial: issued.serial, subject: id, spki, notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint: issued.fingerprint, issuedAt: new Date() });
      return options(id, issued, keys.privateKey);
    },
    service(role, name) {
      const keys = generateDeviceKey('ec-p256');
      return options(`${role}-${name}`, issueServiceCertificate(ca, { role, name, publicKey: keys.publicKey }), keys.privateKey);
    },
  };
}

/** CONNECT once: the CONNACK return code (0 = admitted, the client kept open) and how long it took. */
export async function tryConnect(t: Test, url: string, opts: IClientOptions): Promise<{ code: number; ms: number; client?: MqttClient }> {
  const started = Date.now();
  try {
    const client = await mqtt.connectAsync(url, opts, false);
    t.teardown(() => client.endAsync(true).catch(() => undefined));
    return { code: 0, ms: Date.now() - started, client };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { code: typeof code === 'number' ? code : -1, ms: Date.now() - started };
  }
}

export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
