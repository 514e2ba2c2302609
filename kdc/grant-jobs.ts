import { isFleetkeyError } from '../errors/index.js';
import { deviceGrantJws, grantRecipient, type GrantRecipient, type GrantSigner } from '../protocol/grant.js';
import { SessionKeyDeriver } from '../protocol/session-key.js';

/**
 * One device grant to build: everything but the epoch secret, which travels once per batch.
 * The same function builds it on the main thread and in a worker (kdc/grant-worker.ts).
 */
export interface GrantJob {
  readonly deviceId: string;
  /**
   * SubjectPublicKeyInfo DER of the device's current certificate, base64. A string, not a Buffer: a
   * small Buffer is a view of an 8 KiB pool, and posting it to a worker copies the whole pool.
   */
  readonly spki: string;
  readonly epoch: number;
  readonly grant: number;
  readonly req?: string | undefined;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
}

/** A built grant (JWS compact), or why it could not be built (an error code). */
export type GrantResult = { readonly jws: string } | { readonly error: string; readonly detail?: string | undefined };

/** Grant recipients by SPKI: a device's key is read once, not once per grant. */
export class RecipientKeys {
  readonly #keys = new Map<string, GrantRecipient>();
  constructor(private readonly max = 200_000) {}

  get(spki: string): GrantRecipient {
    let key = this.#keys.get(spki);
    if (key === undefined) {
      if (this.#keys.size >= this.max) this.#keys.clear();
      key = grantRecipient(Buffer.from(spki, 'base64'));
      this.#keys.set(spki, key);
    }
    return key;
  }
}

/** Builds `jobs` with the epoch secrets of one batch; the PRKs derived from them are wiped after. */
export function buildGrants(signer: GrantSigner, keys: RecipientKeys, secrets: ReadonlyMap<number, Uint8Array>, jobs: readonly GrantJob[]): GrantResult[] {
  const derivers = new Map<number, SessionKeyDeriver>();
  try {
    for (const [epoch, secret] of secrets) derivers.set(epoch, new SessionKeyDeriver(secret));
    return jobs.map((job) => buildGrant(signer, keys, derivers, job));
  } finally {
    for (const deriver of derivers.values()) deriver.wipe();
  }
}

/** K = HKDF(S_e, D, e, g), wrapped to the device key and signed; K is wiped after. */
export function buildGrant(signer: GrantSigner, keys: RecipientKeys, derivers: ReadonlyMap<number, SessionKeyDeriver>, job: GrantJob): GrantResult {
  const deriver = derivers.get(job.epoch);
  if (deriver === undefined) return { error: 'KDC_EPOCH_SECRET_MISSING', detail: `epoch ${job.epoch}` };
  let key: Buffer | undefined;
  try {
    key = deriver.derive(job.deviceId, job.epoch, job.grant);
    const jws = deviceGrantJws({
      signer, deviceId: job.deviceId, devicePublicKey: keys.get(job.spki), epoch: job.epoch, grant: job.grant, key,
      req: job.req, iat: job.iat, nbf: job.nbf, exp: job.exp,
    });
    return { jws };
  } catch (err) {
    return { error: isFleetkeyError(err) ? err.code : 'KDC_GRANT_FAILED', detail: err instanceof Error ? (isFleetkeyError(err) ? err.detail : err.message) : String(err) };
  } finally {
    key?.fill(0);
  }
}
