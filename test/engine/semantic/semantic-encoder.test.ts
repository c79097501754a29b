import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import { SemanticEncoder } from '../../../src/engine/semantic/semantic-encoder.js';
import { DEFAULT_SEMANTIC_MODEL } from '../../../src/engine/semantic/semantic-stage.js';
import { dot } from '../../../src/engine/semantic/scene-cut.js';
import { FileSource } from '../../../src/ingest/file-source.js';
import { captureFfmpegLog } from '../../../src/base/ffmpeg-log.js';
import { FOOTAGE, REPO, tempDir } from '../../helpers.js';
import { writeFileSync } from 'node:fs';
import { buildOnnxModel } from '../../../src/engine/runtime/onnx-builder.js';

captureFfmpegLog();

async function frames(file: string, count: number): Promise<Frame[]> {
  const out: Frame[] = [];
  await using source = await FileSource.open(join(FOOTAGE, file));
  for await (const item of source.read()) {
    if (item.kind !== 'video') {
      item.packet.free();
      continue;
    }
    out.push(item.frame);
    if (out.length === count) break;
  }
  return out;
}

test('the shipped encoder: unit pooled features and a patch grid; consecutive frames of a clip are alike, frames of two clips are not', async () => {
  const encoder = await SemanticEncoder.create({ modelPath: DEFAULT_SEMANTIC_MODEL, threads: 1 });
  try {
    const birds = await frames('birds_animation_720p30_wp2022.mp4', 3);
    const cockatoo = await frames('cockatoo_720p20_imageio.mp4', 1);
    const [a, b, c, d] = await Promise.all([...birds, ...cockatoo].map((f) => encoder.encode(f)));
    for (const f of [...birds, ...cockatoo]) f.free();
    assert.ok(Math.abs(dot(a!.pooled, a!.pooled) - 1) < 1e-5, 'unit length');
    assert.equal(a!.patches.length, a!.grid[0] * a!.grid[1] * a!.dim);
    assert.ok(a!.grid[0] >= 4, `grid ${a!.grid}`);
    const same = [dot(a!.pooled, b!.pooled), dot(b!.pooled, c!.pooled)];
    const cut = dot(c!.pooled, d!.pooled);
    assert.ok(Math.min(...same) > cut + 0.2, `within the clip ${same.map((s) => s.toFixed(3))}, across clips ${cut.toFixed(3)}`);
  } finally {
    await encoder[Symbol.asyncDispose]();
  }
});

test('a model without pixel_values (an interpolator) is refused with the reason', async () => {
  await assert.rejects(SemanticEncoder.create({ modelPath: join(REPO, 'models/quality.onnx') }), /not a semantic encoder: it has no input pixel_values \(has img0, img1, timestep\)/);
  await assert.rejects(SemanticEncoder.create({ modelPath: join(REPO, 'models/missing.onnx') }), /cannot load the semantic encoder/);
});

/**
 * A substitute for an official DINOv2 ViT-S/14 export, built here: `pixel_values` [1,3,H,W] → a
 * 14x14 patch embedding (384 channels) → `last_hidden_state` [1, 1+4+N, 384] with a CLS token and
 * 4 register tokens in front of the patches, as DINOv2-with-registers exports have. No card.
 */
function dinov2Like(): Uint8Array {
  const dim = 384;
  const weights = Float32Array.from({ length: dim * 3 * 14 * 14 }, (_, i) => Math.sin(i * 12.9898) * 0.05);
  return buildOnnxModel({
    name: 'dinov2-like',
    inputs: [{ name: 'pixel_values', dims: [1, 3, 'height', 'width'] }],
    outputs: [{ name: 'last_hidden_state', dims: [1, 'tokens', dim] }],
    initializers: [
      { name: 'w', dims: [dim, 3, 14, 14], type: 'float', values: weights },
      { name: 'flat', dims: [3], type: 'int64', values: [1, dim, -1] },
      { name: 'cls', dims: [1, 5, dim], type: 'float', values: Float32Array.from({ length: 5 * dim }, (_, i) => (i < dim ? 1 : 0)) },
    ],
    nodes: [
      { op: 'Conv', inputs: ['pixel_values', 'w'], outputs: ['grid'], attributes: { strides: [14, 14] } },
      { op: 'Reshape', inputs: ['grid', 'flat'], outputs: ['flat_grid'] },
      { op: 'Transpose', inputs: ['flat_grid'], outputs: ['patches'], attributes: { perm: [0, 2, 1] } },
      { op: 'Concat', inputs: ['cls', 'patches'], outputs: ['last_hidden_state'], attributes: { axis: 1 } },
    ],
  });
}

test('an official DINOv2-style export (no card) loads by path: 224x224, 16x16 patches behind the CLS and register tokens', async (t) => {
  const path = join(tempDir(t), 'dinov2-small.onnx');
  writeFileSync(path, dinov2Like());
  const encoder = await SemanticEncoder.create({ modelPath: path });
  try {
    assert.equal(encoder.size, 224);
    const [frame] = await frames('birds_animation_720p30_wp2022.mp4', 1);
    const features = await encoder.encode(frame!);
    frame!.free();
    assert.deepEqual(features.grid, [16, 16]);
    assert.equal(features.dim, 384);
    assert.equal(features.patches.length, 256 * 384);
    // The pooled feature is the CLS token (all ones here), normalised; the patches are the conv's output, not the registers (zeros).
    assert.ok(Math.abs(features.pooled[0]! - 1 / Math.sqrt(384)) < 1e-6);
    assert.ok(features.patches.some((v) => Math.abs(v) > 0.01));
  } finally {
    await encoder[Symbol.asyncDispose]();
  }
});
