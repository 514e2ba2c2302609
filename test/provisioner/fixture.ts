import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import type { Test } from 'tap';
import { createProvisioner, type Provisioner, type ProvisionerOptionsInput } from '../../provisioner/index.js';
import { newEnrollmentToken } from '../../provisioner/registration.js';
import { newApiSecret, newApiTokenId } from '../../provisioner/rest-fleet.js';
import type { ApiRole, AuditEntry, Store } from '../../store/types.js';
import { testFleet, testLogger, type TestFleet } from '../helpers/fleet.js';

/** A provisioner on 127.0.0.1 (port 0) over a fresh test fleet, closed in teardown. */
export interface ProvisionerFixture {
  readonly fleet: TestFleet;
  readonly provisioner: Provisioner;
  readonly url: string;
  readonly port: number;
  /** An API token of `role`, made directly in the store. */
  apiToken(role: ApiRole): Promise<string>;
  /** Registers devices directly in the store; returns their tokens. */
  register(ids: readonly string[], ttlSeconds?: number): Promise<Map<string, string>>;
}

export async function startProvisioner(t: Test, overrides: Partial<ProvisionerOptionsInput> = {}): Promise<ProvisionerFixture> {
  const fleet = await testFleet(t, 'Provisioner Test');
  const provisioner = await createProvisioner({
    host: '127.0.0.1',
    port: 0,
    tls: () => ({ ca: fleet.caPems, ...fleet.server }),
    ca: fleet.ca,
    store: fleet.store,
    logger: testLogger(),
    ...overrides,
  });
  t.teardown(() => provisioner.close());
  const { port } = await provisioner.listen();
  return {
    fleet,
    provisioner,
    port,
    url: `https://127.0.0.1:${port}`,
    async apiToken(role) {
      const secret = newApiSecret();
      await fleet.store.createApiToken({ id: newApiTokenId(), secret, role }, 'test');
      return secret;
    },
    async register(ids, ttlSeconds = 3600) {
      const devices = ids.map((id) => ({ id, token: newEnrollmentToken(), tokenExpiresAt: new Date(Date.now() + ttlSeconds * 1000) }));
      await fleet.store.registerDevices(devices, 'test');
      return new Map(devices.map((d) => [d.id, d.token]));
    },
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  json(): any;
}

/** One HTTPS request trusting the test CA; an optional client certificate. */
export function call(
  fx: { url: string; fleet: TestFleet },
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer; cert?: string; key?: string; json?: unknown } = {},
): Promise<HttpAnswer> {
  const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
  const headers = { ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${fx.url}${path}`, {
      method, headers, ca: fx.fleet.caPems, agent: false, ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json: () => JSON.parse(data.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** Runs the real curl in a child (asynchronously: the server under test shares this event loop); never rejects on an exit code. */
export function curl(args: readonly string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--max-time', '30', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Everything a refusal must leave alone: devices, their certificates, revocations, API tokens aside. */
export async function stateOf(store: Store): Promise<string> {
  const devices = (await store.listDevices({ limit: 1000 })).devices;
  const certificates = await Promise.all(devices.map((d) => store.listCertificates(d.id)));
  const revocations = (await store.listRevocations()).map((r) => r.serial).sort();
  return JSON.stringify({ devices, certificates, revocations, counts: await store.countDevices() });
}

/** The audit log, oldest first. */
export async function auditOf(store: Store): Promise<AuditEntry[]> {
  return (await store.readAudit({ limit: 1000 })).entries;
}
