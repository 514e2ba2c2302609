import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { RevocationReason } from '../../certs/types.js';
import { FleetkeyError } from '../../errors/index.js';
import { assertRequestClaims, encodeJson, publishableEventTypes } from '../records.js';
import type {
  ApiRole, AuditInput, CertificateRecord, DeviceStatus, NewDevice, NewEpochOptions, RekeyRequestClaim, Store, StoreEvent, StoreEventType,
} from '../types.js';
import * as access from './access.js';
import { RequestClaims } from './claims.js';
import * as certificates from './certificates.js';
import type { FileContext } from './context.js';
import * as devices from './devices.js';
import type { Journal } from './journal.js';
import * as keys from './keys.js';
import * as snapshot from './snapshot.js';
import type { StoreSnapshot } from '../backup-records.js';
import type { StoreIdentity } from '../identity.js';
import type { Op, State } from './state.js';


/**
 * The embedded store: the whole state in memory, every change journaled and fsynced (group commit)
 * before its promise resolves, events delivered in-process once the change is durable.
 * The operations live in devices/certificates/keys/access; this class wires them to the Store interface.
 */
export class FileStore implements Store {
  private closed = false;
  private readonly events = new EventEmitter().setMaxListeners(0);
  private readonly ctx: FileContext;
  private readonly claims = new RequestClaims();

  constructor(
    readonly url: string,
    state: State,
    private readonly journal: Journal,
    private readonly releaseLock: () => void,
    private readonly logger: Logger,
  ) {
    this.ctx = {
      state,
      now: () => new Date(),
      commit: (ops, events) => this.commit(state, ops, events),
      settle: (value) => this.settle(value),
    };
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

  async currentEpoch() { return keys.currentEpoch(this.ctx); }
  async getEpoch(epoch: number) { return keys.getEpoch(this.ctx, epoch); }
  async createNextEpoch(expectedCurrent: number, secret: Buffer, kek: Buffer, activatesAt: Date, options?: NewEpochOptions) {
    return keys.createNextEpoch(this.ctx, expectedCurrent, secret, kek, activatesAt, options);
  }
  async markEpochDistributed(epoch: number) { return keys.markEpochDistributed(this.ctx, epoch); }
  async leaseRotation(epoch: number, holder: string, ttlMs: number) { return keys.leaseRotation(this.ctx, epoch, holder, ttlMs); }
  async releaseRotation(epoch: number, holder: string) { return keys.releaseRotation(this.ctx, epoch, holder); }
  async epochSecret(epoch: number, kek: Buffer) { return keys.epochSecret(this.ctx, epoch, kek); }
  async deleteEpochSecretsBefore(epoch: number) { return keys.deleteEpochSecretsBefore(this.ctx, epoch); }
  async nextGrants(deviceIds: readonly string[], epoch: number) { return keys.nextGrants(this.ctx, deviceIds, epoch); }
  async recordAcks(acks: readonly { deviceId: string; epoch: number; grant: number }[]) { return keys.recordAcks(this.ctx, acks); }
  async epochProgress(epoch: number) { return keys.epochProgress(this.ctx, epoch); }
  async listUnacked(epoch: number, limit?: number) { return keys.listUnacked(this.ctx, epoch, limit); }
  async listGranted(epoch: number, limit?: number) { return keys.listGranted(this.ctx, epoch, limit); }
  async claimRekeyRequests(requests: readonly RekeyRequestClaim[], ttlMs: number) {
    assertRequestClaims(requests, ttlMs);
    this.checkOpen();
    return this.claims.claim(requests, ttlMs, Date.now());
  }

  async createApiToken(input: { id: string; secret: string; role: ApiRole; label?: string }, actor: string) {
    return access.createApiToken(this.ctx, input, actor);
  }
  async findApiToken(secret: string) { return access.findApiToken(this.ctx, secret); }
  async revokeApiToken(id: string, actor: string) { return access.revokeApiToken(this.ctx, id, actor); }
  async appendAudit(entry: AuditInput) { return access.appendAudit(this.ctx, entry); }
  async readAudit(query: { cursor?: string; limit?: number; subject?: string }) { return access.readAudit(this.ctx, query); }

  health() { return { state: 'ok' as const, identity: this.ctx.state.identity, unreplicatedWrites: 0 }; }
  async exportState() {
    this.checkOpen();
    return snapshot.exportFileState(this.ctx);
  }
  async importState(state: StoreSnapshot, identity: StoreIdentity, opts: { force: boolean }) { return snapshot.importFileState(this.ctx, state, identity, opts.force); }

  async publish(event: StoreEvent): Promise<void> {
    this.checkOpen();
    if (!publishableEventTypes.has(event?.type)) throw new FleetkeyError('STORE_INPUT_INVALID', `event type ${String(event?.type)}`);
    await new Promise((resolve) => setImmediate(resolve));
    this.deliver(event);
  }

  on<T extends StoreEventType>(type: T, handler: (event: Extract<StoreEvent, { type: T }>) => void): () => void {
    const guarded = (event: Extract<StoreEvent, { type: T }>) => {
      try {
        handler(event);
      } catch (err) {
        this.logger.error({ event: 'store-handler-failed', type, err }, 'a store event handler threw');
      }
    };
    this.events.on(type, guarded);
    return () => void this.events.off(type, guarded);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.journal.close();
    } finally {
      this.releaseLock();
      this.events.removeAllListeners();
    }
  }

  private commit(state: State, ops: Op[], events: StoreEvent[] = []): Promise<void> {
    this.checkOpen();
    const record = Buffer.from(encodeJson(ops));
    for (const op of ops) state.apply(op);
    return this.journal.append(record).then(() => {
      for (const event of events) this.deliver(event);
    });
  }

  private settle<T>(value: T): Promise<T> {
    this.checkOpen();
    return this.journal.barrier().then(() => value);
  }

  private checkOpen(): void {
    if (this.closed) throw new FleetkeyError('STORE_UNAVAILABLE', `${this.url} is closed`);
    this.journal.check();
  }

  private deliver(event: StoreEvent): void {
    if (!this.closed) this.events.emit(event.type, event);
  }
}
