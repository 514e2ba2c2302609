import type { Redis } from 'ioredis';
import type { RevocationReason } from '../../certs/types.js';
import { FleetkeyError } from '../../errors/index.js';
import type { ApiRole, AuditInput, CertificateRecord, DeviceStatus, NewDevice, NewEpochOptions, RekeyRequestClaim, Store, StoreEvent, StoreEventType } from '../types.js';
import { publishableEventTypes } from '../records.js';
import * as access from './access.js';
import * as certificates from './certificates.js';
import type { RedisContext } from './context.js';
import * as devices from './devices.js';
import * as epochs from './epochs.js';
import * as snapshot from './snapshot.js';
import type { StoreSnapshot } from '../backup-records.js';
import type { StoreIdentity } from '../identity.js';
import type { RedisEvents } from './events.js';

const QUIT_TIMEOUT_MS = 500;

/**
 * The Redis store: every change is one Lua script (or MULTI), so it applies completely or not at all,
 * and events travel over pub/sub to every process on the same prefix. The operations live in
 * devices/certificates/epochs/access; this class wires them to the Store interface.
 */
export class RedisStore implements Store {
  readonly url: string;
  private closed = false;

  constructor(
    private readonly ctx: RedisContext,
    private readonly events: RedisEvents,
    private readonly connections: readonly Redis[],
  ) {
    this.url = ctx.url;
  }

  async registerDevices(list: readonly NewDevice[], actor: string) { return devices.registerDevices(this.ctx, list, actor); }
  async getDevice(id: string) { return devices.getDevice(this.ctx, id); }
  async listDevices(query: { status?: DeviceStatus; cursor?: string; limit?: number }) { return devices.listDevices(this.ctx, query); }
  async countDevices() { return devices.countDevices(this.ctx); }
  async renewEnrollmentToken(id: string, token: string, expiresAt: Date, actor: string) {
    return devices.renewEnrollmentToken(this.ctx, id, token, expiresAt, actor);
  }
  async checkEnrollmentToken(id: string, token: string) { return devices.checkEnrollmentToken(this.ctx, id, token); }
  async enrollDevice(id: string, token: string, certificate: CertificateRecord, der?: Buffer) { return devices.enrollDevice(this.ctx, id, token, certificate, der); }
  async enrollmentOf(id: string, token: string) { return devices.enrollmentOf(this.ctx, id, token); }
  async recordEnrollmentRetry(id: string, token: string, certificate: CertificateRecord) { return devices.recordEnrollmentRetry(this.ctx, id, token, certificate); }

  async recordCertificate(certificate: CertificateRecord) { return certificates.recordCertificate(this.ctx, certificate); }
  async getCertificate(serial: string) { return certificates.getCertificate(this.ctx, serial); }
  async listCertificates(subject: string) { return certificates.listCertificates(this.ctx, subject); }
  async listExpiringCertificates(before: Date) { return certificates.listExpiringCertificates(this.ctx, before); }
  async revokeCertificate(serial: string, reason: RevocationReason, actor: string) {
    return certificates.revokeCertificate(this.ctx, serial, reason, actor);
  }
  async revokeDevice(id: string, reason: RevocationReason, actor: string) { return certificates.revokeDevice(this.ctx, id, reason, actor); }
  async reprovisionDevice(id: string, token: string, expiresAt: Date, actor: string) { return certificates.reprovisionDevice(this.ctx, id, token, expiresAt, actor); }
  async listRevocations() { return certificates.listRevocations(this.ctx); }
  async revocationSeq() { return certificates.revocationSeq(this.ctx); }
  async nextCrlNumber() { return certificates.nextCrlNumber(this.ctx); }

  async currentEpoch() { return epochs.currentEpoch(this.ctx); }
  async getEpoch(epoch: number) { return epochs.getEpoch(this.ctx, epoch); }
  async createNextEpoch(expectedCurrent: number, secret: Buffer, kek: Buffer, activatesAt: Date, options?: NewEpochOptions) {
    return epochs.createNextEpoch(this.ctx, expectedCurrent, secret, kek, activatesAt, options);
  }
  async markEpochDistributed(epoch: number) { return epochs.markEpochDistributed(this.ctx, epoch); }
  async leaseRotation(epoch: number, holder: string, ttlMs: number) { return epochs.leaseRotation(this.ctx, epoch, holder, ttlMs); }
  async releaseRotation(epoch: number, holder: string) { return epochs.releaseRotation(this.ctx, epoch, holder); }
  async epochSecret(epoch: number, kek: Buffer) { return epochs.epochSecret(this.ctx, epoch, kek); }
  async deleteEpochSecretsBefore(epoch: number) { return epochs.deleteEpochSecretsBefore(this.ctx, epoch); }
  async nextGrants(deviceIds: readonly string[], epoch: number) { return epochs.nextGrants(this.ctx, deviceIds, epoch); }
  async recordAcks(acks: readonly { deviceId: string; epoch: number; grant: number }[]) { return epochs.recordAcks(this.ctx, acks); }
  async epochProgress(epoch: number) { return epochs.epochProgress(this.ctx, epoch); }
  async listUnacked(epoch: number, limit?: number) { return epochs.listUnacked(this.ctx, epoch, limit); }
  async listGranted(epoch: number, limit?: number) { return epochs.listGranted(this.ctx, epoch, limit); }
  async claimRekeyRequests(requests: readonly RekeyRequestClaim[], ttlMs: number) { return epochs.claimRekeyRequests(this.ctx, requests, ttlMs); }

  async createApiToken(input: { id: string; secret: string; role: ApiRole; label?: string }, actor: string) {
    return access.createApiToken(this.ctx, input, actor);
  }
  async findApiToken(secret: string) { return access.findApiToken(this.ctx, secret); }
  async revokeApiToken(id: string, actor: string) { return access.revokeApiToken(this.ctx, id, actor); }
  async appendAudit(entry: AuditInput) { return access.appendAudit(this.ctx, entry); }
  async readAudit(query: { cursor?: string; limit?: number; subject?: string }) { return access.readAudit(this.ctx, query); }

  health() {
    return { state: this.ctx.watch?.current ?? 'ok', identity: this.ctx.watch?.identity, unreplicatedWrites: this.ctx.durability?.unreplicated ?? 0 };
  }
  async exportState() { return snapshot.exportRedisState(this.ctx); }
  async importState(state: StoreSnapshot, identity: StoreIdentity, opts: { force: boolean }) {
    if (this.closed) throw new FleetkeyError('STORE_UNAVAILABLE', `${this.url} is closed`);
    return snapshot.importRedisState(this.ctx, state, identity, opts.force);
  }

  async publish(event: StoreEvent): Promise<void> {
    if (this.closed) throw new FleetkeyError('STORE_UNAVAILABLE', `${this.url} is closed`);
    if (!publishableEventTypes.has(event?.type)) throw new FleetkeyError('STORE_INPUT_INVALID', `event type ${String(event?.type)}`);
    await this.events.publish(event);
  }

  on<T extends StoreEventType>(type: T, handler: (event: Extract<StoreEvent, { type: T }>) => void): () => void {
    return this.events.on(type, handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ctx.close();
    this.events.close();
    await Promise.all(this.connections.map((c) => quit(c)));
  }
}

/** QUIT, or a hard disconnect when Redis does not answer (it may be down). */
async function quit(connection: Redis): Promise<void> {
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, QUIT_TIMEOUT_MS).unref());
  await Promise.race([connection.quit().then(() => undefined, () => undefined), timeout]);
  connection.disconnect();
}
