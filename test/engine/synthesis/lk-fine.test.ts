import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import type { Frame } from 'node-av/lib';
import { FineRefiner } from '../../../src/engine/synthesis/lk-fine.js';
import { readStillImage } from '../../../src/ingest/still-image.js';
import { EVAL, ffmpeg, tempDir } from '../../helpers.js';

const SOURCE = join(EVAL, 'middlebury_other/Urban2/frame0.png');

/** Two yuv420p frames cut from SOURCE by two ffmpeg filter chains (the second one moved against the first). */
async function framePair(t: TestContext, filterA: string, filterB: string): Promise<[Frame, Frame]> {
  const dir = tempDir(t);
  const [pa, pb] = [join(dir, 'a.png'), join(dir, 'b.png')];
  ffmpeg('-i', SOURCE, '-vf', filterA, pa);
  ffmpeg('-i', SOURCE, '-vf', filterB, pb);
  return [await readStillImage(pa, AV_PIX_FMT_YUV420P), await readStillImage(pb, AV_PIX_FMT_YUV420P)];
}

test('FineRefiner finds, on the frames\' luma at twice the field\'s size, a shift the field missed', async (t) => {
  // b is a moved 4 px to the left: at t = 0.5, F(t->0) = +2 and F(t->1) = -2 frame pixels in x
  const [a, b] = await framePair(t, 'scale=644:480,crop=640:480:0:0', 'scale=644:480,crop=640:480:4:0');
  // a zero field at 1/8 of the frame, as a model would return at a tight pixel cap
  const [w, h] = [80, 60];
  const field = { width: w, height: h, flow: new Float32Array(4 * w * h), mask: new Float32Array(w * h).fill(0.5) };
  using refiner = new FineRefiner({ scale: 2, steps: 2 });
  const out = await refiner.refine(a, b, field, 0.5);
  assert.equal(out.width, 160);
  assert.equal(out.height, 120);
  // in pixels of the refined field (a quarter of the frame's): +0.5 and -0.5
  const n = out.width * out.height;
  const mean = (c: number) => {
    let sum = 0, count = 0;
    for (let y = 10; y < out.height - 10; y++)
      for (let x = 10; x < out.width - 10; x++) (sum += out.flow[c * n + y * out.width + x]!), count++;
    return sum / count;
  };
  assert.ok(Math.abs(mean(0) - 0.5) < 0.1, `F(t->0) x: ${mean(0)}, want 0.5`);
  assert.ok(Math.abs(mean(2) + 0.5) < 0.1, `F(t->1) x: ${mean(2)}, want -0.5`);
  assert.ok(Math.abs(mean(1)) < 0.1 && Math.abs(mean(3)) < 0.1, `y flows ${mean(1)}, ${mean(3)}: want 0`);
  assert.ok(out.mask.every((v) => Math.abs(v - 0.5) < 1e-6), 'the mask is upsampled as it was');
  assert.ok(field.flow.every((v) => v === 0), 'the model\'s field is left as it was');
  // frames no larger than twice the field: nothing to refine above it
  const coarse = { ...field, width: 400, height: 300, flow: new Float32Array(4 * 400 * 300), mask: new Float32Array(400 * 300) };
  assert.equal(await refiner.refine(a, b, coarse, 0.5), coarse);
  a.free();
  b.free();
});

test('FineRefiner with the card\'s shift takes a displacement of the whole picture that is beyond the steps\' reach', async (t) => {
  // b is a scrolled 40 px up: at t = 0.5 the flows are ±20 frame pixels in y, ±5 in the refined field's
  const [a, b] = await framePair(t, 'scale=640:520,crop=640:480:0:0', 'scale=640:520,crop=640:480:0:40');
  const [w, h] = [80, 60];
  const field = () => ({ width: w, height: h, flow: new Float32Array(4 * w * h), mask: new Float32Array(w * h).fill(0.5) });
  using plain = new FineRefiner({ scale: 2, steps: 1 });
  using shifting = new FineRefiner({ scale: 2, steps: 1, shift: true });
  const [without, withShift] = [await plain.refine(a, b, field(), 0.5), await shifting.refine(a, b, field(), 0.5)];
  const n = withShift.width * withShift.height;
  assert.equal(plain.shifted, 0);
  assert.ok(shifting.shifted > 0.8 * n, `${shifting.shifted} of ${n} samples took the shift`);
  const at = (f: typeof without, c: number) => f.flow[c * n + 60 * f.width + 80]!;
  assert.ok(Math.abs(at(without, 1)) <= 1.01, 'one step moves the field by a pixel at most');
  assert.ok(Math.abs(at(withShift, 1) - 5) < 0.25 && Math.abs(at(withShift, 3) + 5) < 0.25, `y flows ${at(withShift, 1)}, ${at(withShift, 3)}: want 5, -5`);
  // a field refined already (the reuse rung's, scale 1) does not try the shift again
  await shifting.refine(a, b, withShift, 0.5, 1);
  assert.equal(shifting.shifted, 0);
  a.free();
  b.free();
});
