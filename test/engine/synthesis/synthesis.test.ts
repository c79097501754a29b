import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AV_PIX_FMT_GBRP } from 'node-av/constants';
import type { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import { blendGraph, createBlendInterpolator } from '../../../src/engine/model/classic-interpolators.js';
import { FlowModel } from '../../../src/engine/model/flow-model.js';
import { loadModel } from '../../../src/engine/model/load-model.js';
import { BlendSynthesizer, DupSynthesizer, FlowSynthesizer, TensorSynthesizer, synthesizerFor, type Synthesizer } from '../../../src/engine/synthesis/synthesis.js';
import { readStillImage } from '../../../src/ingest/still-image.js';
import { EVAL, ffmpeg, meanAbsDiff, tempDir } from '../../helpers.js';
import { warpBlend } from '../../../src/engine/synthesis/warp-kernel.js';
import { constantFlowModel, zeroFlowModel } from '../test-models.js';

const SAMPLE = join(EVAL, 'middlebury_other/Urban2');

test('dup returns the nearer frame (the earlier one at a tie)', async () => {
  const a = await readStillImage(join(SAMPLE, 'frame0.png'), AV_PIX_FMT_GBRP);
  const b = await readStillImage(join(SAMPLE, 'frame1.png'), AV_PIX_FMT_GBRP);
  const dup = new DupSynthesizer();
  for (const [t, expected] of [[0.3, a], [0.5, a], [0.7, b]] as const) {
    const out = await dup.synthesize(a, b, t);
    assert.equal(Buffer.compare(out.data![0]!, expected.data![0]!), 0, `t=${t}`);
    out.free();
  }
  a.free();
  b.free();
});

for (const [label, card] of [
  ['at its input scale', { padMultiple: 16, synthesis: 'engine', inputScale: 0.5 }],
  // 640x480 capped at 5000 pixels: a field of 82x61, an uneven ratio to the frame
  ['under a pixel cap', { padMultiple: 16, synthesis: 'engine', inputScale: 0.5, maxInputPixels: 5000 }],
] as const)
test(`a flow model marked for engine synthesis runs ${label} and the native kernel makes the frame`, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'zero-flow.onnx');
  writeFileSync(path, zeroFlowModel());
  writeFileSync(join(dir, 'zero-flow.json'), JSON.stringify(card));
  const model = await loadModel(path);
  assert.ok(model instanceof FlowModel, 'synthesis "engine" in the card: a flow model');
  const flow = await synthesizerFor(model);
  assert.ok(flow instanceof FlowSynthesizer);
  // The reference: the blend ONNX graph through RGB tensors.
  const blend = await TensorSynthesizer.create(await createBlendInterpolator());
  t.after(async () => {
    await flow.close();
    await blend.close();
  });

  const a = await readStillImage(join(SAMPLE, 'frame0.png'), AV_PIX_FMT_GBRP);
  const b = await readStillImage(join(SAMPLE, 'frame1.png'), AV_PIX_FMT_GBRP);
  const viaFlow = await flow.synthesize(a, b, 0.5);
  const viaBlend = await blend.synthesize(a, b, 0.5);
  assert.equal(viaFlow.width, a.width);
  assert.equal(viaFlow.height, a.height);
  // Zero flow and an even mask: the warp+blend kernel must equal a plain blend (±1 for rounding).
  const worst = worstSample(viaFlow, viaBlend, viaBlend, 0, (w) => w);
  assert.ok(worst <= 1, `max difference ${worst}`);
  for (const f of [a, b, viaFlow, viaBlend]) f.free();
});

test('a flow-only model cannot be used as a whole-frame interpolator: it loads as a flow model, which has no interpolate()', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'zf.onnx');
  writeFileSync(path, zeroFlowModel());
  writeFileSync(join(dir, 'zf.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5 }));
  const model = await loadModel(path);
  t.after(() => model[Symbol.asyncDispose]());
  assert.ok(model instanceof FlowModel);
  assert.equal('interpolate' in model, false);
  // Its only use is the flow path: flows at its own resolution, which the engine warps with.
  const img = { width: 32, height: 32, paddedWidth: 32, paddedHeight: 32, data: new Float32Array(3 * 32 * 32) };
  const field = await model.flows(img, img, 0.5);
  assert.deepEqual([field.width, field.height, field.flow.length, field.mask.length], [32, 32, 4 * 32 * 32, 32 * 32]);
  // A card marked for engine synthesis whose graph makes frames, without flow and mask outputs, is refused.
  writeFileSync(join(dir, 'blend.onnx'), blendGraph());
  writeFileSync(join(dir, 'blend.json'), JSON.stringify({ synthesis: 'engine' }));
  await assert.rejects(loadModel(join(dir, 'blend.onnx')), /marked for engine synthesis but lacks a flow or mask output/);
});

