import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import { SemanticEncoder } from '../../src/engine/semantic-encoder.js';
import { DEFAULT_SEMANTIC_MODEL } from '../../src/engine/semantic-stage.js';
import { dot } from '../../src/engine/scene-cut.js';
import { FileSource } from '../../src/ingest/file-source.js';
import { captureFfmpegLog } from '../../src/ffmpeg-log.js';
import { FOOTAGE, REPO } from '../helpers.js';

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
    await encoder.close();
  }
});

test('a model without pixel_values (an interpolator) is refused with the reason', async () => {
  await assert.rejects(SemanticEncoder.create({ modelPath: join(REPO, 'models/quality.onnx') }), /not a semantic encoder: it has no input pixel_values \(has img0, img1, timestep\)/);
  await assert.rejects(SemanticEncoder.create({ modelPath: join(REPO, 'models/missing.onnx') }), /cannot load the semantic encoder/);
});
