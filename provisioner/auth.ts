import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FleetkeyError } from '../errors/index.js';
import type { ApiRole, ApiTokenRecord, Store } from '../store/types.js';

/** Who may call a REST route: the roles (admin may always), or `public` for the CA chain and the CRL. */
export type RouteAccess = readonly ApiRole[] | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

const callers = new WeakMap<FastifyRequest, ApiTokenRecord>();

/** HTTP Basic credentials (RFC 7617 §2): user id up to the first colon, password after it. */
export function basicCredentials(request: FastifyRequest): { user: string; password: string } | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ ]+([\x21-\x7e]+)\s*$/i.exec(header) : null;
  return match?.[1];
}

/**
 * Bearer-token authorization for every route of the REST API, deny by default: a route that does not
 * declare `config.access` answers 403 to everyone. Tokens are looked up by hash in the store.
 */
export function requireApiAccess(app: FastifyInstance, store: Store): void {
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config.access;
    if (access === 'public') return;
    const secret = bearerToken(request);
    if (secret === undefined) throw new FleetkeyError('API_AUTH_REQUIRED', request.headers.authorization ? 'not a Bearer token' : 'no Authorization');
    const token = await store.findApiToken(secret);
    if (token === undefined) throw new FleetkeyError('API_TOKEN_INVALID', 'unknown or revoked API token');
    if (access === undefined || (token.role !== 'admin' && !access.includes(token.role))) {
      throw new FleetkeyError('API_ROLE_FORBIDDEN', `token ${token.id} (${token.role}) on ${request.method} ${request.routeOptions.url}`);
    }
    callers.set(request, token);
  });
}

/** The audit actor of an authorized REST request: `api:<token id>`. */
export function apiActor(request: FastifyRequest): string {
  const token = callers.get(request);
  if (token === undefined) throw new FleetkeyError('INTERNAL', `no API caller on ${request.routeOptions.url}`);
  return `api:${token.id}`;
}
