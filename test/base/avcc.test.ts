import assert from 'node:assert/strict';
import { test } from 'node:test';
import { annexBFromAvcc } from '../../src/base/avcc.js';
import { splitAnnexB } from '../../src/base/h264.js';

test('AVCC (length-prefixed) H.264 becomes Annex-B; Annex-B stays; a length past the end stops there', () => {
  const idr = Buffer.from([0x65, 1, 2, 3, 0, 0, 1, 9]); // holds a fake start code: length framing must not care
  const slice = Buffer.from([0x41, 7, 7]);
  const avcc = Buffer.concat([Buffer.from([0, 0, 0, idr.length]), idr, Buffer.from([0, 0, 0, slice.length]), slice]);
  const annexB = annexBFromAvcc(avcc);
  assert.deepEqual(annexB.subarray(0, 4), Buffer.from([0, 0, 0, 1]));
  assert.equal(annexB.length, avcc.length);
  const already = Buffer.concat([Buffer.from([0, 0, 0, 1]), slice]);
  assert.equal(annexBFromAvcc(already), already);
  assert.deepEqual(splitAnnexB(annexBFromAvcc(Buffer.concat([Buffer.from([0, 0, 0, slice.length]), slice, Buffer.from([0, 0, 0, 99, 1])]))), [slice]);
});

test('a first NAL unit of 256-511 bytes (length 00 00 01 xx, which looks like a start code) is still AVCC', () => {
  const slice = Buffer.alloc(436, 7);
  slice[0] = 0x41;
  const small = Buffer.from([0x41, 9, 9]);
  const avcc = Buffer.concat([Buffer.from([0, 0, 1, 0xb4]), slice, Buffer.from([0, 0, 0, small.length]), small]);
  assert.deepEqual(splitAnnexB(annexBFromAvcc(avcc)), [slice, small]);
  // Real Annex-B whose bytes happen not to chain as lengths stays as it is.
  const annexB = Buffer.concat([Buffer.from([0, 0, 1]), slice, Buffer.from([0, 0, 0, 1]), small]);
  assert.equal(annexBFromAvcc(annexB), annexB);
});
