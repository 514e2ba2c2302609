import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { openEnvelope, readEnvelopeHeader, type EnvelopeHeader } from './envelope.js';
import { isConsumerId } from './grant.js';
import type { VerifiedGrant } from './grant-verify.js';
import { encodeRekeyAck, encodeRekeyRequest, newNonce } from './rekey-messages.js';
import { DEFAULT_WINDOW_SIZE, ReplayWindow } from './replay-window.js';
import { SessionKeyDeriver } from './session-key.js';

/**
 * The consumer side (DESIGN.md "Consumers"): epoch secrets from epoch grants, session keys derived
 * per (device, epoch, grant) and cached, envelopes opened and classified with one replay window per
 * grant.
 *
 * Grace: epoch e stays openable until graceUntil(e) = nbf of the next epoch's grant + `graceSeconds`.
 * The consumer learns it when the KDC pushes epoch e+1 (before devices switch at its nbf); until then
 * e is the current epoch and open-ended. `graceSeconds` must be at least the KDC's grace period.
 * Grant acceptance mirrors the device's: after a start only the answers to the latest request; then
 * unsolicited grants only for an epoch newer than any held; an epoch already held is never replaced.
 */

export type MessageClass =
  /** Authentic and new: `payload` is the plaintext. */
  | { readonly kind: 'opened'; readonly header: EnvelopeHeader; readonly payload: Buffer }
  /** Authentic, seq already seen inside the window: a QoS 1 redelivery (or a replay of one). */
  | { readonly kind: 'duplicate'; readonly header: EnvelopeHeader }
  /** Authentic, seq below the window: cannot be told from a replay, never accepted. */
  | { readonly kind: 'replay'; readonly header: EnvelopeHeader }
  /** An epoch this consumer no longer opens (older than its keys, or past its grace). */
  | { readonly kind: 'stale-epoch'; readonly header: EnvelopeHeader }
  /** Malformed, not authentic, or an epoch newer than any held (then request a grant again). */
  | { readonly kind: 'undecryptable'; readonly reason: 'malformed' | 'auth-failed' | 'no-epoch-key'; readonly header?: EnvelopeHeader };

export interface ConsumerKeyringOptions {
  readonly consumerId: string;
  /** Seconds an epoch stays openable after the next epoch's nbf. Default 300. */
  readonly graceSeconds?: number;
  /** Seqs per replay window. Default 128. */
  readonly windowSize?: number;
}

interface EpochEntry {
  readonly secret: Buffer;
  /** Derives each device's K from the secret (HKDF extract done once per epoch). */
  readonly keys: SessionKeyDeriver;
  readonly nbf: number;
  /** Milliseconds; Infinity while no newer epoch is known. */
  graceUntil: number;
  /** Derived key + replay window per `${deviceId}/${grant}`. */
  readonly grants: Map<string, { readonly key: Buffer; readonly window: ReplayWindow }>;
}

export const DEFAULT_GRACE_SECONDS = 300;

export class ConsumerKeyring {
  readonly consumerId: string;
  readonly graceSeconds: number;
  readonly windowSize: number;
  readonly #epochs = new Map<number, EpochEntry>();
  #nonce: string | undefined;
  #answered = false;

