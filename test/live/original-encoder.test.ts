import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import type { RtpPacket } from 'werift';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import { OriginalEncoder } from '../../src/live/original-encoder.js';
import { RtpFrameAssembler } from '../../src/protocols/webrtc/rtp-frame-assembler.js';
import { VideoFanout } from '../../src/protocols/webrtc/video-fanout.js';
import { shadedFrames as frames } from '../helpers.js';

captureFfmpegLog();


/** A connected WebRTC viewer as the fanout sees it, whose RTP is reassembled into frames (werift's depacketizer). */
class AssemblingViewer {
  readonly ready = true;
  readonly backlog = 0;
  readonly frames: { keyframe: boolean; bytes: number }[] = [];
  private readonly assembler = new RtpFrameAssembler('H264', { reorderMs: 0 });
  constructor(readonly id: string) {}
  send(packet: RtpPacket): void {
    for (const out of this.assembler.processInput(packet)) if ('frame' in out) this.frames.push({ keyframe: out.frame.keyframe, bytes: out.frame.data.length });
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

test('the original is encoded only while it has viewers, from an IDR for each joining viewer', async () => {
  const input = frames(30);
  // As the live stream wires them: a viewer that joins or loses track asks the encoder for an IDR.
  let encoder: OriginalEncoder | undefined;
  const fanout = new VideoFanout({ onKeyframeNeeded: () => encoder?.requestKeyframe() });
  const failures: string[] = [];
  await using original = (encoder = new OriginalEncoder({ fanout, fps: 30, timeBase: { num: 1, den: 30 }, onFailed: (error) => failures.push(error) }));
  const feed = async (from: number, to: number) => {
    for (const frame of input.slice(from, to)) {
      original.offer(frame);
      // One at a time, as the input comes: nothing is skipped for being behind.
      await settle();
    }
  };

  // No viewer: nothing is encoded.
  await feed(0, 5);
  assert.deepEqual([original.state, original.framesEncoded], ['idle', 0]);

  const first = new AssemblingViewer('a');
  fanout.add(first);
  await feed(5, 15);
  assert.equal(original.state, 'encoding');
  assert.equal(original.framesEncoded, 10);
  assert.equal(first.frames.length, 10);
  assert.ok(first.frames[0]!.keyframe, 'the first viewer starts at an IDR');

  // A second viewer mid-GOP: an IDR is forced for it on the next frame.
  const second = new AssemblingViewer('b');
  fanout.add(second);
  await feed(15, 20);
  assert.equal(second.frames.length, 5);
  assert.ok(second.frames[0]!.keyframe, 'the joining viewer got an IDR at once');

  // Both leave: the encoder closes and nothing more is encoded.
  fanout.remove('a');
  fanout.remove('b');
  original.idle();
  await settle();
  assert.equal(original.state, 'idle');
  await feed(20, 25);
  assert.equal(original.framesEncoded, 15);

  // A viewer again: a new encoder, from an IDR.
  const third = new AssemblingViewer('c');
  fanout.add(third);
  await feed(25, 30);
  assert.deepEqual([original.state, original.framesEncoded, third.frames.length, third.frames[0]?.keyframe], ['encoding', 20, 5, true]);
  assert.deepEqual(failures, []);
  for (const frame of input) frame.free();
});

test('the original encoder never holds the input up: frames that come while it is busy are skipped', async () => {
  const input = frames(10);
  const fanout = new VideoFanout();
  await using original = new OriginalEncoder({ fanout, fps: 30, timeBase: { num: 1, den: 30 }, onFailed: () => {} });
  fanout.add(new AssemblingViewer('a'));
  // All at once, as a burst would come: one waits for the encoder, the rest are skipped (the engine gets them all the same).
  for (const frame of input) original.offer(frame);
  for (const frame of input) frame.free();
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual([original.framesEncoded, original.framesSkipped], [1, 9]);
});

test('an encoder that fails ends only the original: the state says why, and nothing throws to the stream', async () => {
  const fanout = new VideoFanout();
  const failures: string[] = [];
  await using original = new OriginalEncoder({ fanout, fps: 30, timeBase: { num: 1, den: 30 }, onFailed: (error) => failures.push(error) });
  fanout.add(new AssemblingViewer('a'));
  // 4:2:0 at an odd size: libx264 refuses to open.
  using odd = Frame.fromVideoBuffer(Buffer.alloc(161 * 121 * 2), { width: 161, height: 121, format: AV_PIX_FMT_YUV420P, timeBase: { num: 1, den: 30 } });
  original.offer(odd);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(failures.length, 1);
  assert.match(original.state, /^failed: Failed to open encoder: .*width not divisible by 2/);
  assert.equal(original.usable, false);
  // Later frames are not taken at all.
  original.offer(odd);
  assert.deepEqual([original.framesEncoded, original.framesSkipped], [0, 0]);
});
