import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { packetizeVp8 } from '../../../src/protocols/webrtc/vp8-packetizer.js';
import { RtpFrameAssembler } from '../../../src/protocols/webrtc/rtp-frame-assembler.js';

// A VP8 keyframe starts with a 3-byte frame tag whose bit 0 is 0 (key), then the start code 9d 01 2a.
const keyframe = Buffer.concat([Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]), Buffer.alloc(3000, 0x77)]);
const delta = Buffer.concat([Buffer.from([0x31, 0x01, 0x00]), Buffer.alloc(500, 0x22)]);

test('VP8 frames come back whole through werift\'s depacketizer, keyframes known as such', () => {
  const payloads = packetizeVp8(keyframe, 1000);
  assert.equal(payloads.length, Math.ceil(keyframe.length / 999));
  assert.ok(payloads.every((p) => p.length <= 1000));
  assert.deepEqual(payloads.map((p) => p[0]), [0x10, 0, 0, 0x00].slice(0, payloads.length), 'the start bit on the first packet only');
  const assembler = new RtpFrameAssembler('VP8');
  let sequence = 7;
  const send = (list: Buffer[], timestamp: number) =>
    list.flatMap((payload, i) => assembler.processInput(new RtpPacket(new RtpHeader({ sequenceNumber: sequence++, timestamp, marker: i === list.length - 1, payloadType: 96 }), payload)));
  const out = send(payloads, 9000);
  assert.equal(out.length, 1);
  const frame = 'frame' in out[0]! ? out[0].frame : undefined;
  assert.ok(frame?.keyframe);
  assert.deepEqual(frame.data, keyframe);
  const next = send(packetizeVp8(delta), 12000);
  assert.ok('frame' in next[0]! && !next[0].frame.keyframe);
  assert.deepEqual(next[0].frame.data, delta);
});
