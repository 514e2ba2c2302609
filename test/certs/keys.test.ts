import t from 'tap';
import { createPublicKey, sign, verify } from 'node:crypto';
import { generateDeviceKey, generateDeviceKeyAsync, keyTypeOf, type KeyType } from '../../certs/keys.js';

// Keys are made without KeyObjects shared with a generateKeyPair job (a Node 20 deadlock, certs/keys.ts).
// What matters to callers: the right type, a private key whose public half is the public key, usable at once.

for (const type of ['ec-p256', 'ec-p384', 'rsa'] as const satisfies readonly KeyType[]) {
  t.test(`ok/ ${type}: sync and async keys of the type, each pair matching`, async (t) => {
    for (const keys of [generateDeviceKey(type), await generateDeviceKeyAsync(type)]) {
      t.equal(keyTypeOf(keys.publicKey), type);
      t.equal(keyTypeOf(keys.privateKey), type);
      t.equal(keys.privateKey.type, 'private');
      t.equal(keys.publicKey.type, 'public');
      t.same(createPublicKey(keys.privateKey).export({ format: 'jwk' }), keys.publicKey.export({ format: 'jwk' }), 'the public key is the private key\'s');
      const signature = sign('sha256', Buffer.from('fleetkey'), keys.privateKey);
      t.ok(verify('sha256', Buffer.from('fleetkey'), keys.publicKey, signature), 'signs and verifies');
    }
  });
}

t.test('ok/ 3,000 P-256 keys are all distinct and whole (scalars with leading zero bytes included)', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const { privateKey } = generateDeviceKey('ec-p256');
    const d = privateKey.export({ format: 'jwk' }).d!;
    if (Buffer.from(d, 'base64url').length !== 32) t.fail(`scalar of ${Buffer.from(d, 'base64url').length} bytes`);
    seen.add(d);
  }
  t.equal(seen.size, 3000);
});
