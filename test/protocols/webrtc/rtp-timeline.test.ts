import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpTimeline } from '../../../src/protocols/webrtc/rtp-timeline.js';

/** A publisher capturing audio (20 ms packets) and video (30 fps) together from wall time 1000 ms, with random RTP starts. */
function publisher(videoStart: number, audioStart: number) {
  return {
    video: (ms: number) => (videoStart + Math.round(ms * 90)) >>> 0,
    audio: (ms: number) => (audioStart + Math.round(ms * 48)) >>> 0,
  };
}

test('video pts count 90 kHz ticks from the first frame, across the 32-bit wrap', () => {
  const timeline = new RtpTimeline();
  const p = publisher(0xffffffff - 4500, 0);
  assert.equal(timeline.video(p.video(0), 1000), 0n);
  assert.equal(timeline.video(p.video(33.333), 1033), 3000n);
  assert.equal(timeline.video(p.video(100), 1100), 9000n);
});

test('audio lands on the video timeline by the least-delayed arrivals, despite a start-up burst of video', () => {
  const timeline = new RtpTimeline();
  const p = publisher(123456, 0xfffff000);
  const audio: bigint[] = [];
  // No video yet: audio cannot be placed.
  assert.equal(timeline.audio(p.audio(-20), 1000 - 20 + 5), undefined);
  // The first 6 video frames (0–166 ms) arrive together at 190 ms, after the first keyframe; then on time (+5 ms).
  for (let i = 0; i <= 5; i++) timeline.video(p.video(i * 33.333), 1000 + 190);
  for (let ms = 0; ms < 3000; ms += 20) {
    if (ms > 190 && Math.round(ms / 33.333) * 33.333 <= ms) timeline.video(p.video(Math.round(ms / 33.333) * 33.333), 1000 + Math.round(ms / 33.333) * 33.333 + 5);
    const pts = timeline.audio(p.audio(ms), 1000 + ms + 5 + (ms % 60 === 0 ? 15 : 0)); // some audio packets late too
    if (pts !== undefined) audio.push(pts);
  }
  // Audio captured at `ms` belongs at video time `ms` (48 ticks a ms); within a few ms once settled.
  const last = audio.at(-1)!;
  const errorMs = Number(last) / 48 - 2980;
  assert.ok(Math.abs(errorMs) <= 3, `audio placed ${errorMs.toFixed(1)} ms off`);
  // Its timestamps only go forward.
  for (let i = 1; i < audio.length; i++) assert.ok(audio[i]! > audio[i - 1]!, `audio pts went back at ${i}`);
});

test("once both media's sender reports have come, they place the audio, not its arrival (a send path 50 ms slower for audio)", () => {
  const p = publisher(555555, 0x7ffffff0);
  /** The sender's wall clock (NTP) at capture time `ms`. */
  const ntp = (ms: number) => 3_900_000_000_000 + ms;
  const run = (reports: boolean) => {
    const timeline = new RtpTimeline();
    let last: bigint | undefined;
    const placed: bigint[] = [];
    for (let ms = 0; ms < 4000; ms += 20) {
      const frame = Math.floor(ms / 33.333) * 33.333;
      timeline.video(p.video(frame), 1000 + frame + 5);
      if (reports && ms === 1000) {
        timeline.senderReport('video', ntp(900), p.video(900));
        timeline.senderReport('audio', ntp(960), p.audio(960));
      }
      last = timeline.audio(p.audio(ms), 1000 + ms + 5 + 50);
      if (last !== undefined) placed.push(last);
    }
    for (let i = 1; i < placed.length; i++) assert.ok(placed[i]! > placed[i - 1]!, `audio pts went back at ${i}`);
    return Number(last!) / 48 - 3980;
  };
  const byArrival = run(false);
  const byReports = run(true);
  assert.ok(Math.abs(byArrival - 50) <= 3, `by arrival alone the audio is late by its send path: ${byArrival.toFixed(1)} ms`);
  assert.ok(Math.abs(byReports) <= 1, `with sender reports: ${byReports.toFixed(1)} ms off`);
});
