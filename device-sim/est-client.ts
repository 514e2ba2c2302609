import { request } from 'node:https';
import { CERT_TIME_CODES, certTimeReason } from '../certs/clock.js';
import { decodeCertsOnlyBase64 } from '../certs/cms.js';
import { catalogue, type ErrorCode } from '../errors/index.js';

/**
 * The device side of EST (RFC 7030) as a constrained device would speak it: one fresh TLS connection
 * per request (no pooling across devices), the fleet CA as the only trust anchor, a base64 PKCS#10
 * body (§4.2.1) and a base64 certs-only answer (§4.2.3).
 */
export interface EstServer {
  /** `https://host:port` of the provisioner. */
  readonly url: string;
  /** PEM certificates that the provisioner's server certificate chains to (the fleet CA). */
  readonly ca: readonly string[];
  /** Per-request timeout, ms. Default 30 s. */
  readonly timeoutMs?: number;
}

/** A device's TLS client identity for `simplereenroll`: certificate (+ issuing CA) and key, PEM. */
export interface EstClientIdentity {
  readonly cert: string;
  readonly key: string;
}

/** The server's HTTP `Date` (ms), when it answered with one (RFC 9110 §6.6.1). */
interface Dated {
  readonly serverDateMs?: number;
}

export type EstAnswer = Dated & (
  | { readonly ok: true; readonly certificate: Buffer }
  | {
    readonly ok: false;
    /** The server's catalogue code, or SIM_EST_FAILED for transport faults and unreadable answers. */
    readonly code: ErrorCode;
    readonly status: number;
    /** Worth another try later: transport faults, 429 and 5xx. */
    readonly transient: boolean;
    /** Seconds from Retry-After, when given. */
    readonly retryAfterSeconds?: number;
    readonly detail: string;
  });

const EST_PATH = '/.well-known/est';

/** RFC 7030 §4.2.1: first enrollment, HTTP Basic = device id and its one-time token. */
export function simpleEnroll(server: EstServer, deviceId: string, token: string, csrDer: Buffer): Promise<EstAnswer> {
  const basic = Buffer.from(`${deviceId}:${token}`, 'utf8').toString('base64');
  return post(server, 'simpleenroll', csrDer, { authorization: `Basic ${basic}` });
}

/** RFC 7030 §4.2.2: renewal or re-key, authenticated by the current certificate over mutual TLS. */
export function simpleReenroll(server: EstServer, identity: EstClientIdentity, csrDer: Buffer): Promise<EstAnswer> {
  return post(server, 'simplereenroll', csrDer, {}, identity);
}

function post(server: EstServer, op: string, csrDer: Buffer, headers: Record<string, string>, client?: EstClientIdentity): Promise<EstAnswer> {
  const body = Buffer.from(`${csrDer.toString('base64').match(/.{1,64}/g)!.join('\r\n')}\r\n`);
  const target = new URL(`${EST_PATH}/${op}`, server.url);
  return new Promise((resolve) => {
    const fail = (detail: string): void => resolve({ ok: false, code: 'SIM_EST_FAILED', status: 0, transient: true, detail });
    // The provisioner's certificate out of time by the device's clock: retrying cannot help until a clock is set.
    const outOfTime = (err: Error & { code?: unknown }): boolean => {
      const reason = certTimeReason(err.code);
      if (reason) resolve({ ok: false, code: CERT_TIME_CODES[reason], status: 0, transient: false, detail: `${op}: ${err.message} by this device's clock (${new Date().toISOString()})` });
      return reason !== undefined;
    };
    const req = request(target, {
      method: 'POST',
      agent: false,
      ca: [...server.ca],
      ...(client ? { cert: client.cert, key: client.key } : {}),
      timeout: server.timeoutMs ?? 30_000,
      headers: {
        ...headers,
        'content-type': 'application/pkcs10',
        'content-transfer-encoding': 'base64',
        'content-length': String(body.length),
        accept: 'application/pkcs7-mime',
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => fail(`${op}: ${err.message}`));
      res.on('end', () => {
        const serverDateMs = Date.parse(res.headers.date ?? '');
        const answer = answerOf(op, res.statusCode ?? 0, res.headers['retry-after'], Buffer.concat(chunks));
        resolve(Number.isFinite(serverDateMs) ? { ...answer, serverDateMs } : answer);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: Error & { code?: unknown }) => {
      if (!outOfTime(err)) fail(`${op}: ${err.message}`);
    });
    req.end(body);
  });
}

function answerOf(op: string, status: number, retryAfter: string | string[] | undefined, data: Buffer): EstAnswer {
  if (status === 200) {
    try {
      const [leaf] = decodeCertsOnlyBase64(data);
      if (leaf) return { ok: true, certificate: leaf };
    } catch {
      // reported below
    }
    return { ok: false, code: 'SIM_EST_FAILED', status, transient: false, detail: `${op}: 200 without a certs-only body` };
  }
  const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  return {
    ok: false,
    code: serverCode(data),
    status,
    transient: status === 429 || status >= 500,
    ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfterSeconds: seconds } : {}),
    detail: `${op}: HTTP ${status}`,
  };
}

/** `{ "error": { "code" } }` as the provisioner sends it, when the code is one of ours. */
function serverCode(data: Buffer): ErrorCode {
  try {
    const code = (JSON.parse(data.toString('utf8')) as { error?: { code?: unknown } }).error?.code;
    if (typeof code === 'string' && Object.hasOwn(catalogue, code)) return code as ErrorCode;
  } catch {
    // not JSON
  }
  return 'SIM_EST_FAILED';
}
