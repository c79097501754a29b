import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Amf0EcmaArray, Amf0Error, type Amf0Value, decodeAmf0, encodeAmf0 } from '../../../src/protocols/rtmp/amf0.js';

function roundTrip(...values: Amf0Value[]): Amf0Value[] {
  return decodeAmf0(encodeAmf0(...values));
}

test('scalars round trip', () => {
  const values: Amf0Value[] = [0, -1.5, 2 ** 40, true, false, '', 'live', 'ключ ✓', null, undefined];
  assert.deepEqual(roundTrip(...values), values);
});

test('objects, ECMA arrays and strict arrays round trip, nested', () => {
  const connect = { app: 'live', tcUrl: 'rtmp://127.0.0.1/live', fpad: false, capabilities: 15, nested: { list: [1, 'two', null, { deep: true }] } };
  const metadata = new Amf0EcmaArray({ width: 320, height: 240, videocodecid: 7, encoder: 'Lavf' });
  const [decodedConnect, decodedMetadata] = roundTrip(connect, metadata);
  assert.deepEqual(decodedConnect, connect);
  assert.deepEqual(decodedMetadata, metadata);
});

test('encodes the exact bytes RTMP peers expect', () => {
  assert.deepEqual(encodeAmf0('_result', 1), Buffer.from('0200075f726573756c74003ff0000000000000', 'hex'));
  // object: key "a" -> null, then the 00 00 09 end marker
  assert.deepEqual(encodeAmf0({ a: null }), Buffer.from('030001610500' + '0009', 'hex'));
  // strings longer than 65535 bytes switch to the long-string marker
  const long = 'x'.repeat(70_000);
  const bytes = encodeAmf0(long);
  assert.equal(bytes[0], 0x0c);
  assert.deepEqual(decodeAmf0(bytes), [long]);
});

test('"__proto__" from the wire is an ordinary key', () => {
  const key = Buffer.from('__proto__');
  const bytes = Buffer.concat([Buffer.of(0x03, 0, key.length), key, encodeAmf0({ polluted: true }), Buffer.from('000009', 'hex')]);
  const [object] = decodeAmf0(bytes) as [Record<string, Amf0Value>];
  assert.equal(Object.getPrototypeOf(object), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(object, '__proto__')?.value, { polluted: true });
  assert.equal((object as { polluted?: boolean }).polluted, undefined);
});

test('truncated, unknown and absurdly nested input is an Amf0Error', () => {
  const head = encodeAmf0('connect', 1);
  const full = Buffer.concat([head, encodeAmf0({ app: 'live' })]);
  // Every cut inside the object (a cut between values is a valid, shorter sequence).
  for (let cut = head.length + 1; cut < full.length; cut++) {
    assert.throws(() => decodeAmf0(full.subarray(0, cut)), Amf0Error, `cut at ${cut}`);
  }
  assert.throws(() => decodeAmf0(Buffer.of(0x11)), /unsupported AMF0 marker 0x11/);
  assert.throws(() => decodeAmf0(Buffer.from('0affffffff', 'hex')), Amf0Error, 'a huge strict array count must not allocate');
  assert.throws(() => decodeAmf0(Buffer.alloc(100, 0x0a).fill(0, 1)), Amf0Error);
  const deep = Buffer.concat([...Array.from({ length: 40 }, () => Buffer.from('0a00000001', 'hex')), encodeAmf0(1)]);
  assert.throws(() => decodeAmf0(deep), /nesting deeper/);
});
