/** The broker's TLS listener settings over the bench's certificate files, for the Node children. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsOptions } from 'node:tls';
import { FILES } from './fixtures.js';

export function listenerOptions(dir: string): TlsOptions {
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  return {
    ca: [read(FILES.root), read(FILES.issuing)],
    cert: read(FILES.serverCert),
    key: read(FILES.serverKey),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}
