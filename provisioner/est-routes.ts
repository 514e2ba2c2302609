import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { assembleCertsOnly } from '../certs/cms.js';
import { isValidDeviceId } from '../certs/identity.js';
import type { IssuedCertificate } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';
import { basicCredentials } from './auth.js';
import { enrollWithCsr, enrollWithServerKey } from './enroll.js';
import type { Attempt, EnrollGuard } from './enroll-guard.js';
import { base64Lines, CERTS_ONLY, certsOnlyBody, CSRATTRS_MEDIA_TYPE, csrAttrsDer, serverKeygenBody } from './est-wire.js';
import { pkcs8Der } from './issuance.js';
import type { EnrollMethod, ProvisionerMetrics } from './metrics.js';
import { deviceIdentity, reenrollWithCertificate, trustedClientCertificate, type ReenrollDeps } from './reenroll.js';

export interface EstRoutesContext {
  readonly deps: ReenrollDeps;
  readonly guard: EnrollGuard;
  readonly metrics: ProvisionerMetrics;
}

/** RFC 7030 §4.1.3 / §4.2.3: base64 bodies say so. */
function sendBase64(reply: FastifyReply, type: string, body: string): FastifyReply {
  return reply.code(200).type(type).header('content-transfer-encoding', 'base64').send(body);
}

function newAttempt(method: EnrollMethod, request: FastifyRequest): Attempt {
  return { method, ip: request.ip, actor: `client:${request.ip}` };
}

/**
 * Basic credentials of simpleenroll and serverkeygen (RFC 7030 §3.2.3): none → 401 with a Basic
 * challenge; a user name that cannot be a device id gets the same 401 as a wrong token.
 */
function tokenCredentials(guard: EnrollGuard, attempt: Attempt, request: FastifyRequest): { deviceId: string; token: string } {
  guard.limitIp(attempt);
  const credentials = basicCredentials(request);
  if (credentials === undefined) throw new FleetkeyError('ENROLL_AUTH_REQUIRED', 'no Basic credentials');
  if (!isValidDeviceId(credentials.user)) throw new FleetkeyError('ENROLLMENT_REFUSED', 'user name is not a device id');
  attempt.deviceId = credentials.user;
  guard.limitDevice(attempt, credentials.user);
  return { deviceId: credentials.user, token: credentials.password };
}

/** The EST endpoints under `/.well-known/est/`. Request bodies arrive as bytes, whatever their content type. */
export async function estRoutes(app: FastifyInstance, ctx: EstRoutesContext): Promise<void> {
  const { deps, guard } = ctx;
  const { ca } = deps.issuer;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const body = (request: FastifyRequest): Buffer | undefined => (Buffer.isBuffer(request.body) ? request.body : undefined);
  const cacerts = certsOnlyBody([ca.issuing.certificate.der, ca.root.certificate.der]);
  const csrattrs = base64Lines(csrAttrsDer);
  const issuedBody = (issued: IssuedCertificate) => certsOnlyBody([issued.der]);

  // §4.1: the CA certificates, issuing CA then root; no authentication.
  app.get('/cacerts', async (_request, reply) => sendBase64(reply, CERTS_ONLY, cacerts));

  // §4.5: what a request should contain.
  app.get('/csrattrs', async (_request, reply) => sendBase64(reply, CSRATTRS_MEDIA_TYPE, csrattrs));

  // §4.2.1: first enrollment, Basic = device id + one-time token.
  app.post('/simpleenroll', async (request, reply) => {
    const attempt = newAttempt('simpleenroll', request);
    const { issued, retried } = await guard.run(attempt, async () => {
      const { deviceId, token } = tokenCredentials(guard, attempt, request);
      return enrollWithCsr(deps, deviceId, token, body(request));
    });
    if (retried) guard.noteRetry(attempt, issued.serial, undefined);
    return sendBase64(reply, CERTS_ONLY, issuedBody(issued));
  });

  // §4.2.2: renewal or re-key with the current certificate over mutual TLS.
  app.post('/simplereenroll', async (request, reply) => {
    const attempt = newAttempt('simplereenroll', request);
    const { issued, superseded } = await guard.run(attempt, async () => {
      guard.limitIp(attempt);
      const presented = trustedClientCertificate(request.raw.socket as TLSSocket);
      const deviceId = deviceIdentity(presented);
      attempt.deviceId = deviceId;
      attempt.actor = `device:${deviceId}`;
      guard.limitDevice(attempt, deviceId);
      return reenrollWithCertificate(deps, deviceId, presented, body(request));
    });
    if (superseded.length > 0) ctx.metrics.revocations.inc({ reason: 'superseded' }, superseded.length);
    return sendBase64(reply, CERTS_ONLY, issuedBody(issued));
  });

  // §4.4: the server makes the key (factory flashing); multipart answer, key first. A retry with the
  // consumed token gets a new key: the private key is never stored (provisioner/enroll-retry.ts).
  app.post('/serverkeygen', async (request, reply) => {
    const attempt = newAttempt('serverkeygen', request);
    const made = await guard.run(attempt, async () => {
      const { deviceId, token } = tokenCredentials(guard, attempt, request);
      return enrollWithServerKey(deps, deviceId, token, body(request));
    });
    if (made.retried) guard.noteRetry(attempt, made.issued.serial, made.supersedes);
    const { contentType, body: multipart } = serverKeygenBody({
      privateKey: pkcs8Der(made.privateKey),
      certsOnly: assembleCertsOnly([made.issued.der]),
    });
    return reply.code(200).header('content-type', contentType).send(multipart);
  });
}
