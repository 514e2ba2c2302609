import { createPrivateKey, type X509Certificate } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Test } from 'tap';
import { DeviceKeyring } from '../../protocol/device-keyring.js';
import { verifyGrant, type VerifiedGrant } from '../../protocol/grant-verify.js';
import { deviceTopics } from '../../protocol/topics.js';

const REQUEST_AGAIN_MS = 3000;

/** A grant as it reached the device: verified, and whether the keyring accepted it (else why not). */
export interface Receipt {
  readonly grant: VerifiedGrant;
  readonly refused?: string;
}

/**
 * A device on a broker in another process: asks for a key, verifies every grant against the fleet
 * root, applies the keyring's rules, acks what it accepts, and keeps every grant that reached it
 * (accepted or not), what did not verify, and how often its session ended, for the test to count.
 */
export class RekeyDevice {
  readonly receipts: Receipt[] = [];
  /** Codes of messages on the rekey topic that did not verify as a grant for this device. */
  readonly unverified: string[] = [];
  readonly keyring: DeviceKeyring;
  /** Times the session closed (the broker cut it, or the connection broke). */
  closes = 0;
  /** Rekey requests sent: one, and again every REQUEST_AGAIN_MS until a grant is accepted (docs/protocol.md). */
  requests = 0;
  #again: NodeJS.Timeout | undefined;
  #chain = Promise.resolve();
  #waiters: Array<{ match: (g: VerifiedGrant) => boolean; resolve: () => void }> = [];

  private constructor(readonly id: string, readonly client: MqttClient, private readonly root: X509Certificate, private readonly key: string) {
    this.keyring = new DeviceKeyring(id);
    client.on('message', (_topic, payload) => {
      this.#chain = this.#chain.then(() => this.#receive(payload.toString('utf8')));
    });
    client.on('close', () => {
      this.closes += 1;
      clearInterval(this.#again);
    });
  }

  /** Connects (CONNACK 0 or throws), subscribes to its rekey topic and asks for a key. */
  static async connect(t: Test, url: string, options: IClientOptions, root: X509Certificate): Promise<RekeyDevice> {
    const client = await mqtt.connectAsync(url, { ...options, clean: true, reconnectPeriod: 0 }, false);
    t.teardown(() => client.endAsync(true).catch(() => undefined));
    const id = String(options.clientId);
    await client.subscribeAsync(deviceTopics.rekey(id), { qos: 1 });
    const device = new RekeyDevice(id, client, root, String(options.key));
    device.#request();
    device.#again = setInterval(() => device.#request(), REQUEST_AGAIN_MS);
    return device;
  }

  #request(): void {
    this.requests += 1;
    this.client.publish(deviceTopics.rekeyRequest(this.id), this.keyring.newRequest(), { qos: 1 });
  }

  /** Accepted grants. */
  get accepted(): VerifiedGrant[] {
    return this.receipts.filter((r) => r.refused === undefined).map((r) => r.grant);
  }

  /** Resolves once a grant that matches has been accepted (already, or from now on). */
  next(match: (g: VerifiedGrant) => boolean, ms: number): Promise<void> {
    if (this.accepted.some(match)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id}: no matching grant within ${ms} ms`)), ms);
      this.#waiters.push({ match, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  async #receive(jws: string): Promise<void> {
    let grant: VerifiedGrant;
    try {
      grant = await verifyGrant(jws, { fleetRoot: this.root, expectedSubject: this.id, recipientKey: createPrivateKey(this.key), expect: 'device' });
    } catch (err) {
      this.unverified.push((err as { code?: string }).code ?? String(err));
      return;
    }
    try {
      const { ack } = this.keyring.accept(grant);
      clearInterval(this.#again);
      this.receipts.push({ grant });
      this.client.publish(deviceTopics.rekeyAck(this.id), ack, { qos: 1 });
    } catch (err) {
      this.receipts.push({ grant, refused: (err as { code?: string }).code ?? String(err) });
      return;
    }
    for (const w of this.#waiters.filter((w) => w.match(grant))) {
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}
