import { randomBytes, type KeyObject } from 'node:crypto';
import { CompactSign } from 'jose';
import { createFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate, issueServiceCertificate } from '../../certs/issue.js';
import { generateDeviceKey, type KeyType } from '../../certs/keys.js';
import type { FleetCa, IssuedCertificate, ServiceRole } from '../../certs/types.js';
import { buildDeviceGrant, buildEpochGrant, type GrantSigner } from '../../protocol/grant.js';
import { verifyGrant, type VerifiedGrant } from '../../protocol/grant-verify.js';

/** A fleet for protocol tests: fresh CA and KDC per run, real crypto throughout. */
export interface ProtocolFleet {
  readonly ca: FleetCa;
  readonly signer: GrantSigner;
  readonly kdcCert: IssuedCertificate;
  readonly now: number;
  readonly times: { iat: number; nbf: number; exp: number };
  party(role: 'device', id: string, type?: KeyType): Party;
  party(role: ServiceRole, name: string, type?: KeyType): Party;
  /** A device grant for `device` with sensible defaults. */
  deviceGrant(device: Party, opts?: Partial<{ epoch: number; grant: number; key: Buffer; req: string; iat: number; nbf: number; exp: number; signer: GrantSigner }>): Promise<string>;
  epochGrant(consumer: Party, opts?: Partial<{ epoch: number; secret: Buffer; req: string; nbf: number; exp: number }>): Promise<string>;
  verifyAs(party: Party, jws: string, now?: number): Promise<VerifiedGrant>;
  /** Signs any payload/header with the KDC key (to craft grants only a KDC bug or key theft could make). */
  signRaw(payload: string | object, header?: Record<string, unknown>, key?: KeyObject): Promise<string>;
}

export interface Party {
  readonly id: string;
  readonly kind: 'device' | 'consumer' | 'other';
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly cert: IssuedCertificate;
}

export function protocolFleet(): ProtocolFleet {
  const ca = createFleetCa({ name: 'Protocol Test' });
  const kdcKeys = generateDeviceKey('ec-p256');
  const kdcCert = issueServiceCertificate(ca, { role: 'kdc', name: '1', publicKey: kdcKeys.publicKey });
  const signer: GrantSigner = { key: kdcKeys.privateKey, x5c: [kdcCert.der, ca.issuing.certificate.der] };
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  const times = { iat: sec, nbf: sec, exp: sec + 300 };
  const x5c = signer.x5c.map((der) => der.toString('base64'));

  const fleet: ProtocolFleet = {
    ca,
    signer,
    kdcCert,
    now,
    times,
    party(role: 'device' | ServiceRole, id: string, type: KeyType = 'ec-p256'): Party {
      const keys = generateDeviceKey(type);
      if (role === 'device') {
        return { id, kind: 'device', ...keys, cert: issueDeviceCertificate(ca, { deviceId: id, publicKey: keys.publicKey }) };
      }
      const cert = issueServiceCertificate(ca, { role, name: id, publicKey: keys.publicKey });
      return { id: `${role}-${id}`, kind: role === 'consumer' ? 'consumer' : 'other', ...keys, cert };
    },
    deviceGrant(device, opts = {}) {
      return buildDeviceGrant({
        signer: opts.signer ?? signer,
        deviceId: device.id,
        devicePublicKey: device.publicKey,
        epoch: opts.epoch ?? 1,
        grant: opts.grant ?? 1,
        key: opts.key ?? randomBytes(32),
        req: opts.req,
        iat: opts.iat ?? times.iat,
        nbf: opts.nbf ?? times.nbf,
        exp: opts.exp ?? times.exp,
      });
    },
    epochGrant(consumer, opts = {}) {
      return buildEpochGrant({
        signer,
        consumerId: consumer.id,
        consumerPublicKey: consumer.publicKey,
        epoch: opts.epoch ?? 1,
        epochSecret: opts.secret ?? randomBytes(32),
        req: opts.req,
        iat: times.iat,
        nbf: opts.nbf ?? times.nbf,
        exp: opts.exp ?? times.exp,
      });
    },
    verifyAs(party, jws, at = now) {
      return verifyGrant(jws, {
        fleetRoot: ca.root.certificate.x509,
        expectedSubject: party.id,
        recipientKey: party.privateKey,
        expect: party.kind === 'consumer' ? 'consumer' : 'device',
        now: at,
      });
    },
    signRaw(payload, header = { alg: 'ES256', x5c }, key = kdcKeys.privateKey) {
      const bytes = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8');
      return new CompactSign(bytes).setProtectedHeader(header as { alg: string }).sign(key);
    },
  };
  return fleet;
}

/** The payload of a compact JWS, parsed (no verification). */
export function payloadOf(jws: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Replaces one character of a base64url segment with a different one. */
export function flipChar(segment: string, at: number): string {
  const c = segment[at]!;
  return segment.slice(0, at) + (c === 'A' ? 'B' : 'A') + segment.slice(at + 1);
}
