import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpHeader, RtpPacket } from 'werift';
import { accessUnitNals, packetizeH264 } from '../../../src/protocols/webrtc/h264-packetizer.js';
import { parameterSets, splitAnnexB } from '../../../src/base/h264.js';
import { RtpFrameAssembler } from '../../../src/protocols/webrtc/rtp-frame-assembler.js';

const sps = Buffer.from([0x67, 0x64, 0x00, 0x1f, 0xac]);
const pps = Buffer.from([0x68, 0xeb, 0xe3, 0xcb]);
const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(5000, 0x5a)]);
const slice = Buffer.concat([Buffer.from([0x41]), Buffer.alloc(300, 0x33)]);
const annexB = (...nals: Buffer[]) => Buffer.concat(nals.flatMap((nal, i) => [Buffer.from(i % 2 ? [0, 0, 1] : [0, 0, 0, 1]), nal]));

test('Annex-B splits on 3- and 4-byte start codes; AUDs go, parameter sets go in front of a bare IDR', () => {
  assert.deepEqual(splitAnnexB(annexB(sps, pps, idr)), [sps, pps, idr]);
  const aud = Buffer.from([0x09, 0xf0]);
  assert.deepEqual(accessUnitNals(annexB(aud, idr), [sps, pps]), [sps, pps, idr]);
  assert.deepEqual(accessUnitNals(annexB(sps, pps, idr), [sps, pps]), [sps, pps, idr], 'not twice');
  assert.deepEqual(accessUnitNals(annexB(slice), [sps, pps]), [slice], 'only keyframes');
  // Both extradata layouts: Annex-B (libx264 global header) and avcC.
  assert.deepEqual(parameterSets(annexB(sps, pps)), [sps, pps]);
  const avcc = Buffer.concat([Buffer.from([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, sps.length]), sps, Buffer.from([1, 0, pps.length]), pps]);
  assert.deepEqual(parameterSets(avcc), [sps, pps]);
  assert.deepEqual(parameterSets(null), []);
});

test('packetized access units come back whole through werift\'s depacketizer, big NAL units as FU-A', () => {
  const payloads = packetizeH264([sps, pps, idr], 1000);
  assert.ok(payloads.every((p) => p.length <= 1000));
  assert.equal(payloads.filter((p) => (p[0]! & 0x1f) === 28).length, Math.ceil((idr.length - 1) / 998));
  const assembler = new RtpFrameAssembler('H264');
  let sequence = 100;
  const send = (list: Buffer[], timestamp: number) =>
    list.flatMap((payload, i) => assembler.processInput(new RtpPacket(new RtpHeader({ sequenceNumber: sequence++, timestamp, marker: i === list.length - 1, payloadType: 96 }), payload)));
  // A delta frame before any keyframe is held back, and a keyframe asked for.
  assert.deepEqual(send(packetizeH264([slice]), 0), [{ needKeyframe: true }]);
  const out = send(payloads, 3000);
  assert.equal(out.length, 1);
  const frame = 'frame' in out[0]! ? out[0].frame : undefined;
  assert.ok(frame?.keyframe);
  assert.equal(frame.timestamp, 3000);
  assert.deepEqual(splitAnnexB(frame.data), [sps, pps, idr]);
  const next = send(packetizeH264([slice]), 6000);
  assert.ok('frame' in next[0]! && !next[0].frame.keyframe);
});
