import type { Test } from 'tap';
import { accessContract } from './contract/access.js';
import { devicesContract } from './contract/devices.js';
import { enrollmentContract } from './contract/enrollment.js';
import { enrollmentRetryContract } from './contract/enrollment-retry.js';
import type { OpenStore } from './contract/fixtures.js';
import { keysContract } from './contract/keys.js';
import { revocationContract } from './contract/revocation.js';
import { revocationSeqContract } from './contract/revocation-seq.js';

export type { OpenStore } from './contract/fixtures.js';

/**
 * The store contract: what every backend must do, run against each one (`file.test.ts`, `redis.test.ts`).
 * `open(t)` returns a fresh, empty store of its own and closes it in `t`'s teardown.
 * Every refusal is checked for its code, its caller-facing message, and that nothing changed.
 */
export async function runStoreContract(t: Test, name: string, open: OpenStore): Promise<void> {
  await t.test(`${name}: store contract`, async (t) => {
    t.test('devices', async (t) => devicesContract(t, open));
    t.test('enrollment', async (t) => enrollmentContract(t, open));
    t.test('enrollment retries', async (t) => enrollmentRetryContract(t, open));
    t.test('certificates and revocation', async (t) => revocationContract(t, open));
    t.test('the revocation sequence', async (t) => revocationSeqContract(t, open));
    t.test('epochs, grants and acks', async (t) => keysContract(t, open));
    t.test('API tokens, audit, events, close', async (t) => accessContract(t, open));
  });
}
