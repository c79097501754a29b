import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { convert } from '../../src/convert/convert.js';
import { type FrameTiming, overlapMs, stageSpan } from '../../src/engine/timing/frame-timing.js';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import { grayFrames, joinedClip, meanAbsDiff, tempDir } from '../helpers.js';

captureFfmpegLog();

test('a scene cut in a real joined clip: with the semantic stage the gap repeats the nearer frame (no morph), and its features ran beside interpolation', async (t) => {
  const dir = tempDir(t);
  const clip = joinedClip(dir);
  const run = async (semantic: boolean) => {
    const frames: { kind: string; timing: FrameTiming }[] = [];
    const output = join(dir, `out-${semantic}.mkv`);
    const summary = await convert({ input: clip, output, target: { factor: 2 }, kind: 'blend', semantic, onFrame: (f) => frames.push(f) });
    return { summary, frames, gray: grayFrames(output, 320, 180) };
  };
  const plain = await run(false);
  const aware = await run(true);
  t.diagnostic(`semantic: ${aware.summary.sceneCuts} cut(s), features p50 ${aware.summary.stages.features.p50.toFixed(1)} ms; ${aware.summary.repeated} repeated vs ${plain.summary.repeated}`);

  assert.equal(plain.summary.sceneCuts, undefined);
  assert.equal(aware.summary.sceneCuts, 1);
  // Output 29 is the slot between input 14 (the last bird) and input 15 (the first cockatoo).
  assert.equal(plain.frames[29]!.kind, 'interpolated');
  assert.equal(aware.frames[29]!.kind, 'repeated');
  const [before, slot, after] = [aware.gray[28]!, aware.gray[29]!, aware.gray[30]!];
  assert.ok(Math.min(meanAbsDiff(slot, before), meanAbsDiff(slot, after)) < 1, 'the cut slot is one of its neighbours');
  const morph = plain.gray[29]!;
  assert.ok(Math.min(meanAbsDiff(morph, plain.gray[28]!), meanAbsDiff(morph, plain.gray[30]!)) > 5, 'without it, a blend of two scenes');
  // Every other gap is interpolated as before.
  assert.equal(aware.summary.interpolated, plain.summary.interpolated - 1);

  // The overlap, from the recorded timings: for in-between frames made from (N-1, N), the encoder's
  // run for a later input frame started before the interpolator's run for that frame ended.
  const inputs = [...new Map(aware.frames.map((f) => [f.timing.arrival, f.timing])).values()];
  assert.ok(inputs.every((i) => i.featuresStart !== undefined && i.featuresEnd! >= i.featuresStart));
  const interpolated = aware.frames.filter((f) => f.kind === 'interpolated');
  const overlapped = interpolated.filter((f) => inputs.some((i) => i.arrival > f.timing.arrival && i.featuresStart! < f.timing.interpEnd! && overlapMs(stageSpan(i, 'features'), stageSpan(f.timing, 'interpolate')) > 0));
  assert.ok(overlapped.length >= interpolated.length / 2, `features of a later frame ran during ${overlapped.length} of ${interpolated.length} interpolations`);
});
