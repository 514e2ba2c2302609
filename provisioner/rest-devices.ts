import type { FastifyInstance } from 'fastify';
import { toPem } from '../certs/pem.js';
import { revocationReasons, type RevocationReason } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';
import type { DeviceStatus } from '../store/types.js';
import { auditedRefusals } from './audit.js';
import { apiActor } from './auth.js';
import type { ProvisionerContext } from './context.js';
import { enrollWithBundle } from './enroll.js';
import { newDevices, registerBodySchema, registrationIds, type RegisterBody } from './registration.js';
import { reprovisionDevice, revokeDevice } from './revoke.js';
import { certificateViews, deviceView, revocationView } from './views.js';

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;
const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa'] as const;
/** Reasons an operator may give; removeFromCRL undoes a hold and is not a revocation. */
export const API_REVOCATION_REASONS = Object.keys(revocationReasons).filter((r) => r !== 'removeFromCRL') as RevocationReason[];

/** `/v1/devices…`: register, renew a token, list, show, factory bundle, revoke, re-provision. */
export async function deviceRoutes(app: FastifyInstance, ctx: ProvisionerContext): Promise<void> {
  const { store, log } = ctx;

  app.post<{ Body: RegisterBody }>('/devices', {
    config: { access: ['factory', 'operator'] },
    schema: { body: registerBodySchema },
  }, async (request, reply) => {
    const ids = registrationIds(request.body);
    const devices = newDevices(ids, ctx.opts.enrollmentTokenTtlSeconds);
    await auditedRefusals(store, log, { actor: apiActor(request), action: 'device.register', subject: ids[0] ?? '-' }, () =>
      store.registerDevices(devices, apiActor(request)));
    const expires = devices[0]?.tokenExpiresAt.toISOString();
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ devices: devices.map((d) => ({ id: d.id, token: d.token, tokenExpiresAt: expires })) });
  });

  // A new one-time token for a device not enrolled yet (its token expired or was lost); the old one stops working.
  app.post<{ Params: { id: string } }>('/devices/:id/token', {
    config: { access: ['factory', 'operator'] },
    schema: { params: idParams, body: { type: ['object', 'null'], additionalProperties: false, properties: {} } },
  }, async (request, reply) => {
    const { id } = request.params;
    const [renewed] = newDevices([id], ctx.opts.enrollmentTokenTtlSeconds);
    await auditedRefusals(store, log, { actor: apiActor(request), action: 'device.renew-token', subject: id }, () =>
      store.renewEnrollmentToken(id, renewed!.token, renewed!.tokenExpiresAt, apiActor(request)));
    reply.header('cache-control', 'no-store');
    return { id, token: renewed!.token, tokenExpiresAt: renewed!.tokenExpiresAt.toISOString() };
  });

  app.get<{ Querystring: { status?: DeviceStatus; cursor?: string; limit?: number } }>('/devices', {
    config: { access: ['factory', 'operator'] },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          status: { type: 'string', enum: ['registered', 'active', 'revoked'] },
          cursor: { type: 'string', maxLength: 400 },
          limit: { type: 'integer', minimum: 1, maximum: 1000 },
        },
      },
    },
  }, async (request) => {
    const page = await store.listDevices(request.query);
    return { devices: page.devices.map(deviceView), nextCursor: page.nextCursor ?? null };
  });

  app.get<{ Params: { id: string } }>('/devices/:id', {
    config: { access: ['factory', 'operator'] },
    schema: { params: idParams },
  }, async (request) => {
    const { id } = request.params;
    const device = await store.getDevice(id);
    if (device === undefined) throw new FleetkeyError('DEVICE_NOT_FOUND', id);
    const certificates = await store.listCertificates(id);
    return { ...deviceView(device), certificates: certificateViews(certificates, ctx.revocations) };
  });

  app.post<{ Params: { id: string }; Body: { token: string; password: string; keyType?: (typeof KEY_TYPES)[number] } }>('/devices/:id/bundle', {
    config: { access: ['factory'] },
    schema: {
      params: idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['token', 'password'],
        properties: {
          token: { type: 'string', minLength: 1, maxLength: 512 },
          password: { type: 'string', minLength: 1, maxLength: 1024 },
          keyType: { type: 'string', enum: KEY_TYPES },
        },
      },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const actor = apiActor(request);
    const { token, password, keyType = 'ec-p256' } = request.body;
    const attempt = { method: 'bundle' as const, ip: request.ip, deviceId: id, actor };
    const bundle = await ctx.guard.run(attempt, () => enrollWithBundle(ctx.deps, id, token, password, keyType));
    if (bundle.retried) ctx.guard.noteRetry(attempt, bundle.issued.serial, bundle.supersedes);
    const retry = bundle.supersedes === undefined ? {} : { supersedes: bundle.supersedes };
    await store.appendAudit({ actor, action: 'device.bundle', subject: id, detail: { serial: bundle.issued.serial, keyType, ...retry } });
    reply.header('cache-control', 'no-store');
    if (/application\/x-pkcs12/.test(request.headers.accept ?? '')) return reply.type('application/x-pkcs12').send(bundle.pkcs12);
    const { ca } = ctx.deps.issuer;
    return {
      deviceId: id,
      serial: bundle.issued.serial,
      notAfter: bundle.issued.notAfter.toISOString(),
      certificate: bundle.issued.pem,
      chain: ca.issuing.certificate.pem + ca.root.certificate.pem,
      privateKey: toPem('PRIVATE KEY', bundle.privateKey.export({ type: 'pkcs8', format: 'der' })),
      pkcs12: bundle.pkcs12.toString('base64'),
    };
  });

  app.post<{ Params: { id: string }; Body: { reason: RevocationReason } }>('/devices/:id/revoke', {
    config: { access: ['operator'] },
    schema: {
      params: idParams,
      body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', enum: API_REVOCATION_REASONS } } },
    },
  }, async (request) => {
    const { id } = request.params;
    const actor = apiActor(request);
    const revoked = await auditedRefusals(store, log, { actor, action: 'device.revoke', subject: id }, () =>
      revokeDevice(ctx, id, request.body.reason, actor));
    return { deviceId: id, status: 'revoked', revoked: revoked.map(revocationView) };
  });

  // A device that lost its key (flash wiped, repaired) gets its identity back: certificates revoked, a new token.
  app.post<{ Params: { id: string } }>('/devices/:id/reprovision', {
    config: { access: ['operator'] },
    schema: { params: idParams, body: { type: ['object', 'null'], additionalProperties: false, properties: {} } },
  }, async (request, reply) => {
    const { id } = request.params;
    const actor = apiActor(request);
    const { token, revoked } = await auditedRefusals(store, log, { actor, action: 'device.reprovision', subject: id }, () => reprovisionDevice(ctx, id, actor));
    reply.header('cache-control', 'no-store');
    return { id, status: 'registered', token: token.token, tokenExpiresAt: token.tokenExpiresAt.toISOString(), revoked: revoked.map(revocationView) };
  });
}
