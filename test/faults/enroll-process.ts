import { randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Test } from 'tap';
import { decodeCertsOnlyBase64 } from '../../certs/cms.js';
import { createCsr } from '../../certs/csr-build.js';
import { initDataDir } from '../../certs/init.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { toPem } from '../../certs/pem.js';
import { readCaPems } from '../../cli/data-dir.js';
import { openStore } from '../../store/index.js';
import { certificateInUse } from '../../store/succession.js';
import type { Store } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { exited } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { startService, type ServiceProcess } from './store-services-process.js';

/**
 * What the process-enroll-* fault tests share: a data dir, a Redis store (opened here too, to read
 * what the provisioner recorded), provisioner children (optionally armed with FLEETKEY_CRASH_AT,
 * provisioner/crash-points.ts) and the three first-enrollment calls, answers parsed.
 */
export interface EnrollRig {
  readonly dir: string;
  readonly ca: string[];
  readonly store: Store;
  readonly storeUrl: string;
  /** The bootstrap admin API token (it may ask for factory bundles). */
  adminToken(): string;
  provisioner(crashAt?: string, port?: number): ServiceProcess;
  /** Registers devices in the store; returns id → token. */
  register(ids: readonly string[]): Promise<Map<string, string>>;
}

export async function enrollRig(t: Test): Promise<EnrollRig> {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Enroll Faults' });
  const store = await openStore(redis.url);
  t.teardown(() => store.close());
  return {
    dir,
    ca: readCaPems(dir),
    store,
    storeUrl: redis.url,
    adminToken: () => readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim(),
    provisioner: (crashAt, port = 0) => startService(t, [
      'provisioner', '--port', String(port), '--dir', dir, '--store', redis.url, '--log-level', 'info',
      '--device-burst', '1000', '--ip-burst', '100000', '--ip-rate', '100000',
    ], { ...process.env, ...(crashAt === undefined ? {} : { FLEETKEY_CRASH_AT: crashAt }) }),
    async register(ids) {
      const devices = ids.map((id) => ({ id, token: randomBytes(24).toString('base64url'), tokenExpiresAt: new Date(Date.now() + 3600_000) }));
      await store.registerDevices(devices, 'test');
      return new Map(devices.map((d) => [d.id, d.token]));
    },
  };
}

/** The provisioner's URL once it listens. */
export async function urlOf(p: ServiceProcess): Promise<string> {
  return String((await p.started).url);
}

/** Resolves once the child was SIGKILLed (by itself at a crash point, or by the test). */
export async function killed(p: ServiceProcess): Promise<boolean> {
  return (await exited(p.child)).signal === 'SIGKILL';
}

export interface Answer {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType: string;
}

export interface CallOptions {
  readonly cert?: string;
  readonly key?: string;
  /** Called when the answer's headers arrive; the answer is then dropped unread (a lost answer). */
  readonly onHeaders?: () => void;
}

/** One HTTPS request on a fresh connection; rejects when the connection dies first (or is cut by onHeaders). */
export function call(url: string, ca: string[], method: string, path: string, headers: Record<string, string>, body: string, opts: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, ca, headers, agent: false, ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}) }, (res) => {
      if (opts.onHeaders !== undefined) {
        opts.onHeaders();
        req.destroy();
        reject(new Error('answer dropped after its headers'));
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export type EnrollMethod = 'simpleenroll' | 'serverkeygen' | 'bundle';

/** A device's side of a first enrollment: its CSR key (simpleenroll keeps it across retries). */
export interface Client {
  readonly id: string;
  readonly token: string;
  readonly keys: { privateKey: KeyObject; publicKey: KeyObject };
}

export function newClient(id: string, token: string): Client {
  return { id, token, keys: generateDeviceKey() };
}

/** What a successful enrollment gave the client: its certificate and the key that goes with it. */
export interface Received {
  readonly der: Buffer;
  readonly serial: string;
  readonly keyPem: string;
}

/** One first-enrollment request of `method`; resolves with what the client received, rejects on a non-200 or a dead connection. */
export async function enroll(url: string, ca: string[], method: EnrollMethod, client: Client, adminToken: string, opts: CallOptions = {}): Promise<Received> {
  const keyPem = client.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  if (method === 'bundle') {
    const answer = await call(url, ca, 'POST', `/v1/devices/${client.id}/bundle`, { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      JSON.stringify({ token: client.token, password: 'long enough password' }), opts);
    if (answer.status !== 200) throw new Error(`bundle ${client.id}: HTTP ${answer.status} ${answer.body.toString()}`);
    const json = JSON.parse(answer.body.toString()) as { certificate: string; privateKey: string };
    const x509 = new X509Certificate(json.certificate);
    return { der: x509.raw, serial: x509.serialNumber.toUpperCase(), keyPem: json.privateKey };
  }
  const basic = `Basic ${Buffer.from(`${client.id}:${client.token}`).toString('base64')}`;
  const answer = await call(url, ca, 'POST', `/.well-known/est/${method}`, { authorization: basic, 'content-type': 'application/pkcs10' },
    createCsr(client.keys, client.id).toString('base64'), opts);
  if (answer.status !== 200) throw new Error(`${method} ${client.id}: HTTP ${answer.status} ${answer.body.toString()}`);
  if (method === 'simpleenroll') return received(decodeCertsOnlyBase64(answer.body)[0]!, keyPem);
  const parts = multipart(answer);
  return received(decodeCertsOnlyBase64(parts.get('application/pkcs7-mime')!)[0]!, toPem('PRIVATE KEY', Buffer.from(parts.get('application/pkcs8')!, 'base64')));
}

function received(der: Buffer, keyPem: string): Received {
  return { der, serial: new X509Certificate(der).serialNumber.toUpperCase(), keyPem };
}

/** RFC 7030 §4.4.2 multipart/mixed: media type (without parameters) → base64 body. */
function multipart(answer: Answer): Map<string, string> {
  const boundary = /boundary=([^;\s]+)/.exec(answer.contentType)?.[1];
  const out = new Map<string, string>();
  for (const part of answer.body.toString().split(`--${boundary}`)) {
    const [head, body] = part.split('\r\n\r\n');
    const type = /content-type: ([^;\r\n]+)/i.exec(head ?? '')?.[1];
    if (type !== undefined && body !== undefined) out.set(type.trim(), body.replace(/\s+/g, ''));
  }
  return out;
}

/**
 * A certificate in the device's hands is working: simplereenroll over mutual TLS with it succeeds
 * (its first use, which revokes what it supersedes), and it is the device's certificate in use then.
 */
export async function proveWorking(url: string, ca: string[], rig: EnrollRig, id: string, got: Received): Promise<boolean> {
  const keys = generateDeviceKey();
  const answer = await call(url, ca, 'POST', '/.well-known/est/simplereenroll', { 'content-type': 'application/pkcs10' },
    createCsr(keys, id).toString('base64'), { cert: toPem('CERTIFICATE', got.der) + ca.join(''), key: got.keyPem });
  if (answer.status !== 200) return false;
  const revoked = new Set((await rig.store.listRevocations()).map((r) => r.serial));
  const inUse = certificateInUse(await rig.store.listCertificates(id), (s) => revoked.has(s), Date.now());
  return inUse?.serial === got.serial;
}
