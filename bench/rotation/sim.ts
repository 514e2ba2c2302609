/**
 * The rotation bench's devices: N MQTT.js clients over mutual TLS in one child process (the broker and
 * KDC hold the other N descriptors in the parent). Each device subscribes to devices/D/rekey, requests a
 * key, and acks every grant at once — it reads the grant's claims but leaves the crypto for later: on a
 * 2-core machine shared with the KDC, verifying 10,000 grants (≈ 1 ms each) would measure the simulator.
 * Every 100th device keeps its grants; `verify` on stdin checks those fully (chain, ES256, unwrap).
 * Usage: node sim.js <sim.json> <broker port>. Prints JSON lines.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createSecureContext } from 'node:tls';
import { verifyGrant } from '../../protocol/grant-verify.js';
import { encodeRekeyAck, encodeRekeyRequest, newNonce } from '../../protocol/rekey-messages.js';
import { deviceTopics } from '../../protocol/topics.js';
import { connectMqtt, pool } from '../broker/clients.js';
import type { SimFixtures } from './fixtures.js';

const [file, port] = [process.argv[2]!, Number(process.argv[3])];
const fx = JSON.parse(readFileSync(file, 'utf8')) as SimFixtures;
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const SAMPLE_EVERY = 100;
const samples: Array<{ index: number; jws: string }> = [];
let grants = 0;
let mismatched = 0;
let failures = 0;

const started = process.hrtime.bigint();
await pool(fx.devices.length, 64, async (i) => {
  const d = fx.devices[i]!;
  try {
    const { client } = await connectMqtt(port, d.id, createSecureContext({ ca: fx.ca, cert: d.cert, key: d.key }), { keepalive: 900 });
    client.on('message', (_topic, payload) => {
      const jws = payload.toString('utf8');
      const claims = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string; epoch: number; grant: number };
      if (claims.sub !== d.id) mismatched++;
      grants++;
      client.publish(deviceTopics.rekeyAck(d.id), encodeRekeyAck({ epoch: claims.epoch, grant: claims.grant }), { qos: 1 });
      if (i % SAMPLE_EVERY === 0) samples.push({ index: i, jws });
    });
    await client.subscribeAsync(deviceTopics.rekey(d.id), { qos: 1 });
    client.publish(deviceTopics.rekeyRequest(d.id), encodeRekeyRequest(newNonce()), { qos: 1 });
  } catch {
    failures++;
  }
});
say({ connected: fx.devices.length - failures, failures, seconds: Number(process.hrtime.bigint() - started) / 1e9 });

const fleetRoot = new X509Certificate(fx.ca[0]!);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stats') say({ grants, mismatched });
  if (line === 'verify') {
    void (async () => {
      let verified = 0;
      const failed: string[] = [];
      for (const s of samples) {
        const d = fx.devices[s.index]!;
        try {
          await verifyGrant(s.jws, { fleetRoot, expectedSubject: d.id, recipientKey: createPrivateKey(d.key), expect: 'device' });
          verified++;
        } catch (err) {
          failed.push(`${d.id}: ${(err as { code?: string }).code ?? String(err)}`);
        }
      }
      say({ verified, failed });
    })();
  }
  if (line === 'exit') process.exit(0);
});
