import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { convert, type ConvertSummary } from '../../src/convert/convert.js';
import { formatSummary } from '../../src/convert/convert-summary.js';
import { type FrameTiming, overlapMs, stageSpan } from '../../src/engine/timing/frame-timing.js';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import { FOOTAGE, tempDir } from '../helpers.js';

captureFfmpegLog();
const BIRDS = join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'); // 31 frames, 1280x720

test('recorded timings show the stages overlapping: later frames decode while earlier ones are interpolated', async (t) => {
  const frames: { kind: string; timing: FrameTiming }[] = [];
  const summary = await convert({ input: BIRDS, output: join(tempDir(t), 'out.mp4'), target: { factor: 2 }, kind: 'blend', onFrame: (f) => frames.push(f) });
  assert.equal(frames.length, summary.framesOut);

  // Every record is complete and in stage order.
  for (const { timing: r } of frames) {
    assert.ok(r.decodeStart! <= r.decoded! && r.decoded! <= r.interpStart! && r.interpStart! <= r.interpEnd! && r.interpEnd! <= r.encodeStart! && r.encodeStart! <= r.encoded!, JSON.stringify(r));
  }
  // The input frames, one per distinct arrival, with their decode spans.
  const inputs = [...new Map(frames.map((f) => [f.timing.arrival, f.timing])).values()].sort((a, b) => a.arrival - b.arrival);
  assert.equal(inputs.length, 31);
  const interpolated = frames.filter((f) => f.kind === 'interpolated');
  assert.equal(interpolated.length, 30);
  // For each in-between frame (made from input frames N−1 and N), some later input frame (N+1, N+2, …) was being decoded meanwhile.
  const overlapping = interpolated.filter((f) => {
    const later = inputs.filter((i) => i.arrival > f.timing.arrival);
    return later.some((i) => overlapMs(stageSpan(i, 'decode'), stageSpan(f.timing, 'interpolate')) > 0);
  });
  // The last few gaps have no later frame left to decode.
  assert.ok(overlapping.length >= 20, `decode overlapped interpolation for ${overlapping.length} of 30 in-between frames`);
  // And encoding ran while the engine worked too: some encode span overlaps some interpolation span of a later frame.
  const encodeOverlaps = frames.filter((f) => interpolated.some((g) => g.timing.arrival > f.timing.arrival && overlapMs(stageSpan(f.timing, 'encode'), stageSpan(g.timing, 'interpolate')) > 0));
  assert.ok(encodeOverlaps.length >= 10, `encode overlapped later interpolation for ${encodeOverlaps.length} frames`);

  // The summary has the same figures.
  assert.ok(summary.stages.decode.p50 > 0 && summary.stages.interpolate.p50 > 0 && summary.stages.encode.p50 > 0, JSON.stringify(summary.stages));
  assert.ok(summary.stages.interpolate.p95 >= summary.stages.interpolate.p50);
  assert.ok(summary.inputFps > 0 && Math.abs(summary.fps / summary.inputFps - 2) < 0.01);
});

test('the summary line names fallbacks by reason, the slots by rung and the time per stage', () => {
  const summary: ConvertSummary = {
    framesIn: 31, framesOut: 62, originals: 31, interpolated: 20, fallbacks: 10, fallbackFrames: [{ reason: 'error', synthesizer: 'blend', frames: 10 }],
    rungFrames: [{ rung: 'fast', frames: 20 }, { rung: 'blend', frames: 10 }], warmUpMs: 0, late: 0, repeated: 1, dropped: 0,
    interpolator: 'fast', warnings: [], decodeErrors: 0, audio: 'copy', wallSeconds: 2, fps: 31, inputFps: 15.5, width: 1280, height: 720,
    stages: { decode: { p50: 3.04, p95: 5 }, features: { p50: 0, p95: 0 }, interpolate: { p50: 30, p95: 41.26 }, encode: { p50: 14, p95: 20 } },
  };
  assert.equal(
    formatSummary(summary),
    'frc: 31 frames in, 62 out (20 interpolated by fast, 10 fallbacks [10 error→blend], 1 repeated; slots by rung: fast 20, blend 10), 1280x720, audio copy, 2.00 s, 15.5 fps in, 31.0 fps out, ms per frame p50/p95: decode 3.0/5.0, interpolate 30.0/41.3, encode 14.0/20.0',
  );
});

test('the summary line shows the features stage and the scene cuts when the semantic stage ran', () => {
  const summary: ConvertSummary = {
    framesIn: 31, framesOut: 62, originals: 31, interpolated: 28, fallbacks: 0, fallbackFrames: [], rungFrames: [{ rung: 'blend', frames: 28 }], warmUpMs: 0, late: 0, repeated: 3, dropped: 0,
    interpolator: 'blend', warnings: [], decodeErrors: 0, audio: 'none', wallSeconds: 2, fps: 31, inputFps: 15.5, width: 1280, height: 720,
    stages: { decode: { p50: 3, p95: 5 }, features: { p50: 4, p95: 6 }, interpolate: { p50: 30, p95: 40 }, encode: { p50: 14, p95: 20 } },
    sceneCuts: 1,
  };
  assert.match(formatSummary(summary), /\(28 interpolated by blend, 0 fallbacks, 3 repeated, 1 scene cut; slots by rung: blend 28\).*decode 3\.0\/5\.0, features 4\.0\/6\.0, interpolate/);
});

test('the summary line says how many interpolated slots were still pairs, blended without a model run', () => {
  const summary: ConvertSummary = {
    framesIn: 31, framesOut: 62, originals: 31, interpolated: 30, fallbacks: 0, fallbackFrames: [], rungFrames: [{ rung: 'still', frames: 12 }, { rung: 'fast', frames: 18 }], warmUpMs: 0, late: 0, repeated: 1, dropped: 0,
    interpolator: 'fast', warnings: [], decodeErrors: 0, audio: 'none', wallSeconds: 2, fps: 31, inputFps: 15.5, width: 1280, height: 720,
    stages: { decode: { p50: 3, p95: 5 }, features: { p50: 0, p95: 0 }, interpolate: { p50: 30, p95: 40 }, encode: { p50: 14, p95: 20 } },
  };
  assert.match(formatSummary(summary), /\(30 interpolated by fast \(12 of them still pairs, blended\), 0 fallbacks, 1 repeated; slots by rung: still 12, fast 18\)/);
});
