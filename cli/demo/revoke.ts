import { simpleEnroll, simpleReenroll, type EstAnswer } from '../../device-sim/est-client.js';
import { keyPem, newKeyRequest } from '../../device-sim/identity.js';
import type { DemoFleet } from './fleet.js';
import type { DemoStack } from './stack.js';

export interface RevocationResult {
  /** From the revoke request to the device seeing its session closed; null when it was not cut. */
  readonly cutMs: number | null;
  /** The device's stage once cut (a revoked device stops: `failed`, SIM_DEVICE_REVOKED). */
  readonly stage: string;
  readonly failure: string | undefined;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST /v1/devices/{id}/revoke, then waits (up to `waitMs`) for the broker to cut the device's session. */
export async function revokeDevice(stack: DemoStack, fleet: DemoFleet, deviceId: string, waitMs: number): Promise<RevocationResult> {
  const device = fleet.sim.devices.find((d) => d.id === deviceId)!;
  const before = fleet.disconnectedAt(deviceId).length;
  const started = Date.now();
  await stack.api.json('POST', `/v1/devices/${encodeURIComponent(deviceId)}/revoke`, { reason: 'keyCompromise' });
  while (fleet.disconnectedAt(deviceId).length === before && Date.now() - started < waitMs) await sleep(10);
  const cut = fleet.disconnectedAt(deviceId)[before];
  // Give the device a moment to settle on what the broker told it.
  for (let i = 0; i < 50 && device.stage !== 'failed'; i++) await sleep(20);
  return { cutMs: cut === undefined ? null : cut - started, stage: device.stage, failure: device.failure };
}

export interface ReenrollResult {
  /** RFC 7030 §4.2.2 with the revoked certificate over mutual TLS. */
  readonly reenroll: EstAnswer;
  /** RFC 7030 §4.2.1 again with the device's (used) one-time token. */
  readonly enroll: EstAnswer;
}

/** What a revoked device gets when it asks the provisioner for a new certificate either way. */
export async function tryReenroll(stack: DemoStack, fleet: DemoFleet, deviceId: string): Promise<ReenrollResult> {
  const device = fleet.sim.devices.find((d) => d.id === deviceId)!;
  const identity = device.identity!;
  const server = { url: stack.provisionerUrl, ca: stack.caPems, timeoutMs: 10_000 };
  const client = { cert: identity.certPem + fleet.sim.options.trust.issuingPem, key: keyPem(identity.privateKey) };
  const reenroll = await simpleReenroll(server, client, newKeyRequest(deviceId).csr);
  const enroll = await simpleEnroll(server, deviceId, fleet.tokens.get(deviceId)!, newKeyRequest(deviceId).csr);
  return { reenroll, enroll };
}

/** A refusal's short description: `CODE (HTTP n)`, or `issued` when the provisioner gave a certificate. */
export function describeAnswer(a: EstAnswer): string {
  return a.ok ? 'issued' : `${a.code}${a.status ? ` (HTTP ${a.status})` : ` (${a.detail})`}`;
}
