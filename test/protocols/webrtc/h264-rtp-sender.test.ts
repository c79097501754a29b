import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Packet } from 'node-av/lib';
import type { RtpPacket } from 'werift';
import { H264RtpSender } from '../../../src/protocols/webrtc/h264-rtp-sender.js';
import { VideoFanout } from '../../../src/protocols/webrtc/video-fanout.js';

const idr = Buffer.from([0, 0, 0, 1, 0x65, 1, 2, 3]);

/** The RTP timestamp each packet went out with, as a viewer got it. */
function sent(timeBase: { num: number; den: number }, pts: bigint[]) {
  const packets: RtpPacket[] = [];
  const fanout = new VideoFanout();
  fanout.add({ id: 'v', ready: true, backlog: 0, send: (p) => packets.push(p) });
  const sender = new H264RtpSender(fanout, () => []);
  for (const p of pts) sender.send({ data: idr, pts: p, timeBase, isKeyframe: true } as unknown as Packet);
  return { sender, timestamps: packets.map((p) => p.header.timestamp) };
}

test("the RTP timestamp of a frame's media time is the one its packets went out with", () => {
  const pts = Array.from({ length: 200 }, (_, i) => BigInt(i * 7));
  const exact = sent({ num: 1, den: 60 }, pts);
  assert.deepEqual(
    pts.map((p) => exact.sender.timestampAt(Number(p) / 60)),
    exact.timestamps,
  );
  // 59.94 fps: 1501.5 ticks a frame, rounded down by send; from seconds it may land a tick off, never more.
  const ntsc = sent({ num: 1001, den: 60000 }, pts);
  pts.forEach((p, i) => {
    const off = Math.abs(ntsc.sender.timestampAt((Number(p) * 1001) / 60000) - ntsc.timestamps[i]!);
    assert.ok(Math.min(off, 2 ** 32 - off) <= 1, `frame ${p}: ${off} ticks off`);
  });
});

test('the timestamps wrap at 32 bits as the packets do', () => {
  const { sender } = sent({ num: 1, den: 90000 }, []);
  const start = sender.timestampAt(0);
  const later = sender.timestampAt(2 ** 32 / 90000);
  assert.equal(later, start);
  assert.ok(sender.timestampAt(100_000) < 2 ** 32);
});