test("the card's warp filter reaches the kernel: bicubic is what the kernel makes with bicubic, and differs from bilinear", async (t) => {
  const dir = tempDir(t);
  // A quarter pixel at the model's half-scale input: half a pixel of the frame, for both frames.
  const field = (w: number, h: number) => ({ width: w, height: h, flow: new Float32Array(4 * w * h).fill(0.25), mask: new Float32Array(w * h).fill(0.5) });
  const a = await readStillImage(join(SAMPLE, 'frame0.png'), AV_PIX_FMT_GBRP);
  const b = await readStillImage(join(SAMPLE, 'frame1.png'), AV_PIX_FMT_GBRP);
  const outs: Record<string, Frame> = {};
  for (const warp of ['bilinear', 'bicubic'] as const) {
    const path = join(dir, `${warp}.onnx`);
    writeFileSync(path, constantFlowModel(0.25));
    writeFileSync(join(dir, `${warp}.json`), JSON.stringify({ padMultiple: 16, synthesis: 'engine', inputScale: 0.5, warp }));
    const model = await loadModel(path);
    assert.ok(model instanceof FlowModel);
    assert.equal(model.warpFilter, warp);
    const synth = await synthesizerFor(model);
    outs[warp] = await synth.synthesize(a, b, 0.5);
    await synth.close();
  }
  const direct = await warpBlend(a, b, field(a.width / 2, a.height / 2), { filter: 'bicubic' });
  assert.equal(worstSample(outs.bicubic!, direct, direct, 0, (w) => w), 0);
  // Urban2's sharp edges: a half-pixel bilinear sample blurs them, a bicubic one much less.
  assert.ok(worstSample(outs.bicubic!, outs.bilinear!, outs.bilinear!, 0, (w) => w) >= 8);
  for (const f of [a, b, direct, outs.bilinear!, outs.bicubic!]) f.free();
});

test('a card with an unknown warp filter is refused with the reason', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'odd.onnx');
  writeFileSync(path, zeroFlowModel());
  writeFileSync(join(dir, 'odd.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5, warp: 'lanczos' }));
  await assert.rejects(loadModel(path), /warp must be "bilinear" or "bicubic"/);
});

test("the card's holdStill reaches the kernel: a frame pair that did not change comes out unchanged under any flow", async (t) => {
  const dir = tempDir(t);
  const a = await readStillImage(join(SAMPLE, 'frame0.png'), AV_PIX_FMT_GBRP);
  const outs: Frame[] = [];
  for (const holdStill of [false, true]) {
    const path = join(dir, `hold-${holdStill}.onnx`);
    writeFileSync(path, constantFlowModel(0.25));
    writeFileSync(join(dir, `hold-${holdStill}.json`), JSON.stringify({ padMultiple: 16, synthesis: 'engine', inputScale: 0.5, holdStill }));
    const model = await loadModel(path);
    assert.ok(model instanceof FlowModel && model.holdStill === holdStill);
    const synth = await synthesizerFor(model);
    outs.push(await synth.synthesize(a, a, 0.5));
    await synth.close();
  }
  assert.ok(worstSample(outs[0]!, a, a, 0, (w) => w) >= 8, 'without it the constant flow moves the picture');
  assert.equal(worstSample(outs[1]!, a, a, 0, (w) => w), 0);
  writeFileSync(join(dir, 'hold-true.json'), JSON.stringify({ synthesis: 'engine', holdStill: 'yes' }));
  await assert.rejects(loadModel(join(dir, 'hold-true.onnx')), /holdStill must be true or false/);
  for (const f of [a, ...outs]) f.free();
});

test('a card with a pixel cap too small to run is refused with the reason', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'tiny.onnx');
  writeFileSync(path, zeroFlowModel());
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5, maxInputPixels: 10 }));
  await assert.rejects(loadModel(path), /maxInputPixels must be at least 256/);
});

test("the card's lkFine refines a flow model's field before the warp: a shift the model missed is found", async (t) => {
  // b is a moved 4 px to the left; the true middle frame is a moved 2 px. The model says "no motion".
  const dir = tempDir(t);
  const paths = [0, 2, 4].map((x) => join(dir, `shift${x}.png`));
  paths.forEach((p, i) => ffmpeg('-i', join(SAMPLE, 'frame0.png'), '-vf', `scale=644:480,crop=640:480:${2 * i}:0`, p));
  const [a, middle, b] = await Promise.all(paths.map((p) => readStillImage(p, AV_PIX_FMT_GBRP)));
  const outs: Frame[] = [];
  for (const lkFine of [undefined, { scale: 2, steps: 2 }]) {
    const path = join(dir, `zero${outs.length}.onnx`);
    writeFileSync(path, zeroFlowModel());
    writeFileSync(path.replace(/onnx$/, 'json'), JSON.stringify({ padMultiple: 16, synthesis: 'engine', inputScale: 0.25, lkFine }));
    const synth = await synthesizerFor(await loadModel(path));
    outs.push(await synth.synthesize(a!, b!, 0.5));
    await synth.close();
  }
  const error = (f: Frame) => meanAbsDiff(f.data![0]!.subarray(0, 640 * 480), middle!.data![0]!.subarray(0, 640 * 480));
  const [plain, refined] = outs.map(error) as [number, number];
  assert.ok(refined < plain / 2, `mean error against the true middle: ${refined.toFixed(2)} refined, ${plain.toFixed(2)} without`);
  for (const f of [a!, middle!, b!, ...outs]) f.free();
});

