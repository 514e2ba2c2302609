import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';
import { sealEnvelope, SEQ_MAX } from './envelope.js';
import type { VerifiedGrant } from './grant-verify.js';
import { encodeRekeyAck, encodeRekeyRequest, newNonce } from './rekey-messages.js';

/**
 * The device side of the rekey flow (DESIGN.md "Session keys"): which grants a device accepts, when
 * it switches keys, and the seq rule of the telemetry envelope. The rules, in order:
 *   - with no key installed (after a start), accept only a grant whose `req` is the nonce of the
 *     device's latest request — a replayed or stale grant cannot install an old key;
 *   - once a key is installed, a grant that carries `req` must still answer the latest request, and a
 *     grant without `req` (rotation) must be for a newer epoch;
 *   - (epoch, grant) must be newer than every key held, installed or pending (replay, downgrade);
 *   - an accepted key is used from its `nbf` on; until then the previous key stays in use (with no
 *     key in use, the answer to the device's own request is used at once);
 *   - seq starts at 0 for each key and only grows, so a (key, seq) pair is never used twice.
 * Verify the grant first (verifyGrant); this state machine only applies the acceptance rules.
 */

export interface HeldKey {
  readonly epoch: number;
  readonly grant: number;
  readonly nbf: number;
}

interface Slot extends HeldKey {
  readonly key: Buffer;
}

export interface Accepted {
  readonly epoch: number;
  readonly grant: number;
  /** The body to publish on devices/D/rekey/ack. */
  readonly ack: Buffer;
  /** False when the key waits for its nbf. */
  readonly active: boolean;
}

const newer = (a: { epoch: number; grant: number }, b: { epoch: number; grant: number } | undefined): boolean =>
  b === undefined || a.epoch > b.epoch || (a.epoch === b.epoch && a.grant > b.grant);

export class DeviceKeyring {
  readonly deviceId: string;
  #nonce: string | undefined;
  #current: Slot | undefined;
  #pending: Slot | undefined;
  #seq = 0n;

  constructor(deviceId: string) {
    if (!isValidDeviceId(deviceId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'device keyring: invalid device id');
    this.deviceId = deviceId;
  }

  /** A new rekey request body, {"nonce":…}; only the latest request's answer is accepted after a start. */
  newRequest(): Buffer {
    this.#nonce = newNonce();
    return encodeRekeyRequest(this.#nonce);
  }

  /** The nonce of the latest request, if any. */
  get requestNonce(): string | undefined {
    return this.#nonce;
  }

  /** The key in use at `now` (ms), after switching to a pending key whose nbf has come. */
  current(now: number = Date.now()): HeldKey | undefined {
    this.#promote(now);
    return this.#current && { epoch: this.#current.epoch, grant: this.#current.grant, nbf: this.#current.nbf };
  }

  /** The key waiting for its nbf, if any. */
  pending(now: number = Date.now()): HeldKey | undefined {
    this.#promote(now);
    return this.#pending && { epoch: this.#pending.epoch, grant: this.#pending.grant, nbf: this.#pending.nbf };
  }

  /** Applies the acceptance rules to a verified device grant; throws GRANT_UNSOLICITED / GRANT_NOT_NEWER. */
  accept(verified: VerifiedGrant, now: number = Date.now()): Accepted {
    const { epoch, grant, req, nbf } = verified;
    if (verified.kind !== 'device' || grant === undefined || verified.sub !== this.deviceId) {
      throw new FleetkeyError('GRANT_MALFORMED', 'not a device grant for this device');
    }
    this.#promote(now);
    const newest = this.#pending ?? this.#current;
    if (req !== undefined || !this.#current) {
      if (req === undefined || req !== this.#nonce) throw new FleetkeyError('GRANT_UNSOLICITED', `req ${req ?? '(none)'} for epoch ${epoch} grant ${grant}`);
    } else if (newest && epoch <= newest.epoch) {
      throw new FleetkeyError('GRANT_NOT_NEWER', `rotation grant for epoch ${epoch}, holding epoch ${newest.epoch}`);
    }
    if (!newer({ epoch, grant }, newest)) {
      throw new FleetkeyError('GRANT_NOT_NEWER', `epoch ${epoch} grant ${grant}, holding epoch ${newest?.epoch} grant ${newest?.grant}`);
    }
    this.#pending?.key.fill(0);
    this.#pending = { epoch, grant, nbf, key: Buffer.from(verified.key) };
    // With no key in use (after a start) the answer to our own request is used at once, whatever a
    // skewed device clock says about its nbf: sending nothing until then helps no one.
    this.#promote(this.#current ? now : Number.MAX_SAFE_INTEGER);
    return { epoch, grant, ack: encodeRekeyAck({ epoch, grant }), active: this.#current?.epoch === epoch && this.#current.grant === grant };
  }

  /** Seals `payload` with the current key and the next seq of that key. */
  sealNext(payload: Uint8Array, now: number = Date.now()): Buffer {
    this.#promote(now);
    const slot = this.#current;
    if (!slot) throw new FleetkeyError('ENVELOPE_NO_KEY');
    if (this.#seq > SEQ_MAX) throw new FleetkeyError('ENVELOPE_SEQ_EXHAUSTED', `epoch ${slot.epoch} grant ${slot.grant}`);
    const seq = this.#seq;
    this.#seq = seq + 1n; // advanced before sealing: even a failed seal never hands the seq out again
    return sealEnvelope(slot.key, this.deviceId, { epoch: slot.epoch, grant: slot.grant, seq }, payload);
  }

  /** Switches to the pending key once its nbf (seconds) has come: seq restarts at 0 for the new key. */
  #promote(now: number): void {
    const next = this.#pending;
    if (!next || Math.floor(now / 1000) < next.nbf) return;
    this.#current?.key.fill(0);
    this.#current = next;
    this.#pending = undefined;
    this.#seq = 0n;
  }
}
