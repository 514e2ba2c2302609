import { FleetkeyError } from '../errors/index.js';
import { generateDeviceKey } from './keys.js';
import { builtCertificate, keyIdentifier } from './certificate.js';
import { OID } from './oids.js';
import { basicConstraints, caKeyUsage, distinguishedName, subjectKeyIdentifier } from './profile.js';
import { makeSigner, signCertificate } from './signer.js';
import type { FleetCa } from './types.js';
import { newSerial, validityWindow } from './validity.js';

export { toIssuedCertificate } from './certificate.js';
export { loadFleetCa, saveFleetCa, type CaFileOptions } from './ca-files.js';

/** The curves a root key may have (DESIGN.md), the default first. */
export const ROOT_CURVES = ['P-384', 'P-256'] as const;
export type RootCurve = (typeof ROOT_CURVES)[number];

export interface CreateFleetCaOptions {
  /** Organisation name; subjects are `O=<name>, CN=<name> Root CA` and `… Issuing CA`. */
  readonly name: string;
  readonly rootCurve?: RootCurve;
  readonly rootLifetimeDays?: number;
  readonly issuingLifetimeDays?: number;
  readonly now?: Date;
}

// Control characters (C0, DEL, C1) have no place in a subject.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** CN = "<name> Issuing CA" must fit ub-common-name (64, RFC 5280 Appendix A.1). */
function assertCaName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.trim() !== name || name.length < 1 || name.length > 50 || CONTROL.test(name)) {
    throw new FleetkeyError('CA_NAME_INVALID', `CA name ${JSON.stringify(name)?.slice(0, 80)}`);
  }
}

/**
 * A new fleet CA: a self-signed ECDSA root (P-384 by default) and an ECDSA P-256 issuing CA with
 * pathLen 0 that signs every leaf. Both keys are in memory only until `saveFleetCa`.
 */
export function createFleetCa(opts: CreateFleetCaOptions): FleetCa {
  assertCaName(opts.name);
  const rootCurve = opts.rootCurve ?? ROOT_CURVES[0];
  if (!ROOT_CURVES.includes(rootCurve)) throw new FleetkeyError('CONFIG_INVALID', `root curve ${JSON.stringify(rootCurve)}: one of ${ROOT_CURVES.join(', ')}`);
  const now = opts.now ?? new Date();
  const root = generateDeviceKey(rootCurve === 'P-256' ? 'ec-p256' : 'ec-p384');
  const rootName = distinguishedName([[OID.organizationName, opts.name], [OID.commonName, `${opts.name} Root CA`]]);
  const rootSpki = root.publicKey.export({ type: 'spki', format: 'der' });
  const rootKeyId = keyIdentifier(rootSpki);
  const rootValidity = validityWindow(now, opts.rootLifetimeDays ?? 3650);
  const rootSigner = makeSigner(root.privateKey, rootName, rootKeyId, rootValidity.notAfter);
  const rootSerial = newSerial();
  const rootDer = signCertificate(rootSigner, {
    serial: rootSerial,
    ...rootValidity,
    subjectName: rootName,
    spki: rootSpki,
    // RFC 5280 §4.2.1.1: a self-signed root may omit AKI; its SKI is what issued certificates point at.
    extensions: [basicConstraints(true), caKeyUsage, subjectKeyIdentifier(rootKeyId)],
  });

  const issuing = generateDeviceKey('ec-p256');
  const issuingName = distinguishedName([[OID.organizationName, opts.name], [OID.commonName, `${opts.name} Issuing CA`]]);
  const issuingSpki = issuing.publicKey.export({ type: 'spki', format: 'der' });
  const issuingValidity = validityWindow(now, opts.issuingLifetimeDays ?? 1825, rootValidity.notAfter);
  const issuingSerial = newSerial();
  const issuingDer = signCertificate(rootSigner, {
    serial: issuingSerial,
    ...issuingValidity,
    subjectName: issuingName,
    spki: issuingSpki,
    extensions: [basicConstraints(true, 0), caKeyUsage, subjectKeyIdentifier(keyIdentifier(issuingSpki)), rootSigner.akiExtension],
  });

  return {
    root: { certificate: builtCertificate(rootDer, rootSerial, rootValidity.notBefore, rootValidity.notAfter), privateKey: root.privateKey },
    issuing: {
      certificate: builtCertificate(issuingDer, issuingSerial, issuingValidity.notBefore, issuingValidity.notAfter),
      privateKey: issuing.privateKey,
    },
  };
}

/** The root key, or CA_ROOT_KEY_UNAVAILABLE when the root is kept offline or still encrypted. */
export function requireRootKey(ca: FleetCa): NonNullable<FleetCa['root']['privateKey']> {
  if (!ca.root.privateKey) throw new FleetkeyError('CA_ROOT_KEY_UNAVAILABLE');
  return ca.root.privateKey;
}