test('a card with lkFine out of range is refused with the reason', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'fine.onnx');
  writeFileSync(path, zeroFlowModel());
  for (const lkFine of [{ scale: 0, steps: 1 }, { scale: 2, steps: 1.5 }, { scale: 2 }]) {
    writeFileSync(join(dir, 'fine.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5, lkFine }));
    await assert.rejects(loadModel(path), /lkFine must be \{ scale: 1-16, steps: 0-16, shift/);
  }
});

test('a card with a partsRung it cannot have (out of range, more parts than its stages, no lkFine) is refused with the reason', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'rung.onnx');
  writeFileSync(path, zeroFlowModel());
  const lkFine = { scale: 2, steps: 1 };
  for (const [card, reason] of [
    [{ stages: ['a.onnx', 'b.onnx'], lkFine, partsRung: { parts: 2, fineSteps: 1 } }, /partsRung must be \{ parts: 1 to one less than its stages \(2\)/],
    [{ lkFine, partsRung: { parts: 1, fineSteps: 1 } }, /partsRung must be/],
    [{ stages: ['a.onnx', 'b.onnx', 'c.onnx'], lkFine, partsRung: { parts: 2, fineSteps: -1 } }, /partsRung must be/],
    [{ stages: ['a.onnx', 'b.onnx', 'c.onnx'], partsRung: { parts: 2, fineSteps: 1 } }, /partsRung needs lkFine/],
  ] as const) {
    // parts: false, so that the part files (absent) are not loaded: the card is checked all the same.
    writeFileSync(join(dir, 'rung.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5, ...card }));
    await assert.rejects(loadModel(path, { parts: false }), reason);
  }
});

/** Largest difference between `out` and `expected(a, b)` per sample, over the three planes (chroma subsampled by `shift`). */
function worstSample(out: Frame, a: Frame, b: Frame, shift: number, expected: (x: number, y: number) => number): number {
  let worst = 0;
  for (let p = 0; p < 3; p++) {
    const w = p === 0 ? a.width : a.width >> shift;
    const h = p === 0 ? a.height : a.height >> shift;
    // node-av builds `data` and `linesize` anew on every access: read them once per plane
    const [po, pa, pb] = [out, a, b].map((f) => ({ d: f.data![p]!, s: f.linesize[p]! }));
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) worst = Math.max(worst, Math.abs(po!.d[y * po!.s + x]! - expected(pa!.d[y * pa!.s + x]!, pb!.d[y * pb!.s + x]!)));
  }
  return worst;
}

test('the native blend is (1−t)·a + t·b to ±1: the same as the blend graph in planar RGB, and in YUV 4:2:0 directly', async (t) => {
  const reference: Synthesizer = await TensorSynthesizer.create(await createBlendInterpolator());
  const native = new BlendSynthesizer();
  t.after(() => reference.close());
  const rgb = await Promise.all(['frame0.png', 'frame1.png'].map((f) => readStillImage(join(SAMPLE, f), AV_PIX_FMT_GBRP)));
  const yuv = await Promise.all(['frame0.png', 'frame1.png'].map((f) => readStillImage(join(SAMPLE, f), AV_PIX_FMT_YUV420P)));
  for (const at of [0.5, 0.3]) {
    const want = await reference.synthesize(rgb[0]!, rgb[1]!, at);
    const got = await native.synthesize(rgb[0]!, rgb[1]!, at);
    assert.equal(got.format, AV_PIX_FMT_GBRP);
    // compared sample by sample with the graph's output (a = want, b unused)
    assert.ok(worstSample(got, want, want, 0, (w) => w) <= 1, `planar RGB, t=${at}`);
    const mixed = await native.synthesize(yuv[0]!, yuv[1]!, at);
    assert.equal(mixed.format, AV_PIX_FMT_YUV420P);
    const worst = worstSample(mixed, yuv[0]!, yuv[1]!, 1, (x, y) => (1 - at) * x + at * y);
    assert.ok(worst <= 1, `YUV 4:2:0, t=${at}: max difference ${worst}`);
    for (const f of [want, got, mixed]) f.free();
  }
  for (const f of [...rgb, ...yuv]) f.free();
});
