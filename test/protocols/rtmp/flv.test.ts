import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAmf0, Amf0EcmaArray } from '../../../src/protocols/rtmp/amf0.js';
import { FlvMuxer, flvTag } from '../../../src/protocols/rtmp/flv.js';

test('a tag splits its timestamp into 24 low bits and an extension byte, and ends with PreviousTagSize', () => {
  const tag = flvTag('video', 0x12345678, Buffer.from('abc'));
  assert.deepEqual(tag, Buffer.from('09' + '000003' + '345678' + '12' + '000000' + '616263' + '0000000e', 'hex'));
});

test('the file header comes once, with stream flags from onMetaData', () => {
  const videoOnly = encodeAmf0('onMetaData', new Amf0EcmaArray({ width: 320, videocodecid: 7 }));
  const muxer = new FlvMuxer();
  const first = muxer.write('data', 0, videoOnly);
  assert.deepEqual(first.subarray(0, 13), Buffer.from('464c5601' + '01' + '00000009' + '00000000', 'hex'));
  assert.equal(first[13], 18);
  assert.equal(muxer.write('video', 0, Buffer.from('x'))[0], 9, 'no second header');

  const both = new FlvMuxer().write('data', 0, encodeAmf0('onMetaData', { audiocodecid: 10, videocodecid: 7 }));
  assert.equal(both[4], 0x05);
  // Media first, or metadata that names no codecs: announce both rather than guess.
  assert.equal(new FlvMuxer().write('audio', 0, Buffer.from('x'))[4], 0x05);
  assert.equal(new FlvMuxer().write('data', 0, encodeAmf0('onCuePoint', {}))[4], 0x05);
});
