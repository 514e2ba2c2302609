import type { ErrorCode } from '../errors/index.js';
import { fullJitter, retryAfterJitter } from './backoff.js';
import type { SimEnv } from './env.js';
import { simpleEnroll, simpleReenroll, type EstAnswer } from './est-client.js';
import { deviceIdentity, keyPem, newKeyRequest, type DeviceIdentity } from './identity.js';

/**
 * How a device gets and renews its certificate over EST, with the retries a real device makes:
 * a transient failure (no answer, 5xx, 429) waits for Retry-After or a jittered backoff and tries
 * again; a refusal ends the attempt with the server's code.
 */
export type CredentialResult =
  | { readonly ok: true; readonly identity: DeviceIdentity }
  | { readonly ok: false; readonly code: ErrorCode };

/** RFC 7030 §4.2.1: its own P-256 key and CSR, then simpleenroll with the one-time token. */
export function enroll(env: SimEnv, deviceId: string, token: string, alive: () => boolean): Promise<CredentialResult> {
  // Made when the first attempt gets its slot, so that ten thousand devices starting at once do not
  // all generate keys in the same instant.
  let request: ReturnType<typeof newKeyRequest> | undefined;
  return untilAnswered(env, alive, env.counters.enrollMs, () => simpleEnroll(env.est!, deviceId, token, (request ??= newKeyRequest(deviceId)).csr), (der) =>
    deviceIdentity(deviceId, request!.privateKey, der, env.trust));
}

/** RFC 7030 §4.2.2: a new key and CSR, simplereenroll authenticated by the current certificate; a few tries. */
export function renew(env: SimEnv, current: DeviceIdentity, alive: () => boolean, attempts = 4): Promise<CredentialResult> {
  let left = attempts;
  const { privateKey, csr } = newKeyRequest(current.deviceId);
  const client = { cert: current.certPem + env.trust.issuingPem, key: keyPem(current.privateKey) };
  return untilAnswered(env, () => alive() && left-- > 0, env.counters.renewMs, () => simpleReenroll(env.est!, client, csr), (der) =>
    deviceIdentity(current.deviceId, privateKey, der, env.trust));
}

async function untilAnswered(
  env: SimEnv,
  alive: () => boolean,
  latency: { add(ms: number): void },
  ask: () => Promise<EstAnswer>,
  install: (der: Buffer) => DeviceIdentity,
): Promise<CredentialResult> {
  if (!env.est) return { ok: false, code: 'SIM_EST_FAILED' };
  for (let attempt = 0; alive(); attempt++) {
    const started = performance.now();
    const answer = await env.enrollSlots.run(ask);
    if (answer.serverDateMs !== undefined) env.counters.clock.observe('provisioner', answer.serverDateMs);
    if (!answer.ok && (answer.code === 'CERT_NOT_YET_VALID' || answer.code === 'CERT_HAS_EXPIRED') && answer.status === 0) {
      env.counters.clock.certificate('provisioner', answer.code === 'CERT_NOT_YET_VALID' ? 'cert-not-yet-valid' : 'cert-expired');
    }
    if (answer.ok) {
      latency.add(performance.now() - started);
      try {
        return { ok: true, identity: install(answer.certificate) };
      } catch {
        return { ok: false, code: 'SIM_EST_FAILED' };
      }
    }
    env.counters.errors.add(answer.code);
    if (!answer.transient) return { ok: false, code: answer.code };
    const wait = answer.retryAfterSeconds !== undefined ? retryAfterJitter(answer.retryAfterSeconds) : fullJitter(attempt, env.backoff);
    await new Promise<void>((resolve) => env.wheel.after(wait, resolve));
  }
  return { ok: false, code: 'SIM_EST_FAILED' };
}
