import t from 'tap';
import { randomBytes } from 'node:crypto';
import { compactDecrypt } from 'jose';
import { grantRecipient, keyThumbprint, sealGrantKey } from '../../protocol/grant.js';
import { protocolFleet } from './fixture.js';

const fleet = protocolFleet();

t.test('ok/ a recipient read from SPKI DER seals what a KeyObject recipient seals (P-256, P-384, RSA)', async (t) => {
  for (const type of ['ec-p256', 'ec-p384', 'rsa'] as const) {
    const d = fleet.party('device', `spki-${type}`, type);
    const spki = d.publicKey.export({ type: 'spki', format: 'der' });
    const recipient = grantRecipient(spki);
    t.equal(recipient.kid, keyThumbprint(d.publicKey), `${type}: kid = RFC 7638 thumbprint`);
    t.same(grantRecipient(d.publicKey).alg, recipient.alg);
    const key = randomBytes(32);
    const jwe = sealGrantKey(recipient, key);
    t.ok(Buffer.from((await compactDecrypt(jwe, d.privateKey)).plaintext).equals(key), `${type}: jose decrypts it`);
    const v = await fleet.verifyAs(d, await fleet.deviceGrant(d, { key }));
    t.ok(v.key.equals(key), `${type}: a whole grant verifies`);
  }
});

t.test('fail/ recipients that are no public key of a supported type', async (t) => {
  t.throws(() => grantRecipient(Buffer.from('not DER')), 'garbage DER');
  t.throws(() => grantRecipient(fleet.party('device', 'priv').privateKey), { code: 'PROTOCOL_INPUT_INVALID' }, 'a private key');
  const spki = fleet.party('device', 'bad-point').publicKey.export({ type: 'spki', format: 'der' });
  spki[spki.length - 1]! ^= 1; // no longer on the curve
  t.throws(() => sealGrantKey(grantRecipient(spki), randomBytes(32)), 'a point off the curve fails at ECDH');
});
