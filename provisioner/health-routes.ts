import type { FastifyInstance } from 'fastify';
import { FleetkeyError } from '../errors/index.js';
import type { ProvisionerContext } from './context.js';

/** `/readyz` answers 503 rather than wait longer than this for the store. */
const READY_TIMEOUT_MS = 1000;

/** `/healthz` (the process answers), `/readyz` (store reachable, CRL built), `/metrics` (Prometheus). */
export async function healthRoutes(app: FastifyInstance, ctx: ProvisionerContext): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    if (ctx.crl.der === undefined) throw new FleetkeyError('PROVISIONER_NOT_READY', 'no CRL built yet');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new FleetkeyError('PROVISIONER_NOT_READY', `store did not answer in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([ctx.store.countDevices(), timeout]);
    } catch (err) {
      throw err instanceof FleetkeyError && err.code === 'PROVISIONER_NOT_READY'
        ? err
        : new FleetkeyError('PROVISIONER_NOT_READY', `store: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return { status: 'ready' };
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
