import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { readStamp, stampFilter } from '../../bench/frame-stamp.js';
import { FOOTAGE, ffmpeg, tempDir } from '../helpers.js';

const W = 854;
const H = 480;

function grayFrames(file: string, filter?: string): Buffer[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, ...(filter ? ['-vf', filter] : []), '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 28 });
  return Array.from({ length: raw.length / (W * H) }, (_, i) => raw.subarray(i * W * H, (i + 1) * W * H));
}

test('the frame counter survives H.264 at a low bitrate, and blends of neighbours read as in-between frames', (t) => {
  const clip = join(tempDir(t), 'stamped.mp4');
  // Real footage under the stamp, 40 frames (bits 0..5 all change), squeezed to 300 kb/s.
  ffmpeg('-stream_loop', '1', '-i', join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'), '-frames:v', '40', '-vf', `scale=${W}:${H},${stampFilter(H)}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '300k', '-an', clip);
  const frames = grayFrames(clip);
  assert.equal(frames.length, 40);
  assert.deepEqual(frames.map((f) => readStamp(f, W, H)), Array.from({ length: 40 }, (_, n) => ({ kind: 'frame', n })));
  // tblend averages each frame with the one before: frame i becomes the midpoint of i−1 and i.
  const blended = grayFrames(clip, 'tblend=all_mode=average');
  assert.deepEqual(blended.map((f) => readStamp(f, W, H)), Array.from({ length: 39 }, (_, i) => ({ kind: 'between', n: i })));
  // A frame without a stamp is unreadable, not a number.
  assert.deepEqual(readStamp(Buffer.alloc(W * H, 128), W, H), { kind: 'unreadable' });
});

test('the counter reads back at every size the latency benchmark publishes', () => {
  for (const [w, h] of [[854, 480], [1280, 720], [1920, 1080]] as const) {
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `color=c=gray:size=${w}x${h}:rate=30`, '-frames:v', '3', '-vf', stampFilter(h), '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 24 });
    const frames = Array.from({ length: 3 }, (_, i) => raw.subarray(i * w * h, (i + 1) * w * h));
    assert.deepEqual(frames.map((f) => readStamp(f, w, h)), [0, 1, 2].map((n) => ({ kind: 'frame', n })), `${w}x${h}`);
  }
});
