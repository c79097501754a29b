import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AV_PIX_FMT_GBRP } from 'node-av/constants';
import { OnnxInterpolator } from '../../src/engine/onnx-interpolator.js';
import { createBlendSynthesizer, DupSynthesizer, FlowSynthesizer, synthesizerFor } from '../../src/engine/synthesis.js';
import { readStillImage } from '../../src/ingest/still-image.js';
import { EVAL, tempDir } from '../helpers.js';
import { zeroFlowModel } from './test-models.js';

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
  const model = await OnnxInterpolator.fromFile(path);
  assert.equal(model.synthesis, 'engine');
  const flow = await synthesizerFor(model);
  assert.ok(flow instanceof FlowSynthesizer);
  const blend = await createBlendSynthesizer();
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
  let worst = 0;
  for (let p = 0; p < 3; p++)
    for (let y = 0; y < a.height; y++)
      for (let x = 0; x < a.width; x++) {
        worst = Math.max(worst, Math.abs(viaFlow.data![p]![y * viaFlow.linesize[p]! + x]! - viaBlend.data![p]![y * viaBlend.linesize[p]! + x]!));
      }
  assert.ok(worst <= 1, `max difference ${worst}`);
  for (const f of [a, b, viaFlow, viaBlend]) f.free();
});

test('a flow-only model refuses to be used as a whole-frame interpolator', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'zf.onnx');
  writeFileSync(path, zeroFlowModel());
  writeFileSync(join(dir, 'zf.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5 }));
  const model = await OnnxInterpolator.fromFile(path);
  t.after(() => model.close());
  const img = { width: 32, height: 32, paddedWidth: 32, paddedHeight: 32, data: new Float32Array(3 * 32 * 32) };
  await assert.rejects(model.interpolate(img, img, 0.5), /outputs flow only/);
});

test('a card with a pixel cap too small to run is refused with the reason', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'tiny.onnx');
  writeFileSync(path, zeroFlowModel());
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ synthesis: 'engine', inputScale: 0.5, maxInputPixels: 10 }));
  await assert.rejects(OnnxInterpolator.fromFile(path), /maxInputPixels must be at least 256/);
});
