import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RtpPacket } from 'werift';
import { type RtpViewer, VideoFanout } from '../../../src/protocols/webrtc/video-fanout.js';

class FakeViewer implements RtpViewer {
  packets: RtpPacket[] = [];
  backlog = 0;
  constructor(
    readonly id: string,
    public ready = true,
  ) {}
  send(packet: RtpPacket): void {
    this.packets.push(packet);
  }
}

const idr = Buffer.from([0, 0, 0, 1, 0x65, 1, 2, 3]);
const delta = Buffer.from([0, 0, 0, 1, 0x41, 4, 5, 6]);

test('viewers start at a keyframe, keep their own gapless sequence numbers, and a slow one skips alone', () => {
  let requests = 0;
  const fanout = new VideoFanout({ maxBacklog: 10, onKeyframeNeeded: () => requests++ });
  const a = new FakeViewer('a');
  fanout.add(a);
  assert.equal(requests, 1, 'joining asks for a keyframe');
  fanout.writeH264(delta, 1000, false, []);
  assert.equal(a.packets.length, 0, 'nothing before a keyframe');
  fanout.writeH264(idr, 2500, true, [Buffer.from([0x67, 1]), Buffer.from([0x68, 2])]);
  fanout.writeH264(delta, 4000, false, []);
  assert.deepEqual(a.packets.map((p) => p.payload[0]! & 0x1f), [7, 8, 5, 1]);
  assert.deepEqual(a.packets.map((p) => p.header.marker), [false, false, true, true]);
  assert.deepEqual(a.packets.map((p) => p.header.timestamp), [2500, 2500, 2500, 4000]);
  const seq = a.packets.map((p) => p.header.sequenceNumber);
  assert.deepEqual(seq, seq.map((_, i) => (seq[0]! + i) & 0xffff));

  const slow = new FakeViewer('slow');
  const late = new FakeViewer('late', false);
  fanout.add(slow);
  fanout.add(late);
  fanout.writeH264(idr, 5500, true, []);
  assert.equal(slow.packets.length, 1);
  assert.equal(late.packets.length, 0, 'not connected yet');
  slow.backlog = 11;
  const before = a.packets.length;
  fanout.writeH264(delta, 7000, false, []);
  fanout.writeH264(delta, 8500, false, []);
  assert.equal(a.packets.length, before + 2, 'the others go on');
  assert.equal(slow.packets.length, 1, 'the slow one skips');
  slow.backlog = 0;
  fanout.writeH264(delta, 10000, false, []);
  assert.equal(slow.packets.length, 1, 'and resumes only at a keyframe');
  fanout.writeH264(idr, 11500, true, []);
  assert.equal(slow.packets.length, 2);
  assert.equal(slow.packets[1]!.header.sequenceNumber, (slow.packets[0]!.header.sequenceNumber + 1) & 0xffff, 'no gap for what it skipped');
  fanout.remove('a');
  assert.equal(fanout.count, 2);
});
