import t from 'tap';
import * as asn1js from 'asn1js';
import { bitString, namedBits, oid, sequence, time, tlv, unsignedInteger, utf8String } from '../../certs/der.js';
import { children, DerError, readElement, readOid, readRoot, readString } from '../../certs/der-reader.js';
import { newSerial } from '../../certs/issue.js';

const hex = (b: Buffer): string => b.toString('hex');

t.test('ok/lengths: short form, then minimal long form (X.690 §8.1.3)', async (t) => {
  t.equal(hex(tlv(0x04)), '0400');
  t.equal(hex(tlv(0x04, Buffer.alloc(127))).slice(0, 4), '047f');
  t.equal(hex(tlv(0x04, Buffer.alloc(128))).slice(0, 6), '048180');
  t.equal(hex(tlv(0x04, Buffer.alloc(256))).slice(0, 8), '04820100');
  t.equal(hex(tlv(0x04, Buffer.alloc(70000))).slice(0, 10), '0483011170');
  t.equal(tlv(0x30, Buffer.from([1]), Buffer.from([2, 3])).length, 5, 'contents are concatenated');
});

t.test('ok/integers are positive and minimal (X.690 §8.3.2)', async (t) => {
  t.equal(hex(unsignedInteger(Buffer.from([0]))), '020100');
  t.equal(hex(unsignedInteger(Buffer.from([0, 0, 5]))), '020105');
  t.equal(hex(unsignedInteger(Buffer.from([0x80]))), '02020080');
  t.equal(hex(unsignedInteger(Buffer.from([0x7f, 0xff]))), '02027fff');
  t.equal(hex(unsignedInteger(Buffer.alloc(0))), '020100');
});

t.test('ok/serials: 0x00 then 128 bits with the top bit set', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const serial = newSerial();
    if (serial.length !== 17 || serial[0] !== 0 || ((serial[1] as number) & 0x80) === 0) t.fail(`bad serial ${hex(serial)}`);
    seen.add(hex(serial));
  }
  t.equal(seen.size, 2000, 'no repeats');
  const value = (asn1js.fromBER(tlv(0x02, newSerial())).result as asn1js.Integer).toBigInt();
  t.ok(value >= 2n ** 127n && value < 2n ** 128n, 'asn1js reads a positive 128-bit integer');
});

t.test('ok/OIDs and named bits match asn1js', async (t) => {
  for (const dotted of ['2.5.29.19', '1.2.840.10045.3.1.7', '1.3.132.0.34', '2.999.1', '1.2.840.113549.1.1.11']) {
    const der = oid(dotted);
    t.equal((asn1js.fromBER(der).result as asn1js.ObjectIdentifier).valueBlock.toString(), dotted, dotted);
    t.equal(readOid(der, readRoot(der, 0x06)), dotted, `reader: ${dotted}`);
  }
  t.equal(hex(namedBits([0, 4])), '03020388', 'digitalSignature + keyAgreement');
  t.equal(hex(namedBits([0, 2])), '030205a0', 'digitalSignature + keyEncipherment');
  t.equal(hex(namedBits([5, 6])), '03020106', 'keyCertSign + cRLSign');
  t.equal(hex(namedBits([8])), '0303070080');
  t.equal(hex(bitString(Buffer.from([1, 2]))), '0303000102');
});

t.test('ok/times: UTCTime before 2050, GeneralizedTime after (RFC 5280 §4.1.2.5)', async (t) => {
  t.equal(time(new Date('2049-12-31T23:59:59.999Z')).toString('latin1', 2), '491231235959Z');
  t.equal(time(new Date('2049-12-31T23:59:59Z'))[0], 0x17);
  t.equal(time(new Date('2050-01-01T00:00:00Z')).toString('latin1', 2), '20500101000000Z');
  t.equal(time(new Date('2050-01-01T00:00:00Z'))[0], 0x18);
  t.equal(time(new Date('1999-02-03T04:05:06Z')).toString('latin1', 2), '990203040506Z');
});

t.test('ok/reader walks what the writer made', async (t) => {
  const der = sequence(utf8String('héllo'), sequence(), tlv(0x13, Buffer.from('abc')));
  const [a, b, c] = children(der, readRoot(der));
  t.equal(readString(der, a!), 'héllo');
  t.equal(b!.end - b!.body, 0);
  t.equal(readString(der, c!), 'abc');
  t.equal(readString(Buffer.from([0x1e, 4, 0, 0x41, 0, 0x42]), readRoot(Buffer.from([0x1e, 4, 0, 0x41, 0, 0x42]), 0x1e)), 'AB', 'BMPString');
});

const bad: Array<[string, Buffer]> = [
  ['fail/empty', Buffer.alloc(0)],
  ['fail/indefinite length', Buffer.from('3080020100000', 'hex')],
  ['fail/non-minimal long form', Buffer.from('30810100', 'hex')],
  ['fail/length with leading zero octet', Buffer.from('3082000100', 'hex')],
  ['fail/runs past the end', Buffer.from('300500', 'hex')],
  ['fail/trailing bytes', Buffer.from('300000', 'hex')],
  ['fail/multi-byte tag', Buffer.from('1f810100', 'hex')],
  ['fail/length of 5 octets', Buffer.from('30850000000001', 'hex')],
  ['fail/child runs past its parent', Buffer.from('3003020500', 'hex')],
];
for (const [name, der] of bad) {
  t.test(name, async (t) => {
    t.throws(() => {
      const root = readRoot(der);
      children(der, root);
    }, DerError);
  });
}

t.test('fail/odd strings and OIDs', async (t) => {
  t.throws(() => readOid(Buffer.from('06028001', 'hex'), readElement(Buffer.from('06028001', 'hex'), 0)), DerError, 'non-minimal arc');
  t.throws(() => readOid(Buffer.from('060180', 'hex'), readElement(Buffer.from('060180', 'hex'), 0)), DerError, 'truncated arc');
  t.throws(() => readOid(Buffer.from('0600', 'hex'), readElement(Buffer.from('0600', 'hex'), 0)), DerError, 'empty');
  t.throws(() => readString(Buffer.from('1e0100', 'hex'), readElement(Buffer.from('1e0100', 'hex'), 0)), DerError, 'odd BMPString');
  t.throws(() => readString(Buffer.from('020100', 'hex'), readElement(Buffer.from('020100', 'hex'), 0)), DerError, 'not a string');
  t.throws(() => oid('1'), TypeError);
});
