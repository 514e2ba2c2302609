/**
 * A fresh CONNECT as a device, for the faults bench: what the broker answers and how fast. One
 * connection, no reconnects; the answer is `admitted`, the CONNACK return code it refused with, or
 * `closed` / `timeout` when no CONNACK came.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { BUNDLE_FILES } from '../../device-sim/index.js';

export type ProbeAnswer = 'admitted' | `connack-${number}` | 'closed' | 'timeout';

export interface Probe {
  readonly answer: ProbeAnswer;
  readonly ms: number;
}

export interface ProbeDevice {
  readonly id: string;
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export function loadProbeDevice(bundleDir: string, id: string): ProbeDevice {
  const at = join(bundleDir, id);
  const read = (file: string) => readFileSync(join(at, file), 'utf8');
  return { id, key: read(BUNDLE_FILES.key), cert: read(BUNDLE_FILES.cert) + read(BUNDLE_FILES.chain), ca: read(BUNDLE_FILES.chain) };
}

export function probeConnect(url: string, device: ProbeDevice, timeoutMs = 5000): Promise<Probe> {
  const started = performance.now();
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      protocolVersion: 4, clientId: device.id, clean: true, keepalive: 30, reconnectPeriod: 0, connectTimeout: timeoutMs,
      key: device.key, cert: device.cert, ca: device.ca, rejectUnauthorized: true,
    });
    let done = false;
    const finish = (answer: ProbeAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ answer, ms: Math.round(performance.now() - started) });
      client.end(true);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    client.on('connect', () => finish('admitted'));
    client.on('error', (err: Error & { code?: unknown }) => finish(typeof err.code === 'number' ? `connack-${err.code}` : 'closed'));
    client.on('close', () => finish('closed'));
  });
}
