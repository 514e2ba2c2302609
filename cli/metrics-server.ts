import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { FleetkeyError } from '../errors/index.js';
import type { Store } from '../store/types.js';

/** Longest `/readyz` waits for the store before answering 503. */
export const READY_TIMEOUT_MS = 1000;

/** Resolves when the service can do its work; rejects (with the reason) when it cannot. */
export type ReadinessCheck = () => Promise<void>;

/** Ready while the store answers a cheap read within READY_TIMEOUT_MS (a lost store refuses every read). */
export function storeAnswers(store: Store): ReadinessCheck {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`store did not answer in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([store.countDevices(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/**
 * A plain HTTP listener for Prometheus scrapes (`/metrics`), liveness (`/healthz`: the process answers)
 * and, given a check, readiness (`/readyz`: 503 with the reason while the check fails).
 */
export async function serveMetrics(registry: Registry, host: string, port: number, ready?: ReadinessCheck): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (req.method === 'GET' && req.url === '/readyz' && ready !== undefined) {
      ready().then(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}'),
        (err: unknown) => {
          const refusal = new FleetkeyError('SERVICE_NOT_READY', err instanceof Error ? err.message : String(err));
          res.writeHead(refusal.status, { 'content-type': 'application/json' }).end(JSON.stringify(refusal.toJSON()));
        },
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"NOT_FOUND","message":"Not found."}}');
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}
