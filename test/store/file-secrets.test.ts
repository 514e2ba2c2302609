import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openFileStore } from '../../store/file/index.js';
import { hashToken } from '../../store/secrets.js';
import { tempDir } from '../helpers/tmp.js';
import { newDevice } from './contract/fixtures.js';

function haystack(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((name) => readFileSync(join(dir, name))));
}

for (const [name, compactBytes] of [['in the journal', 64 * 1024 * 1024], ['in a snapshot', 1]] as const) {
  t.test(`no secret is at rest in clear (${name})`, async (t) => {
    const dir = tempDir(t);
    const store = await openFileStore(dir, { compactBytes });
    const kek = randomBytes(32);
    const secret = randomBytes(32);
    await store.createNextEpoch(0, secret, kek, new Date());
    const device = newDevice();
    await store.registerDevices([device], 'test');
    const apiSecret = randomBytes(24).toString('base64url');
    await store.createApiToken({ id: 'ops', secret: apiSecret, role: 'admin' }, 'cli');
    await store.appendAudit({ actor: 'cli', action: 'flush', subject: 'x' });
    t.ok((await store.epochSecret(1, kek))?.equals(secret), 'the secret is there to be found');
    await store.close();

    t.equal(readdirSync(dir).includes('store.snapshot'), compactBytes === 1, 'the variant wrote what it says');
    const files = haystack(dir);
    const forms: [string, Buffer | string][] = [
      ['epoch secret, raw', secret],
      ['epoch secret, hex', secret.toString('hex')],
      ['epoch secret, HEX', secret.toString('hex').toUpperCase()],
      ['epoch secret, base64', secret.toString('base64')],
      ['epoch secret, base64url', secret.toString('base64url')],
      ['KEK, raw', kek],
      ['KEK, base64', kek.toString('base64')],
      ['enrollment token', device.token],
      ['API token', apiSecret],
    ];
    for (const [what, needle] of forms) t.notOk(files.includes(needle), `${what} not found`);
    t.ok(files.includes(hashToken(device.token)), 'control: the scan does find the token hash it should');
  });
}
