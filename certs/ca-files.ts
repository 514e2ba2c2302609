import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { writeFileAtomic } from './atomic-file.js';
import { toIssuedCertificate } from './certificate.js';
import { keyTypeOf } from './keys.js';
import { fromPem, pemHeader } from './pem.js';
import type { CaMaterial, FleetCa, IssuedCertificate } from './types.js';

/** File names inside a CA directory. */
export const CA_FILES = {
  rootCertificate: 'root.pem',
  rootKey: 'root.key',
  issuingCertificate: 'issuing.pem',
  issuingKey: 'issuing.key',
  chain: 'chain.pem',
} as const;

export interface CaFileOptions {
  /** Encrypts the root key on save (PKCS#8, AES-256-CBC) and decrypts it on load. */
  readonly rootPassphrase?: string;
}


/**
 * Saves the CA as PEM: certificates 0644, keys as PKCS#8 0600, `chain.pem` = issuing then root.
 * A root without its key (kept offline) leaves any existing `root.key` alone.
 */
export function saveFleetCa(ca: FleetCa, dir: string, opts: CaFileOptions = {}): void {
  if (opts.rootPassphrase === '') throw new FleetkeyError('CONFIG_INVALID', 'empty root passphrase');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { root, issuing } = ca;
  writeFileAtomic(join(dir, CA_FILES.rootCertificate), root.certificate.pem, 0o644);
  writeFileAtomic(join(dir, CA_FILES.issuingCertificate), issuing.certificate.pem, 0o644);
  writeFileAtomic(join(dir, CA_FILES.chain), issuing.certificate.pem + root.certificate.pem, 0o644);
  writeFileAtomic(join(dir, CA_FILES.issuingKey), issuing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  if (root.privateKey) {
    const pem = opts.rootPassphrase
      ? root.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: opts.rootPassphrase })
      : root.privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileAtomic(join(dir, CA_FILES.rootKey), pem as string, 0o600);
  }
}

/** Reads a file; `key` files must not be open to group or others (as ssh insists). */
function readCaFile(path: string, key: boolean): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FleetkeyError('CA_FILE_MISSING', `${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if (key && process.platform !== 'win32' && mode & 0o077) {
      throw new FleetkeyError('CA_KEY_PERMISSIONS', `${path} has mode 0${mode.toString(8)}`);
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function required(path: string, text: string | undefined): string {
  if (text === undefined) throw new FleetkeyError('CA_FILE_MISSING', `${path} does not exist`);
  return text;
}

function loadCertificate(path: string): IssuedCertificate {
  const text = required(path, readCaFile(path, false));
  try {
    return toIssuedCertificate(fromPem(text, 'CERTIFICATE'));
  } catch (err) {
    throw new FleetkeyError('CA_FILE_INVALID', `${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** A PKCS#8 key; undefined for an encrypted key without a passphrase. */
function parseKey(path: string, text: string, passphrase: string | undefined): KeyObject | undefined {
  const encrypted = text.includes(pemHeader('ENCRYPTED PRIVATE KEY'));
  if (!encrypted && !text.includes(pemHeader('PRIVATE KEY'))) {
    throw new FleetkeyError('CA_FILE_INVALID', `${path} holds no PKCS#8 private key`);
  }
  if (encrypted && passphrase === undefined) return undefined;
  try {
    return createPrivateKey(encrypted ? { key: text, format: 'pem', passphrase: passphrase ?? '' } : { key: text, format: 'pem' });
  } catch (err) {
    const code = encrypted ? 'CA_PASSPHRASE_WRONG' : 'CA_FILE_INVALID';
    throw new FleetkeyError(code, `${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Refuses a key that is not an accepted CA key (EC P-256/P-384) or not the certificate's key. */
function assertKeyMatches(path: string, key: KeyObject, certificate: IssuedCertificate): void {
  try {
    if (keyTypeOf(key) === 'rsa') throw new FleetkeyError('KEY_UNSUPPORTED', 'RSA CA key');
  } catch (err) {
    if (isFleetkeyError(err, 'KEY_UNSUPPORTED')) throw new FleetkeyError('CA_FILE_INVALID', `${path}: ${err.detail}`);
    throw err;
  }
  const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const fromCert = certificate.x509.publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) throw new FleetkeyError('CA_KEY_MISMATCH', `${path} is not the key of its certificate`);
}

function loadMaterial(dir: string, which: 'root' | 'issuing', passphrase: string | undefined): CaMaterial {
  const certificate = loadCertificate(join(dir, which === 'root' ? CA_FILES.rootCertificate : CA_FILES.issuingCertificate));
  const keyPath = join(dir, which === 'root' ? CA_FILES.rootKey : CA_FILES.issuingKey);
  let text = readCaFile(keyPath, true);
  if (which === 'issuing') text = required(keyPath, text);
  const privateKey = text === undefined ? undefined : parseKey(keyPath, text, passphrase);
  if (privateKey) assertKeyMatches(keyPath, privateKey, certificate);
  return { certificate, privateKey };
}

/**
 * Loads a CA saved by `saveFleetCa`. The root key is optional: absent, or encrypted with no
 * passphrase given, it loads as undefined (the root kept offline). The issuing key is required.
 */
export function loadFleetCa(dir: string, opts: CaFileOptions = {}): FleetCa {
  const root = loadMaterial(dir, 'root', opts.rootPassphrase);
  const issuing = loadMaterial(dir, 'issuing', undefined);
  if (!issuing.privateKey) throw new FleetkeyError('CA_FILE_INVALID', `${CA_FILES.issuingKey} is encrypted`);
  const [r, i] = [root.certificate.x509, issuing.certificate.x509];
  if (!r.ca || !i.ca || !i.checkIssued(r) || !i.verify(r.publicKey) || !r.verify(r.publicKey)) {
    throw new FleetkeyError('CA_CHAIN_INVALID', `${dir}: issuing ${i.subject} / root ${r.subject}`);
  }
  return { root, issuing: { certificate: issuing.certificate, privateKey: issuing.privateKey } };
}
