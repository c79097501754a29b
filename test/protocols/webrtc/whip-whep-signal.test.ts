import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOffer, type ParsedOffer } from '../../../src/protocols/webrtc/sdp-offer.js';
import { checkWhepOffer, checkWhipOffer, sessionLocation, type WhepSource } from '../../../src/protocols/webrtc/whip-whep-signal.js';

/** A browser's offer, cut down: Opus, then VP8 and H.264 in both packetization modes. */
function offer(direction: 'sendonly' | 'recvonly', video = ['96 VP8/90000', '102 H264/90000', '106 H264/90000']): ParsedOffer {
  const sdp = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:0123456789abcdef012345',
    'a=fingerprint:sha-256 AA:BB',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    `a=${direction}`,
    'a=rtpmap:111 opus/48000/2',
    `m=video 9 UDP/TLS/RTP/SAVPF ${video.map((v) => v.split(' ')[0]).join(' ')}`,
    `a=${direction}`,
    ...video.map((v) => `a=rtpmap:${v}`),
    'a=fmtp:102 packetization-mode=0;profile-level-id=42001f',
    'a=fmtp:106 packetization-mode=1;profile-level-id=42001f',
    '',
  ].join('\r\n');
  const parsed = parseOffer(sdp);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
  return parsed.offer;
}

const source = (state: string, originalCodec?: 'H264' | 'VP8', codec?: string): WhepSource => ({
  state,
  originalCodec,
  logger: { info: () => {}, warn: () => {} },
  requestKeyframe: () => {},
  requestOriginalKeyframe: () => {},
  stats: () => (codec ? { codec } : {}),
});

test('WHIP: the first codec the server decodes, in the offer\'s order, and the Opus it sends; an offer must send', () => {
  const checked = checkWhipOffer(offer('sendonly'));
  assert.ok(!('error' in checked));
  assert.deepEqual([checked.video.codec.name, checked.video.codec.payloadType, checked.audio?.codec.name], ['VP8', 96, 'OPUS']);
  assert.deepEqual(checkWhipOffer(offer('recvonly')), { status: 400, error: "the offer's video section does not send: a WHIP offer must be sendonly" });
  assert.deepEqual(checkWhipOffer(offer('sendonly', ['98 VP9/90000'])), { status: 406, error: 'no usable video codec: offered VP9; this server takes H264 or VP8' });
});

test('WHEP: the upconverted stream goes as H.264 with FU-A; the original only in the publisher\'s codec; an offer must receive', () => {
  const live = source('live', 'VP8');
  const upconverted = checkWhepOffer(offer('recvonly'), live);
  assert.ok(!('error' in upconverted));
  assert.deepEqual([upconverted.video.codec.payloadType, upconverted.original, upconverted.audio?.codec.name], [106, false, 'OPUS']);
  const original = checkWhepOffer(offer('recvonly'), live, 'original');
  assert.ok(!('error' in original));
  assert.deepEqual([original.video.codec.name, original.original], ['VP8', true]);

  assert.deepEqual(checkWhepOffer(offer('sendonly'), live), { status: 400, error: "the offer's video section does not receive: a WHEP offer must be recvonly" });
  const mode0 = checkWhepOffer(offer('recvonly', ['102 H264/90000']), live);
  assert.equal('error' in mode0 && mode0.status, 406);
  const noVp8 = checkWhepOffer(offer('recvonly', ['106 H264/90000']), live, 'original');
  assert.deepEqual(noVp8, { status: 406, error: "no usable video codec: offered H264; this server takes VP8 (the original is relayed in the publisher's codec)" });
});

test('WHEP of the original: 503 while the stream starts, 406 when its codec cannot go to WebRTC as it is', () => {
  assert.deepEqual(checkWhepOffer(offer('recvonly'), source('starting'), 'original'), { status: 503, error: 'the stream is still starting: try again in a second' });
  assert.deepEqual(checkWhepOffer(offer('recvonly'), source('live', undefined, 'flv1'), 'original'), {
    status: 406,
    error: 'the original is flv1 that WebRTC viewers cannot be sent as it is (H.264 and VP8 can)',
  });
  // The upconverted stream is H.264 whatever the publisher sends.
  assert.ok(!('error' in checkWhepOffer(offer('recvonly'), source('starting'))));
});

test('WHEP of an original encoded for WebRTC: H.264 with FU-A; 406 with the reason once its encoder failed', () => {
  const encoded = (originalEncoder: string, originalCodec?: 'H264'): WhepSource => ({ ...source('live', originalCodec, 'motion test pattern'), stats: () => ({ codec: 'motion test pattern', original: 'encoded', originalEncoder }) });
  const checked = checkWhepOffer(offer('recvonly'), encoded('idle', 'H264'), 'original');
  assert.ok(!('error' in checked));
  assert.deepEqual([checked.video.codec.name, checked.video.codec.payloadType, checked.original], ['H264', 106, true]);
  assert.deepEqual(checkWhepOffer(offer('recvonly', ['96 VP8/90000']), encoded('idle', 'H264'), 'original'), {
    status: 406,
    error: 'no usable video codec: offered VP8; this server takes H264 (the original is encoded as H.264 for WebRTC)',
  });
  assert.deepEqual(checkWhepOffer(offer('recvonly'), encoded('failed: out of memory'), 'original'), {
    status: 406,
    error: 'the original cannot be watched on this stream: its H.264 encoder failed: out of memory',
  });
});

test('a session\'s Location is relative, or under the public URL without a doubled slash', () => {
  assert.equal(sessionLocation('', 'whip', 'cam', 'id1'), '/whip/cam/id1');
  assert.equal(sessionLocation('https://pod-1.example/', 'whep', 'cam', 'id1'), 'https://pod-1.example/whep/cam/id1');
});
