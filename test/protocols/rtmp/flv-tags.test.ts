import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlvCodecProbe, type FlvVerdict } from '../../../src/protocols/rtmp/avc-flv-source.js';
import { Amf0EcmaArray, encodeAmf0 } from '../../../src/protocols/rtmp/amf0.js';
import { FlvMuxer } from '../../../src/protocols/rtmp/flv.js';
import { type FlvTag, FlvTagReader, parseAudioSpecificConfig, parseVideoTag } from '../../../src/protocols/rtmp/flv-tags.js';

const AVCC = Buffer.from('0164001fffe1000467640028' + '01000468ee3c80', 'hex'); // version 1, profile 100, 4-byte lengths, one SPS, one PPS
const ASC_44K_STEREO = Buffer.from('1210', 'hex'); // AAC LC, 44.1 kHz, 2 channels
const meta = (props: Record<string, number>) => ({ kind: 'data' as const, timestamp: 0, body: encodeAmf0('onMetaData', new Amf0EcmaArray(props)) });
const avcHeader = (ts = 0): FlvTag => ({ kind: 'video', timestamp: ts, body: Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), AVCC]) });
const avcFrame = (ts: number): FlvTag => ({ kind: 'video', timestamp: ts, body: Buffer.from([0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]) });
const aacHeader: FlvTag = { kind: 'audio', timestamp: 0, body: Buffer.concat([Buffer.from([0xaf, 0]), ASC_44K_STEREO]) };

test('FLV bytes in any chunking come back as the tags that were muxed, 32-bit timestamps included', () => {
  const muxer = new FlvMuxer();
  const tags: FlvTag[] = [meta({ videocodecid: 7 }), avcHeader(), avcFrame(33), { kind: 'audio', timestamp: 0x12345678, body: Buffer.from('aac') }];
  const bytes = Buffer.concat(tags.map((t) => muxer.write(t.kind, t.timestamp, t.body)));
  for (const size of [1, 7, 13, 64, bytes.length]) {
    const reader = new FlvTagReader();
    const got: FlvTag[] = [];
    for (let at = 0; at < bytes.length; at += size) got.push(...reader.processInput(bytes.subarray(at, at + size)));
    assert.deepEqual(got.map((t) => [t.kind, t.timestamp, t.body.toString('hex')]), tags.map((t) => [t.kind, t.timestamp, t.body.toString('hex')]), `chunks of ${size}`);
  }
  assert.throws(() => new FlvTagReader().processInput(Buffer.from('GIF89a-not-flv')), /not an FLV stream/);
});

test('video tags: keyframe, packet type and a signed composition time; other codecs are told apart', () => {
  const tag = parseVideoTag(Buffer.from([0x17, 1, 0xff, 0xff, 0xdf, 9, 9]));
  assert.deepEqual({ ...tag, data: [...tag.data] }, { codecId: 7, keyframe: true, avcPacketType: 1, compositionTime: -33, data: [9, 9] });
  assert.equal(parseVideoTag(Buffer.from([0x22, 0xaa])).codecId, 2, 'Sorenson H.263');
  assert.equal(parseVideoTag(Buffer.from([0x90, 0x68, 0x76, 0x63, 0x31])).codecId, undefined, 'Enhanced RTMP (hvc1)');
});

test('AudioSpecificConfig gives rate and channels, escaped frequency included; nonsense is refused', () => {
  assert.deepEqual(parseAudioSpecificConfig(ASC_44K_STEREO), { sampleRate: 44100, channels: 2 });
  assert.deepEqual(parseAudioSpecificConfig(Buffer.from('1188', 'hex')), { sampleRate: 48000, channels: 1 });
  // object type 2, frequency index 15, then 24 bits of 22050 Hz, then channel configuration 2
  const bits = '00010' + '1111' + (22050).toString(2).padStart(24, '0') + '0010' + '000';
  const explicit = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  assert.deepEqual(parseAudioSpecificConfig(explicit), { sampleRate: 22050, channels: 2 });
  assert.throws(() => parseAudioSpecificConfig(Buffer.from('1200', 'hex')), /channel configuration 0/);
  assert.throws(() => parseAudioSpecificConfig(Buffer.from('12', 'hex')), /too short/);
});

function verdict(tags: FlvTag[]): FlvVerdict | undefined {
  const probe = new FlvCodecProbe();
  let result: FlvVerdict | undefined;
  for (const tag of tags) result ??= probe.add(tag);
  return result;
}

test('the probe reads H.264 + AAC itself, at once when both headers are in; the rate comes from onMetaData', () => {
  const v = verdict([meta({ videocodecid: 7, audiocodecid: 10, framerate: 29.97 }), avcHeader(), aacHeader]);
  assert.equal(v?.path, 'own');
  assert.ok(v?.path === 'own' && v.avcC.equals(AVCC) && v.asc?.equals(ASC_44K_STEREO));
  assert.deepEqual(v?.path === 'own' && v.frameRate, { num: 30000, den: 1001 });
  // video-only metadata: no wait for audio
  assert.equal(verdict([meta({ videocodecid: 7, framerate: 60 }), avcHeader()])?.path, 'own');
});

test('announced audio that never comes is waited for 300 ms of the stream, then the video goes on alone', () => {
  const tags = [meta({ videocodecid: 7, audiocodecid: 10 }), avcHeader(), avcFrame(0), avcFrame(100), avcFrame(200)];
  assert.equal(verdict(tags), undefined);
  const v = verdict([...tags, avcFrame(300)]);
  assert.equal(v?.path, 'own');
  assert.equal(v?.path === 'own' && v.asc, undefined);
});

test('the probe sends other codecs and H.264 without its header to FFmpeg, saying why; no video at all is an error', () => {
  assert.deepEqual(verdict([meta({}), { kind: 'video', timestamp: 0, body: Buffer.from([0x22, 0]) }]), { path: 'ffmpeg', reason: 'its video is not H.264 (FLV codec 2)' });
  assert.deepEqual(verdict([avcHeader(), { kind: 'audio', timestamp: 0, body: Buffer.from([0x2f, 0xff]) }]), { path: 'ffmpeg', reason: 'its audio is not AAC (FLV sound format 2)' });
  assert.equal(verdict([avcFrame(0)])?.path, 'ffmpeg');
  const audioOnly = [0, 1000, 2000, 3000, 4000, 5000].map((ts) => ({ ...aacHeader, timestamp: ts }));
  assert.throws(() => verdict(audioOnly), /no usable video: no video header in its first 5 s/);
});
