import type { FastifyInstance } from 'fastify';
import { rotationRequestAudit } from '../store/records.js';
import { apiActor } from './auth.js';
import type { ProvisionerContext } from './context.js';
import { epochView } from './views.js';

/**
 * `/v1/rotations`: asking for a fleet key rotation and reading its progress. The provisioner audits the
 * request, naming the epoch it asks for, and publishes it (`rotate-requested` on the store); the KDC,
 * the one holder of the KEK, carries it out, and with several KDC replicas exactly one does
 * (`createNextEpoch`). A KDC that was down or cut off when the event went out finds the audit entry.
 */
export async function rotationRoutes(app: FastifyInstance, ctx: ProvisionerContext): Promise<void> {
  const { store } = ctx;

  app.post<{ Body: { switchAfterSeconds?: number } | undefined }>('/rotations', {
    config: { access: ['operator'] },
    schema: {
      body: {
        type: ['object', 'null'],
        additionalProperties: false,
        properties: { switchAfterSeconds: { type: 'integer', minimum: 1, maximum: 86_400 } },
      },
    },
  }, async (request, reply) => {
    const requestedBy = apiActor(request);
    const switchAfterSeconds = request.body?.switchAfterSeconds;
    const current = await store.currentEpoch();
    await store.appendAudit({
      actor: requestedBy,
      action: rotationRequestAudit.action,
      subject: rotationRequestAudit.subject((current?.epoch ?? 0) + 1),
      detail: switchAfterSeconds === undefined ? {} : { switchAfterSeconds },
    });
    await store.publish({ type: 'rotate-requested', requestedBy, switchAfterSeconds });
    return reply.code(202).send({ requested: true, requestedBy, switchAfterSeconds: switchAfterSeconds ?? null, currentEpoch: current?.epoch ?? null });
  });

  app.get<{ Querystring: { unacked?: number } }>('/rotations/current', {
    config: { access: ['operator'] },
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: { unacked: { type: 'integer', minimum: 0, maximum: 1000 } } },
    },
  }, async (request) => {
    const epoch = await store.currentEpoch();
    if (epoch === undefined) return { epoch: null, unacked: [] };
    const limit = request.query.unacked ?? 100;
    const [progress, unacked] = await Promise.all([
      store.epochProgress(epoch.epoch),
      limit === 0 ? Promise.resolve([]) : store.listUnacked(epoch.epoch, limit),
    ]);
    return { epoch: epochView(epoch, progress), unacked };
  });
}
