import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { FleetkeyError } from '../errors/index.js';
import type { ApiRole } from '../store/types.js';
import { apiActor } from './auth.js';
import type { ProvisionerContext } from './context.js';

const EXPIRY_WINDOW_DAYS = 30;
const EXPIRING_LISTED = 100;

/** `/v1/ca`, `/v1/crl`, `/v1/status`, `/v1/audit`, `/v1/tokens`. */
export async function fleetRoutes(app: FastifyInstance, ctx: ProvisionerContext): Promise<void> {
  const { store } = ctx;
  const { ca } = ctx.deps.issuer;
  const chainPem = ca.issuing.certificate.pem + ca.root.certificate.pem;

  // The trust bundle, issuing CA then root (RFC 8555 §9.1 media type).
  app.get('/ca', { config: { access: 'public' } }, async (_request, reply) => reply.type('application/pem-certificate-chain').send(chainPem));

  // The issuing CA's current CRL, DER (RFC 5280 §5, media type RFC 2585 §4.2).
  app.get('/crl', { config: { access: 'public' } }, async (_request, reply) => {
    const der = ctx.crl.der;
    if (der === undefined) throw new FleetkeyError('PROVISIONER_NOT_READY', 'no CRL built yet');
    return reply.type('application/pkix-crl').header('cache-control', 'no-cache').send(der);
  });

  app.get('/status', { config: { access: ['factory', 'operator'] } }, async () => {
    const before = new Date(Date.now() + EXPIRY_WINDOW_DAYS * 86_400_000);
    const [devices, expiring, epoch] = await Promise.all([store.countDevices(), store.listExpiringCertificates(before), store.currentEpoch()]);
    return {
      devices,
      expiring: {
        withinDays: EXPIRY_WINDOW_DAYS,
        count: expiring.length,
        certificates: expiring.slice(0, EXPIRING_LISTED).map((c) => ({ serial: c.serial, subject: c.subject, notAfter: c.notAfter.toISOString() })),
      },
      epoch: epoch?.epoch ?? null,
      crl: { ready: ctx.crl.der !== undefined },
    };
  });

  app.get<{ Querystring: { cursor?: string; limit?: number; subject?: string } }>('/audit', {
    config: { access: ['operator'] },
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          cursor: { type: 'string', maxLength: 64 },
          limit: { type: 'integer', minimum: 1, maximum: 1000 },
          subject: { type: 'string', minLength: 1, maxLength: 256 },
        },
      },
    },
  }, async (request) => {
    const page = await store.readAudit(request.query);
    return {
      entries: page.entries.map((e) => ({ id: e.id, time: e.time.toISOString(), actor: e.actor, action: e.action, subject: e.subject, detail: e.detail ?? null })),
      nextCursor: page.nextCursor ?? null,
    };
  });

  // API tokens: admin only. The secret is shown once; the store keeps its hash.
  app.post<{ Body: { role: ApiRole; label?: string } }>('/tokens', {
    config: { access: [] },
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['role'],
        properties: { role: { type: 'string', enum: ['factory', 'operator', 'admin'] }, label: { type: 'string', minLength: 1, maxLength: 256 } },
      },
    },
  }, async (request, reply) => {
    const secret = newApiSecret();
    const record = await store.createApiToken({ id: newApiTokenId(), secret, role: request.body.role, label: request.body.label }, apiActor(request));
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ id: record.id, role: record.role, label: record.label ?? null, createdAt: record.createdAt.toISOString(), token: secret });
  });
}

/** `fk_` + 32 random bytes, base64url. */
export function newApiSecret(): string {
  return `fk_${randomBytes(32).toString('base64url')}`;
}

export function newApiTokenId(): string {
  return `tok-${randomBytes(6).toString('hex')}`;
}
