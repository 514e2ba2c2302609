import type { MqttClient } from 'mqtt';
import { isFleetkeyError } from '../errors/index.js';
import { DeviceKeyring } from '../protocol/device-keyring.js';
import { GrantTimeError, verifyGrant } from '../protocol/grant-verify.js';
import { deviceTopics } from '../protocol/topics.js';
import type { SimEnv } from './env.js';
import type { DeviceIdentity } from './identity.js';
import type { Scheduled } from './scheduler.js';

/** What the rekey flow needs from its device: the connection and certificate of the moment. */
export interface RekeyHost {
  readonly id: string;
  client(): MqttClient | undefined;
  identity(): DeviceIdentity | undefined;
  /** A key was installed for the first time. */
  firstKey(): void;
}

/**
 * The device side of the rekey flow (docs/protocol.md §3, §5, §7) over one device's connections:
 * request with a fresh nonce (again if no answer comes in time), verify every grant against the
 * fleet root with the key of the current certificate, apply the keyring's acceptance rules, ack.
 * Grants are handled one at a time, in arrival order. A refused grant changes nothing; it is counted.
 */
export class Rekey {
  readonly keyring: DeviceKeyring;
  #keyed = false;
  #queue: Promise<void> = Promise.resolve();
  #wait: Scheduled | undefined;
  /** Requests in a row that got no answer: each waits twice as long (up to 8x), so an overloaded KDC is not flooded. */
  #misses = 0;

  constructor(private readonly env: SimEnv, private readonly host: RekeyHost) {
    this.keyring = new DeviceKeyring(host.id);
  }

  /** A key has been installed (it stays installed across reconnects, as on a device that did not restart). */
  get keyed(): boolean {
    return this.#keyed;
  }

  /** Publishes a request with a fresh nonce; asks again after grantTimeoutMs · 2^misses (+ jitter) without an answer. */
  request(): void {
    const client = this.host.client();
    if (!client) return;
    this.env.counters.requests++;
    client.publish(deviceTopics.rekeyRequest(this.host.id), this.keyring.newRequest(), { qos: 1 });
    this.env.observe?.({ type: 'requested', deviceId: this.host.id, nonce: this.keyring.requestNonce! });
    this.#wait?.cancel();
    const wait = this.env.device.grantTimeoutMs * 2 ** Math.min(this.#misses, 3) * (1 + Math.random() / 2);
    this.#wait = this.env.wheel.after(wait, () => {
      this.#wait = undefined;
      this.#misses++;
      this.env.counters.errors.add('SIM_NO_GRANT');
      this.request();
    });
  }

  /** A message on devices/D/rekey. */
  receive(payload: Buffer): void {
    this.#queue = this.#queue.then(() => this.#accept(payload.toString('utf8'))).catch(() => this.env.counters.grantRefusals.add('INTERNAL'));
  }

  /** No more re-requests (the connection is gone, or the device stopped). */
  cancel(): void {
    this.#wait?.cancel();
    this.#wait = undefined;
    this.#misses = 0;
  }

  async #accept(jws: string): Promise<void> {
    const identity = this.host.identity();
    if (!identity) return;
    const { counters } = this.env;
    try {
      const verified = await verifyGrant(jws, { fleetRoot: this.env.trust.root, expectedSubject: this.host.id, recipientKey: identity.privateKey, expect: 'device' });
      counters.clock.observe('kdc', verified.iat * 1000);
      const accepted = this.keyring.accept(verified);
      this.host.client()?.publish(deviceTopics.rekeyAck(this.host.id), accepted.ack, { qos: 1 });
      counters.grantsAccepted++;
      if (verified.req === undefined) counters.rotationsAcked++;
      else this.cancel();
      if (!this.#keyed) {
        this.#keyed = true;
        this.host.firstKey();
      }
      this.env.observe?.({ type: 'granted', deviceId: this.host.id, epoch: verified.epoch, grant: accepted.grant, req: verified.req });
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      if (err instanceof GrantTimeError) counters.clock.observe('kdc', err.iat * 1000);
      counters.grantRefusals.add(err.code);
    }
  }
}
