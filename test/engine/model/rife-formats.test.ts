import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AV_PIX_FMT_GBRP } from 'node-av/constants';
import { createBlendInterpolator } from '../../../src/engine/model/classic-interpolators.js';
import { FrameModel } from '../../../src/engine/model/frame-model.js';
import { paddedSize, type RgbImage } from '../../../src/engine/model/interpolator.js';
import { loadModel } from '../../../src/engine/model/load-model.js';
import { padMultipleFromName } from '../../../src/engine/model/rife-formats.js';
import { synthesizerFor, TensorSynthesizer } from '../../../src/engine/synthesis/synthesis.js';
import { readStillImage } from '../../../src/ingest/still-image.js';
import { EVAL, tempDir } from '../../helpers.js';
import { packedRifeModel, wrongContractModel } from '../test-models.js';

const SAMPLE = join(EVAL, 'middlebury_other/Urban2');

/** A padded test image whose picture holds a ramp and whose padding is zero. */
function image(width: number, height: number, multiple: number, seed: number): RgbImage {
  const paddedWidth = paddedSize(width, multiple);
  const paddedHeight = paddedSize(height, multiple);
  const data = new Float32Array(3 * paddedWidth * paddedHeight);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) data[(c * paddedHeight + y) * paddedWidth + x] = ((x * 7 + y * 13 + c * 29 + seed) % 251) / 255;
  return { width, height, paddedWidth, paddedHeight, data };
}

async function load(t: { after: (fn: () => unknown) => void }, file: string, graph: Uint8Array): Promise<FrameModel> {
  const path = join(tempDir(t), file);
  writeFileSync(path, graph);
  const model = await loadModel(path);
  t.after(() => model[Symbol.asyncDispose]());
  assert.ok(model instanceof FrameModel);
  return model;
}

/** The worst difference between the model's frame and `expected(a, b, x, y)` over the padded frame. */
function worst(out: RgbImage, a: RgbImage, b: RgbImage, expected: (a: number, b: number, x: number, y: number) => number): number {
  let w = 0;
  const { paddedWidth: pw, paddedHeight: ph } = a;
  for (let i = 0; i < out.data.length; i++) {
    const x = i % pw;
    const y = Math.floor(i / pw) % ph;
    w = Math.max(w, Math.abs(out.data[i]! - expected(a.data[i]!, b.data[i]!, x, y)));
  }
  return w;
}

const T = 0.25;
const blend = (a: number, b: number) => a * (1 - T) + b * T;

test('a vs-mlrt v2 file (7 channels: img0, img1, t) loads by path and pads nothing', async (t) => {
  const model = await load(t, 'rife_v4.6_v2.onnx', packedRifeModel(7));
  assert.equal(model.padMultiple, 1, 'the graph pads internally');
  const a = image(45, 17, 1, 0);
  const b = image(45, 17, 1, 100);
  assert.ok(worst((await model.interpolate(a, b, T)).frame, a, b, blend) < 1e-6);
});

test('a VSGAN-tensorrt file (8 channels: img0, img1, t, scale 1) loads by path', async (t) => {
  const model = await load(t, 'rife46.onnx', packedRifeModel(8, 'float', true));
  assert.equal(model.padMultiple, 64, 'no version in the name: 64');
  const a = image(45, 17, 64, 0);
  const b = image(45, 17, 64, 100);
  assert.ok(worst((await model.interpolate(a, b, T)).frame, a, b, blend) < 1e-5);
});

test('a vs-mlrt v1 file (11 channels) gets the coordinate planes and steps of the padded size', async (t) => {
  const model = await load(t, 'rife_v4.6.onnx', packedRifeModel(11, 'float', true));
  assert.equal(model.padMultiple, 32, 'v4.6 pads to 32');
  const a = image(45, 17, 32, 0);
  const b = image(45, 17, 32, 100);
  const out = await model.interpolate(a, b, T);
  const [W, H] = [64, 32];
  // channel 7 + 2·ch8 + 4·ch9 + 8·ch10: 2x/(W−1)−1, 2y/(H−1)−1, 2/(W−1), 2/(H−1)
  const expected = (pa: number, pb: number, x: number, y: number) =>
    blend(pa, pb) + ((2 * x) / (W - 1) - 1) + 2 * ((2 * y) / (H - 1) - 1) + 4 * (2 / (W - 1)) + 8 * (2 / (H - 1));
  assert.ok(worst(out.frame, a, b, expected) < 1e-5);
});

test('a float16 file is fed and read in float16', async (t) => {
  const model = await load(t, 'rife_v4.6_fp16.onnx', packedRifeModel(7, 'float16'));
  const a = image(40, 24, 1, 0);
  const b = image(40, 24, 1, 100);
  const out = await model.interpolate(a, b, T);
  assert.ok(out.frame.data instanceof Float32Array);
  assert.ok(worst(out.frame, a, b, blend) < 2e-3, 'within float16 precision');
});

test('community files make the same frames through the engine as the blend they compute', async (t) => {
  const reference = await TensorSynthesizer.create(await createBlendInterpolator());
  t.after(() => reference.close());
  const a = await readStillImage(join(SAMPLE, 'frame0.png'), AV_PIX_FMT_GBRP);
  const b = await readStillImage(join(SAMPLE, 'frame1.png'), AV_PIX_FMT_GBRP);
  t.after(() => [a, b].forEach((f) => f.free()));
  const want = await reference.synthesize(a, b, T);
  t.after(() => want.free());
  for (const [file, channels, type] of [['v2.onnx', 7, 'float'], ['vsgan_v4.6.onnx', 8, 'float'], ['v1_4.25_lite.onnx', 11, 'float'], ['v2_fp16.onnx', 7, 'float16']] as const) {
    const synthesizer = await synthesizerFor(await load(t, file, packedRifeModel(channels, type)));
    const got = await synthesizer.synthesize(a, b, T);
    let worstSample = 0;
    for (let p = 0; p < 3; p++) {
      const [g, w] = [got.data![p]!, want.data![p]!];
      const [gs, ws] = [got.linesize[p]!, want.linesize[p]!];
      for (let y = 0; y < a.height; y++) for (let x = 0; x < a.width; x++) worstSample = Math.max(worstSample, Math.abs(g[y * gs + x]! - w[y * ws + x]!));
    }
    got.free();
    await synthesizer.close();
    assert.ok(worstSample <= 1, `${file}: max difference ${worstSample}`);
  }
});

test('a graph of no known layout is refused in one line naming what it has and what is expected', async (t) => {
  const path = join(tempDir(t), 'odd.onnx');
  writeFileSync(path, wrongContractModel());
  await assert.rejects(loadModel(path), (err: Error) => {
    assert.match(err.message, /has input\(s\) input \[1,5,h,w\] float32; expected inputs img0, img1, timestep .* C = 7 \(vs-mlrt v2\), 8 \(VSGAN-tensorrt\) or 11 \(vs-mlrt v1\)/);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
});

test('the pad multiple of a v1 or VSGAN file follows the version in its name, else 64', () => {
  assert.equal(padMultipleFromName('/m/rife_v4.6.onnx'), 32);
  assert.equal(padMultipleFromName('rife_v4.22_lite.onnx'), 32);
  assert.equal(padMultipleFromName('rife_v4.25_lite.onnx'), 128);
  assert.equal(padMultipleFromName('rife_v4.25_heavy.onnx'), 64);
  assert.equal(padMultipleFromName('rife_v4.26.onnx'), 64);
  assert.equal(padMultipleFromName('my-rife.onnx'), 64);
});
