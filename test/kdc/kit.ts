import { createPrivateKey, randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { createKdc, type Kdc, type KdcOptionsInput } from '../../kdc/index.js';
import { DeviceKeyring } from '../../protocol/device-keyring.js';
import { verifyGrant, type VerifiedGrant } from '../../protocol/grant-verify.js';
import { deviceTopics } from '../../protocol/topics.js';
import type { CertificateRecord, Store } from '../../store/types.js';
import type { RunningBroker } from '../helpers/broker.js';
import { testLogger, type ClientFiles, type TestFleet } from '../helpers/fleet.js';

/** What the KDC tests share: the fleet, its broker, the KDC identity and the KEK. */
export interface KdcRig {
  readonly fleet: TestFleet;
  readonly broker: RunningBroker;
  readonly kdcFiles: ClientFiles;
  readonly kek: Buffer;
}

export function rig(fleet: TestFleet, broker: RunningBroker): KdcRig {
  return { fleet, broker, kdcFiles: fleet.service('kdc', '1'), kek: randomBytes(32) };
}

export function kdcOptions(r: KdcRig, extra: Partial<KdcOptionsInput> = {}): KdcOptionsInput {
  return {
    broker: { url: r.broker.url, ca: r.fleet.caPems, cert: r.kdcFiles.cert, key: r.kdcFiles.key },
    kek: r.kek,
    store: r.fleet.store,
    logger: testLogger(),
    workers: 0,
    requestBatchMs: 2,
    requestIntervalMs: 0,
    switchAfterSeconds: 1,
    ...extra,
  };
}

export async function startKdc(t: Test, r: KdcRig, extra: Partial<KdcOptionsInput> = {}): Promise<Kdc> {
  const kdc = await createKdc(kdcOptions(r, extra));
  t.teardown(() => kdc.close());
  await kdc.ready;
  return kdc;
}

/** Registers, enrolls (records its certificate) and returns a device identity. */
export async function enrolledDevice(fleet: TestFleet, id: string, store: Store = fleet.store): Promise<ClientFiles> {
  const files = fleet.device(id);
  const token = randomBytes(24).toString('base64url');
  await store.registerDevices([{ id, token, tokenExpiresAt: new Date(Date.now() + 3600_000) }], 'test');
  await store.enrollDevice(id, token, certificateRecord(id, files));
  return files;
}

export function certificateRecord(subject: string, files: ClientFiles): CertificateRecord {
  const { issued } = files;
  return {
    serial: issued.serial, subject, spki: issued.x509.publicKey.export({ type: 'spki', format: 'der' }),
    notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint: issued.fingerprint, issuedAt: new Date(),
  };
}

/**
 * A device running the protocol/ device side over MQTT.js: verifies every grant (full chain), applies
 * the keyring's acceptance rules, acks what it accepts, seals telemetry with the key in use.
 */
export class SimDevice {
  /** Accepted grants. */
  readonly grants: VerifiedGrant[] = [];
  /** Every grant that verified, accepted or not. */
  readonly received: VerifiedGrant[] = [];
  readonly refusals: string[] = [];
  keyring: DeviceKeyring;
  #waiters: Array<{ match: (g: VerifiedGrant) => boolean; resolve: (g: VerifiedGrant) => void }> = [];
  #chain = Promise.resolve();

  private constructor(readonly id: string, readonly client: MqttClient, private readonly files: ClientFiles, private readonly fleet: TestFleet) {
    this.keyring = new DeviceKeyring(id);
    client.on('message', (_topic, payload) => {
      this.#chain = this.#chain.then(() => this.#onGrant(payload.toString('utf8')));
    });
  }

  static async connect(t: Test, r: KdcRig, id: string, files: ClientFiles, opts: { request?: boolean } = {}): Promise<SimDevice> {
    const client = await mqtt.connectAsync(r.broker.url, {
      protocolVersion: 4, clientId: id, clean: true, keepalive: 30, reconnectPeriod: 0, connectTimeout: 10_000,
      ca: r.fleet.caPems, cert: files.cert, key: files.key, rejectUnauthorized: true,
    }, false);
    t.teardown(() => client.endAsync(true).catch(() => undefined));
    await client.subscribeAsync(deviceTopics.rekey(id), { qos: 1 });
    const device = new SimDevice(id, client, files, r.fleet);
    if (opts.request !== false) device.request();
    return device;
  }

  request(): void {
    this.client.publish(deviceTopics.rekeyRequest(this.id), this.keyring.newRequest(), { qos: 1 });
  }

  /** Resolves with the first accepted grant (from now on, or already accepted) that matches. */
  next(match: (g: VerifiedGrant) => boolean = () => true, ms = 15_000): Promise<VerifiedGrant> {
    const had = this.grants.find(match);
    if (had) return Promise.resolve(had);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id}: no matching grant within ${ms} ms`)), ms);
      this.#waiters.push({ match, resolve: (g) => { clearTimeout(timer); resolve(g); } });
    });
  }

  seal(text: string): void {
    this.client.publish(deviceTopics.telemetry(this.id), this.keyring.sealNext(Buffer.from(text)), { qos: 1 });
  }

  async #onGrant(jws: string): Promise<void> {
    try {
      const v = await verifyGrant(jws, { fleetRoot: this.fleet.ca.root.certificate.x509, expectedSubject: this.id, recipientKey: createPrivateKey(this.files.key), expect: 'device' });
      this.received.push(v);
      const accepted = this.keyring.accept(v);
      this.grants.push(v);
      this.client.publish(deviceTopics.rekeyAck(this.id), accepted.ack, { qos: 1 });
      for (const w of this.#waiters.filter((w) => w.match(v))) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(v);
      }
    } catch (err) {
      this.refusals.push((err as { code?: string }).code ?? String(err));
    }
  }
}

/** Polls `check` every 20 ms until it is true; fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
