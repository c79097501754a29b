import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import { FileSource } from '../../src/ingest/file-source.js';
import { testPatternInput, type TestPatternOptions } from '../../src/ingest/test-pattern.js';
import { TEST_PATTERN_DEFAULTS, testPatternGraph } from '../../src/ingest/test-pattern-graphs.js';
import '../helpers.js';

captureFfmpegLog();

/** The frame's luma plane as packed bytes (FFmpeg pads each row to its linesize). */
function luma(frame: Frame): Buffer {
  const { width, height } = frame;
  const stride = frame.linesize[0]!;
  const plane = frame.data![0]!;
  const packed = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) plane.copy(packed, y * width, y * stride, y * stride + width);
  return packed;
}

/** Share of pixels whose luma differs by more than a compression-noise margin. */
function changedShare(a: Buffer, b: Buffer): number {
  let changed = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > 8) changed++;
  return changed / a.length;
}

function standardDeviation(values: Buffer): number {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return Math.sqrt(squares / values.length);
}

/** Opens the live test pattern as the server does and reads `count` frames from it, paced to the wall clock. */
async function readLive(options: TestPatternOptions, count: number) {
  const input = testPatternInput(options);
  const source = await input.open();
  try {
    const frames: { pts: bigint; width: number; height: number; luma: Buffer }[] = [];
    const started = performance.now();
    for await (const item of source.read()) {
      // The test pattern has no audio, and sends no encoded video alongside.
      assert.equal(item.kind, 'video');
      if (item.kind !== 'video') continue;
      frames.push({ pts: item.frame.pts, width: item.frame.width, height: item.frame.height, luma: luma(item.frame) });
      item.frame.free();
      if (frames.length === count) break;
    }
    const tb = source.video.timeBase;
    return { source, frames, elapsedMs: performance.now() - started, seconds: (pts: bigint) => (Number(pts) * tb.num) / tb.den };
  } finally {
    await source[Symbol.asyncDispose]();
  }
}

test('the default test pattern is 1280x720 at 30 fps, in real time, and moves: most of each frame changes, and it is not flat', async () => {
  const { source, frames, elapsedMs, seconds } = await readLive({}, 10);
  assert.equal(source.videoCodec, 'lavfi motion pattern');
  assert.deepEqual(source.frameRate, { num: 30, den: 1 });
  assert.equal(frames.length, 10);
  for (const frame of frames) assert.deepEqual([frame.width, frame.height], [1280, 720]);
  for (let i = 1; i < frames.length; i++) assert.ok(Math.abs(seconds(frames[i]!.pts - frames[i - 1]!.pts) - 1 / 30) < 1e-6, `frame ${i} is 1/30 s after the one before`);
  // The `realtime` filter: 9 intervals of 33 ms cannot arrive much sooner.
  assert.ok(elapsedMs > 250, `10 frames took ${elapsedMs.toFixed(0)} ms: not paced to the wall clock`);
  for (let i = 1; i < frames.length; i++) {
    // The background pans under everything, so a still or a lone moving object would change far less.
    const share = changedShare(frames[i - 1]!.luma, frames[i]!.luma);
    assert.ok(share > 0.25, `frame ${i}: only ${(share * 100).toFixed(1)}% of its pixels changed`);
  }
  for (const frame of frames) {
    const deviation = standardDeviation(frame.luma);
    assert.ok(deviation > 30, `luma standard deviation ${deviation.toFixed(1)}: a nearly flat image`);
  }
});

test('testsrc2 stays available: FFmpeg test card at 480x270, 30 fps', async () => {
  const { source, frames } = await readLive({ kind: 'testsrc2' }, 3);
  assert.equal(source.videoCodec, 'testsrc2');
  assert.deepEqual(source.frameRate, { num: 30, den: 1 });
  assert.deepEqual([frames[0]!.width, frames[0]!.height], [480, 270]);
  assert.ok(changedShare(frames[0]!.luma, frames[1]!.luma) > 0, 'testsrc2 moves too');
});

test('over 10 s of the motion pattern (unpaced), every frame is one interval after the one before and differs from it', async () => {
  await using file = await FileSource.open(testPatternGraph('motion', TEST_PATTERN_DEFAULTS.motion), { format: 'lavfi' });
  const tb = file.video.timeBase;
  let previous: { pts: bigint; luma: Buffer } | undefined;
  let read = 0;
  for await (const item of file.read()) {
    if (item.kind !== 'video') continue;
    const frame = { pts: item.frame.pts, luma: luma(item.frame) };
    item.frame.free();
    if (previous) {
      // A looped still renumbered with a rounding error once repeated a timestamp (and so a frame) every 4 s.
      assert.equal((Number(frame.pts - previous.pts) * tb.num) / tb.den, 1 / 30, `frame ${read}'s timestamp`);
      const share = changedShare(previous.luma, frame.luma);
      assert.ok(share > 0.2, `frame ${read}: only ${(share * 100).toFixed(1)}% of its pixels changed`);
    }
    previous = frame;
    if (++read === 300) break;
  }
  assert.equal(read, 300);
});

test('the motion pattern is cheap: its fractal is drawn once, and each frame only moves pixels', async () => {
  // Unpaced, to measure the filters alone; CPU time, not wall time, so a busy machine slows it little.
  await using file = await FileSource.open(testPatternGraph('motion', TEST_PATTERN_DEFAULTS.motion), { format: 'lavfi' });
  const count = 90;
  let read = 0;
  let before: NodeJS.CpuUsage | undefined;
  for await (const item of file.read()) {
    if (item.kind !== 'video') continue;
    item.frame.free();
    // The first frame carries the one-off drawing of the background.
    if (read === 0) before = process.cpuUsage();
    if (++read === count + 1) break;
  }
  const used = process.cpuUsage(before);
  const msPerFrame = (used.user + used.system) / 1000 / count;
  // About 1 ms on a 2-core machine; drawing the fractal every frame would be hundreds.
  assert.ok(msPerFrame < 15, `${msPerFrame.toFixed(1)} ms of CPU per frame`);
});
