import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ROOT_CURVES, type RootCurve } from '../../certs/ca.js';
import { FleetkeyError } from '../../errors/index.js';
import { initDataDir, type CertificateSummary, type InitResult } from '../../certs/init.js';
import { IDENTITY_FILE, type StoreIdentity } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { emit, type CommonOptions } from '../output.js';
import { action } from '../program.js';

interface InitCliOptions extends CommonOptions {
  dir: string;
  name: string;
  force?: boolean;
  dns?: string[];
  ip?: string[];
  rootPassphraseFile?: string;
  rootCurve: RootCurve;
  store?: string;
  storePrefix: string;
}

const LAYOUT = `
Data directory layout (the directory and its subdirectories are mode 0700, every key 0600):
  fleetkey.json                 manifest: name, createdAt, fingerprints, file list (no secrets)
  ca/root.pem  ca/root.key      root CA (key encrypted with --root-passphrase-file)
  ca/issuing.pem ca/issuing.key issuing CA, signs every other certificate
  ca/chain.pem                  issuing CA + root, the trust bundle
  ca/root-crl.pem               the root's (empty) CRL, valid 365 days, for TLS peers that check CRLs at every level
  broker/server.pem server.key  broker TLS (serverAuth): DNS localhost + --dns, IP 127.0.0.1, ::1 + --ip
  services/<role>.pem <role>.key  clientAuth, SAN urn:fleetkey:service:<role>, for kdc, consumer, operator
  kek                           32 random bytes: the KDC's key-encryption key
  store-identity.json           the identity of the store this fleet uses (with --store; else written by the
                                first service that opens the store): services refuse a store that lost its stateEvery .pem of a leaf holds the certificate followed by the issuing CA.`;

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create the data directory: root and issuing CA, broker and service certificates, KEK')
    .option('--dir <dir>', 'data directory (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .option('--name <name>', 'fleet name, used in the CA names', 'fleetkey')
    .option('--force', 'replace an existing CA and every file init makes')
    .option('--dns <name...>', 'more DNS names for the broker certificate')
    .option('--ip <addr...>', 'more IP addresses for the broker certificate')
    .option('--root-passphrase-file <file>', 'encrypt ca/root.key with the passphrase in this file')
    .addOption(new Option('--root-curve <curve>', 'the root key\'s curve; P-256 makes each fresh mutual-TLS handshake about a quarter cheaper').choices(ROOT_CURVES).default(ROOT_CURVES[0]))
    .option('--store <url>', 'also claim this store for the fleet (an empty one) or check it is the fleet\'s: redis://… or file:<dir>')
    .option('--store-prefix <prefix>', 'key prefix on Redis, with --store', 'fleetkey:')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', LAYOUT)
    .action(action(async (opts: InitCliOptions) => {
      const result = initDataDir({
        dir: opts.dir,
        name: opts.name,
        force: opts.force ?? false,
        dnsNames: opts.dns ?? [],
        ipAddresses: opts.ip ?? [],
        rootCurve: opts.rootCurve,
        ...(opts.rootPassphraseFile ? { rootPassphrase: readPassphrase(opts.rootPassphraseFile) } : {}),
      });
      const store = opts.store === undefined ? undefined : await claimStore(opts.dir, opts.store, opts.storePrefix);
      const out = store === undefined ? result : { ...result, store };
      emit(opts, out, () => describe(result) + (store === undefined ? '' : `\n  ${'store'.padEnd(12)}${store.url}: ${store.id}, generation ${store.generation}`));
    }));
}

/** Opens the store with the data dir's identity record: claims an empty store, refuses one that lost its state or is another fleet's. */
async function claimStore(dir: string, url: string, prefix: string): Promise<StoreIdentity & { url: string }> {
  const store = await openStore(url, { prefix, identity: join(dir, IDENTITY_FILE) });
  try {
    const identity = store.health().identity!;
    return { url: store.url, ...identity };
  } finally {
    await store.close();
  }
}

/** The file's text; one trailing newline is not part of the passphrase. */
export function readPassphrase(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FleetkeyError('INIT_PASSPHRASE_FILE_INVALID', (err as Error).message);
  }
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase.length === 0) throw new FleetkeyError('INIT_PASSPHRASE_FILE_INVALID', `${file} is empty`);
  return passphrase;
}

function describe(r: InitResult): string {
  const line = (label: string, c: CertificateSummary, extra = ''): string =>
    `  ${label.padEnd(12)}${c.path.padEnd(24)}sha256 ${c.fingerprint}${extra}`;
  return [
    `Initialized fleet "${r.name}" in ${r.dir}`,
    line('root CA', r.ca.root, r.ca.root.keyEncrypted ? '  (key encrypted)' : ''),
    line('issuing CA', r.ca.issuing),
    line('broker', r.broker),
    `  ${''.padEnd(36)}DNS ${r.broker.dnsNames.join(', ')}; IP ${r.broker.ipAddresses.join(', ')}`,
    ...Object.entries(r.services).map(([role, c]) => line(role, c)),
    `  ${'root CRL'.padEnd(12)}${r.rootCrl.path.padEnd(24)}next update ${r.rootCrl.nextUpdate}`,
    `  ${'KEK'.padEnd(12)}${r.kek}`,
    'Keys are files of mode 0600 beside their certificates. ca/root.key is needed again only to sign',
    `a new issuing CA or to renew ca/root-crl.pem (before ${r.rootCrl.nextUpdate}): it can be kept offline.`,
  ].join('\n');
}
