import t from 'tap';
import { encodeRekeyAck, encodeRekeyRequest, newNonce, parseRekeyAck, parseRekeyRequest } from '../../protocol/rekey-messages.js';

t.test('ok/ request and ack bodies', async (t) => {
  const nonce = newNonce();
  t.match(nonce, /^[A-Za-z0-9_-]{22}$/);
  t.equal(encodeRekeyRequest(nonce).toString(), `{"nonce":"${nonce}"}`);
  t.same(parseRekeyRequest(encodeRekeyRequest(nonce)), { nonce });
  t.same(parseRekeyRequest(`{"nonce":"${nonce}"}`), { nonce });
  t.equal(encodeRekeyAck({ epoch: 3, grant: 0 }).toString(), '{"epoch":3,"grant":0}');
  t.equal(encodeRekeyAck({ epoch: 3 }).toString(), '{"epoch":3}');
  t.same(parseRekeyAck('{"grant":7,"epoch":3}', 'device'), { epoch: 3, grant: 7 });
  t.same(parseRekeyAck('{"epoch":3}', 'consumer'), { epoch: 3 });
});

t.test('fail/ bodies', async (t) => {
  const requests = ['', 'null', '[]', '{}', '{"nonce":1}', '{"nonce":"AAAA"}', `{"nonce":"${'A'.repeat(21)}B"}`, `{"nonce":"${newNonce()}","x":1}`, `{"nonce":"${'A'.repeat(300)}"}`];
  for (const body of requests) t.throws(() => parseRekeyRequest(body), { code: 'REKEY_MESSAGE_INVALID' }, `fail/request ${body.slice(0, 40)}`);
  const acks: Array<[string, 'device' | 'consumer']> = [
    ['{"epoch":3}', 'device'], ['{"epoch":0,"grant":1}', 'device'], ['{"epoch":3,"grant":-1}', 'device'], ['{"epoch":3,"grant":1}', 'consumer'],
    ['{"epoch":"3"}', 'consumer'], ['not json', 'consumer'],
  ];
  for (const [body, kind] of acks) t.throws(() => parseRekeyAck(Buffer.from(body), kind), { code: 'REKEY_MESSAGE_INVALID' }, `fail/${kind} ack ${body}`);
  t.throws(() => encodeRekeyRequest('short'), { code: 'PROTOCOL_INPUT_INVALID' });
  t.throws(() => encodeRekeyAck({ epoch: 0 }), { code: 'PROTOCOL_INPUT_INVALID' });
});