  constructor(opts: ConsumerKeyringOptions) {
    if (!isConsumerId(opts.consumerId)) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', 'consumer keyring: invalid consumer id');
    this.consumerId = opts.consumerId;
    this.graceSeconds = opts.graceSeconds ?? DEFAULT_GRACE_SECONDS;
    this.windowSize = opts.windowSize ?? DEFAULT_WINDOW_SIZE;
    if (!Number.isFinite(this.graceSeconds) || this.graceSeconds < 0) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `grace ${this.graceSeconds} s`);
  }

  /** A request body for services/C/rekey/request. */
  newRequest(): Buffer {
    this.#nonce = newNonce();
    this.#answered = false;
    return encodeRekeyRequest(this.#nonce);
  }

  /** Epochs held and their grace ends (ms; Infinity for the current one). */
  epochs(): Array<{ epoch: number; nbf: number; graceUntil: number }> {
    return [...this.#epochs].map(([epoch, e]) => ({ epoch, nbf: e.nbf, graceUntil: e.graceUntil })).sort((a, b) => a.epoch - b.epoch);
  }

  /** Applies the acceptance rules to a verified epoch grant; returns the ack body for services/C/rekey/ack. */
  accept(verified: VerifiedGrant): Buffer {
    const { epoch, req } = verified;
    if (verified.kind !== 'consumer' || verified.sub !== this.consumerId) throw new FleetkeyError('GRANT_MALFORMED', 'not an epoch grant for this consumer');
    const newest = Math.max(0, ...this.#epochs.keys());
    if (req !== undefined || !this.#answered) {
      if (req === undefined || req !== this.#nonce) throw new FleetkeyError('GRANT_UNSOLICITED', `req ${req ?? '(none)'} for epoch ${epoch}`);
    } else if (epoch <= newest) {
      throw new FleetkeyError('GRANT_NOT_NEWER', `rotation grant for epoch ${epoch}, holding ${newest}`);
    }
    if (this.#epochs.has(epoch)) throw new FleetkeyError('GRANT_NOT_NEWER', `epoch ${epoch} is held already`);
    const secret = Buffer.from(verified.key);
    this.#epochs.set(epoch, { secret, keys: new SessionKeyDeriver(secret), nbf: verified.nbf, graceUntil: Infinity, grants: new Map() });
    this.#answered = true;
    this.#recomputeGrace();
    return encodeRekeyAck({ epoch });
  }

  /** Forgets epochs whose grace has ended, wiping their secrets and keys. */
  prune(now: number = Date.now()): number[] {
    const dropped: number[] = [];
    for (const [epoch, entry] of this.#epochs) {
      if (now < entry.graceUntil) continue;
      entry.secret.fill(0);
      entry.keys.wipe();
      for (const { key } of entry.grants.values()) key.fill(0);
      this.#epochs.delete(epoch);
      dropped.push(epoch);
    }
    return dropped;
  }

  /** Opens and classifies one envelope received on devices/<deviceId>/telemetry. */
  open(deviceId: string, envelope: Uint8Array, now: number = Date.now()): MessageClass {
    let header: EnvelopeHeader;
    try {
      header = readEnvelopeHeader(envelope);
    } catch (err) {
      if (isFleetkeyError(err)) return { kind: 'undecryptable', reason: 'malformed' };
      throw err;
    }
    this.prune(now);
    const entry = this.#epochs.get(header.epoch);
    if (!entry) {
      const newest = Math.max(0, ...this.#epochs.keys());
      return header.epoch < newest ? { kind: 'stale-epoch', header } : { kind: 'undecryptable', reason: 'no-epoch-key', header };
    }
    const slot = this.#grantSlot(entry, deviceId, header);
    if (!slot) return { kind: 'undecryptable', reason: 'malformed', header };
    let payload: Buffer;
    try {
      payload = openEnvelope(slot.key, deviceId, envelope).payload;
    } catch (err) {
      if (isFleetkeyError(err)) return { kind: 'undecryptable', reason: 'auth-failed', header };
      throw err;
    }
    // Only authentic envelopes reach the window, so forgeries cannot slide it.
    const verdict = slot.window.record(header.seq);
    if (verdict === 'new') return { kind: 'opened', header, payload };
    payload.fill(0);
    return verdict === 'duplicate' ? { kind: 'duplicate', header } : { kind: 'replay', header };
  }

  #grantSlot(entry: EpochEntry, deviceId: string, header: EnvelopeHeader): { key: Buffer; window: ReplayWindow } | undefined {
    const id = `${deviceId}/${header.grant}`;
    let slot = entry.grants.get(id);
    if (!slot) {
      try {
        slot = { key: entry.keys.derive(deviceId, header.epoch, header.grant), window: new ReplayWindow(this.windowSize) };
      } catch (err) {
        if (isFleetkeyError(err, 'PROTOCOL_INPUT_INVALID')) return undefined; // e.g. a topic id that is not a device id
        throw err;
      }
      entry.grants.set(id, slot);
    }
    return slot;
  }

  /** graceUntil(e) = the smallest nbf among newer held epochs + grace; Infinity for the newest. */
  #recomputeGrace(): void {
    const list = [...this.#epochs].sort(([a], [b]) => b - a);
    let successorNbf = Infinity;
    for (const [, entry] of list) {
      entry.graceUntil = successorNbf === Infinity ? Infinity : (successorNbf + this.graceSeconds) * 1000;
      successorNbf = Math.min(successorNbf, entry.nbf);
    }
  }
}
