import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { FleetkeyError, isFleetkeyError, type ErrorCode } from '../errors/index.js';
import type { ProvisionerMetrics } from './metrics.js';

/** A refusal that carries response headers (WWW-Authenticate, Retry-After) with it. */
export class Refusal extends FleetkeyError {
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, detail: string | undefined, headers: Readonly<Record<string, string>>) {
    super(code, detail);
    this.headers = headers;
  }
}

export const EST_REALM = 'Basic realm="fleetkey EST", charset="UTF-8"';
export const API_REALM = 'Bearer realm="fleetkey"';

/** RFC 7235 §3.1: a 401 names the scheme that would work; EST (Basic) and the REST API (Bearer) differ. */
function challenge(code: ErrorCode, url: string): string | undefined {
  if (code === 'ENROLL_AUTH_REQUIRED' || (code === 'ENROLLMENT_REFUSED' && url.startsWith('/.well-known/est/'))) return EST_REALM;
  if (code === 'API_AUTH_REQUIRED') return API_REALM;
  if (code === 'API_TOKEN_INVALID') return `${API_REALM}, error="invalid_token"`;
  return undefined;
}

/** RFC 9110 §10.2.3: seconds a client should wait after a 503, 2 to 4, spread so that clients do not come back in step. */
export function unavailableRetryAfter(random: () => number = Math.random): number {
  return 2 + Math.floor(random() * 3);
}

/** Fastify's own failures (body limit, content type, JSON syntax, schema validation) as catalogue codes. */
function fromFastify(err: FastifyError): FleetkeyError {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new FleetkeyError('BODY_TOO_LARGE', err.message);
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new FleetkeyError('MEDIA_TYPE_UNSUPPORTED', err.message);
  if (err.validation !== undefined || (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)) {
    return new FleetkeyError('REQUEST_INVALID', err.message);
  }
  return new FleetkeyError('INTERNAL', err.message, { cause: err });
}

/**
 * Sends `{ "error": { code, message } }` with the code's status; the detail goes to the log only. Every
 * 503 (the store unreachable or lost, not ready) says when to come back: the provisioner fails fast
 * and the client, not the provisioner, waits.
 */
export function sendRefusal(reply: FastifyReply, err: FleetkeyError, url: string): FastifyReply {
  const scheme = challenge(err.code, url);
  if (scheme !== undefined) reply.header('www-authenticate', scheme);
  if (err instanceof Refusal) for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  if (err.status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(unavailableRetryAfter()));
  return reply.code(err.status).type('application/json').send(err.toJSON());
}

/** Every failure, thrown anywhere, leaves as a catalogue error; unknown routes are ROUTE_NOT_FOUND. */
export function installErrorHandling(app: FastifyInstance, log: Logger, metrics: ProvisionerMetrics): void {
  app.setErrorHandler((error: FastifyError | FleetkeyError, request: FastifyRequest, reply: FastifyReply) => {
    const err = isFleetkeyError(error) ? error : fromFastify(error as FastifyError);
    const entry = { event: 'refused', method: request.method, url: request.url, ip: request.ip, code: err.code, status: err.status, detail: err.detail };
    if (err.status === 503) metrics.unavailable.inc({ code: err.code });
    if (err.status === 503) log.warn(entry, 'request refused: unavailable');
    else if (err.status >= 500) log.error({ ...entry, err: error }, 'request failed');
    else log.info(entry, 'request refused');
    return sendRefusal(reply, err, request.url);
  });
  app.setNotFoundHandler((request, reply) => sendRefusal(reply, new FleetkeyError('ROUTE_NOT_FOUND', `${request.method} ${request.url}`), request.url));
}
