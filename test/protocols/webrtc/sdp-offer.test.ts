import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidateAddressUsable, chooseVideoCodec, h264PacketizationMode1, parseOffer, restrictOffer, withoutUnusableCandidates } from '../../../src/protocols/webrtc/sdp-offer.js';

/** The shape of a Chromium offer, cut down: VP8, H.264 in both packetization modes with RTX, and audio. */
const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=mid:0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdef012345',
  'a=fingerprint:sha-256 AA:BB',
  'a=sendonly',
  'a=rtpmap:111 opus/48000/2',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106',
  'a=mid:1',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdef012345',
  'a=fingerprint:sha-256 AA:BB',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=sendonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 nack',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=rtpmap:106 H264/90000',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f',
  '',
].join('\r\n');

test('an offer is read into sections with their codecs; the first codec that fits is chosen', () => {
  const parsed = parseOffer(OFFER);
  assert.ok(parsed.ok);
  const [audio, video] = parsed.offer.sections;
  assert.deepEqual([audio!.kind, audio!.mid, audio!.direction, audio!.codecs[0]!.name], ['audio', '0', 'sendonly', 'OPUS']);
  assert.deepEqual(video!.codecs.map((c) => c.name), ['VP8', 'RTX', 'H264', 'RTX', 'H264']);
  assert.equal(video!.codecs[4]!.params['packetization-mode'], '1');

  const whip = chooseVideoCodec(parsed.offer, ['H264', 'VP8']);
  assert.ok('codec' in whip && whip.codec.payloadType === 96, 'the offer\'s order: VP8 first');
  const whep = chooseVideoCodec(parsed.offer, ['H264'], h264PacketizationMode1);
  assert.ok('codec' in whep && whep.codec.payloadType === 106, 'H.264 with FU-A');
  const none = chooseVideoCodec(parsed.offer, ['H264'], (c) => c.params['profile-level-id'] === 'ffffff');
  assert.ok('reason' in none);
  assert.equal(none.reason, 'no usable video codec: offered VP8, H264; this server takes H264');
});

test('restricting an offer keeps one payload type and its lines, and leaves other sections alone', () => {
  const restricted = restrictOffer(OFFER, 1, 106);
  assert.match(restricted, /\r\nm=video 9 UDP\/TLS\/RTP\/SAVPF 106\r\n/);
  assert.doesNotMatch(restricted, /a=(rtpmap|fmtp|rtcp-fb):(96|97|102|103) /);
  assert.match(restricted, /a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f/);
  assert.match(restricted, /m=audio 9 UDP\/TLS\/RTP\/SAVPF 111\r\n/);
  assert.match(restricted, /a=rtpmap:111 opus/);
  const reparsed = parseOffer(restricted);
  assert.ok(reparsed.ok && reparsed.offer.sections[1]!.codecs.length === 1);
});

test('what cannot be used is refused with a reason', () => {
  const reasons = (sdp: string) => {
    const parsed = parseOffer(sdp);
    return parsed.ok ? 'ok' : parsed.reason;
  };
  assert.equal(reasons(''), 'empty body: expected an SDP offer');
  assert.match(reasons('{"type":"offer"}'), /must start with "v=0"/);
  assert.match(reasons(OFFER.replace('m=video 9 UDP/TLS/RTP/SAVPF 96', 'm=video nine')), /malformed media line/);
  assert.match(reasons(OFFER.replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:96 ')), /malformed rtpmap/);
  assert.match(reasons(OFFER.replaceAll('a=ice-ufrag:abcd\r\n', '')), /no ICE credentials/);
  assert.match(reasons(OFFER.replaceAll('a=fingerprint:sha-256 AA:BB\r\n', '')), /no DTLS fingerprint/);
  assert.match(reasons(OFFER.replace('a=rtpmap:106 H264/90000\r\n', '')), /payload type 106 .* has no rtpmap/);
  assert.match(reasons('v=0\r\n' + 'a=x\r\n'.repeat(20_000)), /larger than/);
  // Session-level credentials count for every section.
  const sessionLevel = OFFER.replaceAll('a=ice-ufrag:abcd\r\n', '').replace('t=0 0\r\n', 't=0 0\r\na=ice-ufrag:abcd\r\n');
  assert.equal(reasons(sessionLevel), 'ok');
});

test('an offer with more media sections than a publisher or viewer can use is refused before anything else is read', () => {
  const video = OFFER.slice(OFFER.indexOf('m=video'));
  const reason = (sdp: string) => {
    const parsed = parseOffer(sdp);
    return parsed.ok ? 'ok' : parsed.reason;
  };
  assert.match(reason(OFFER + video.replace('a=mid:1', 'a=mid:2')), /the offer has 3 media sections \(2 video\); this server uses at most one video and one audio section/);
  const flood = OFFER + Array.from({ length: 900 }, (_, i) => `m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:${i + 2}\r\na=rtpmap:102 H264/90000\r\n`).join('');
  assert.match(reason(flood), /902 media sections \(901 video\)/);
  // One of each, what a browser sends with a camera and a microphone.
  assert.equal(reason(OFFER), 'ok');
});

test('an offer without an ICE password is refused: werift would answer it with a session that is already closed', () => {
  const parsed = parseOffer(OFFER.replaceAll('a=ice-pwd:0123456789abcdef012345\r\n', ''));
  assert.ok(!parsed.ok);
  assert.match(parsed.reason, /media section 0 has no ICE password \(a=ice-pwd\)/);
  // At session level it counts for every section.
  const sessionLevel = OFFER.replaceAll('a=ice-pwd:0123456789abcdef012345\r\n', '').replace('t=0 0\r\n', 't=0 0\r\na=ice-pwd:0123456789abcdef012345\r\n');
  assert.ok(parseOffer(sessionLevel).ok);
});

test('ICE candidates at unspecified, broadcast and multicast addresses and at DNS names are left out; unicast addresses and mDNS names stay', () => {
  for (const address of ['192.168.1.2', '127.0.0.1', '10.0.0.255', '::1', 'fe80::1', '2001:db8::1', '6c1e2b9a-1d2c-4e8b-9f6a-0b1c2d3e4f50.local']) assert.ok(candidateAddressUsable(address), address);
  for (const address of ['0.0.0.0', '0.1.2.3', '255.255.255.255', '224.0.0.251', '239.255.255.250', '240.0.0.1', '1.2.3.999', '::', 'ff02::fb', 'example.com', 'frc-probe.invalid']) assert.ok(!candidateAddressUsable(address), address);
  const candidate = (address: string) => `a=candidate:1 1 udp 2130706431 ${address} 5000 typ host\r\n`;
  const offer = OFFER + candidate('127.0.0.1') + candidate('255.255.255.255') + candidate('evil.example') + 'a=end-of-candidates\r\n';
  const usable = withoutUnusableCandidates(offer);
  assert.deepEqual(usable.dropped, ['255.255.255.255', 'evil.example']);
  assert.equal(usable.sdp, OFFER + candidate('127.0.0.1') + 'a=end-of-candidates\r\n');
  assert.equal(withoutUnusableCandidates(OFFER).sdp, OFFER);
});
