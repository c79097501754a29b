import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createBlendInterpolator } from '../../../src/engine/model/classic-interpolators.js';
import { FlowModel } from '../../../src/engine/model/flow-model.js';
import { FrameModel } from '../../../src/engine/model/frame-model.js';
import { paddedSize, type RgbImage } from '../../../src/engine/model/interpolator.js';
import { loadModel } from '../../../src/engine/model/load-model.js';
import { tempDir } from '../../helpers.js';
import { padSensitiveModel, wrongContractModel, zeroFlowModel } from '../test-models.js';

/** The picture without its padding, tightly packed. */
function unpad(image: RgbImage): RgbImage {
  const { width, height, paddedWidth, paddedHeight } = image;
  const data = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < height; y++) data.set(image.data.subarray((c * paddedHeight + y) * paddedWidth, (c * paddedHeight + y) * paddedWidth + width), (c * height + y) * width);
  return { width, height, paddedWidth: width, paddedHeight: height, data };
}

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

test('padded sizes round up to the model multiple', () => {
  assert.equal(paddedSize(720, 32), 736);
  assert.equal(paddedSize(1280, 32), 1280);
  assert.equal(paddedSize(1, 32), 32);
  assert.equal(paddedSize(33, 1), 33);
});

test('a model that needs multiples of 32 runs on an odd 45x17 picture once padded, and crops back exactly', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pad32.onnx');
  writeFileSync(path, padSensitiveModel());
  writeFileSync(join(dir, 'pad32.json'), JSON.stringify({ name: 'pad32', padMultiple: 32 }));
  const model = await loadModel(path);
  t.after(() => model[Symbol.asyncDispose]());
  assert.ok(model instanceof FrameModel, 'a card without synthesis "engine": the graph makes the frame');
  assert.equal(model.name, 'pad32');
  assert.equal(model.padMultiple, 32);

  const a = image(45, 17, 32, 0);
  const b = image(45, 17, 32, 100);
  const out = await model.interpolate(a, b, 0.25);
  assert.equal(out.frame.paddedWidth, 64);
  assert.equal(out.frame.paddedHeight, 32);
  const picture = unpad(out.frame);
  const pa = unpad(a).data;
  const pb = unpad(b).data;
  assert.equal(picture.data.length, 3 * 45 * 17);
  for (let i = 0; i < picture.data.length; i++) assert.ok(Math.abs(picture.data[i]! - (pa[i]! * 0.75 + pb[i]! * 0.25)) < 1e-6);
  assert.deepEqual(out.flow?.dims, [1, 4, 8, 16]);
  assert.deepEqual(out.mask?.dims, [1, 1, 8, 16]);

  // Without padding the same graph fails: the engine's padding is what makes it work.
  await assert.rejects(model.interpolate(image(45, 17, 1, 0), image(45, 17, 1, 1), 0.5));
});

test('a graph without img0/img1/timestep and of no community layout is refused with the reason', async (t) => {
  const path = join(tempDir(t), 'wrong.onnx');
  writeFileSync(path, wrongContractModel());
  await assert.rejects(loadModel(path), /does not follow a known interpolator contract: it has input\(s\) input \[1,5,h,w\]/);
});

test('a missing or corrupt model file gives a one-line error naming it', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(loadModel(join(dir, 'nope.onnx')), /model file not found: .*nope\.onnx/);
  const corrupt = join(dir, 'corrupt.onnx');
  writeFileSync(corrupt, Buffer.from('this is not a protobuf'));
  await assert.rejects(loadModel(corrupt), (err: Error) => /cannot load model .*corrupt\.onnx/.test(err.message) && !err.message.includes('\n'));
});

test('blend computes (1−t)·a + t·b', async (t) => {
  const blend = await createBlendInterpolator();
  t.after(() => blend[Symbol.asyncDispose]());
  const a = image(16, 8, 1, 3);
  const b = image(16, 8, 1, 77);
  for (const step of [0.25, 0.5, 0.9]) {
    const out = (await blend.interpolate(a, b, step)).frame.data;
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - (a.data[i]! * (1 - step) + b.data[i]! * step)) < 1e-6);
  }
});

/** Threads of this process now (Linux). */
function threadCount(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

test("the card's intraOpThreads sizes the model's thread pool unless the caller says otherwise", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'threads.onnx');
  writeFileSync(path, zeroFlowModel());
  const card = (threads: number) => writeFileSync(join(dir, 'threads.json'), JSON.stringify({ synthesis: 'engine', intraOpThreads: threads }));
  // Each session runs in a thread of its own, and ONNX Runtime keeps threads - 1 pool threads beside it; the first session
  // also starts shared ones, so it is only a baseline.
  const models = [await loadModel(path, { threads: 1 })];
  t.after(() => Promise.all(models.map((m) => m[Symbol.asyncDispose]())));
  const added = async (load: () => Promise<FrameModel | FlowModel>) => {
    const before = threadCount();
    models.push(await load());
    return threadCount() - before;
  };
  card(1);
  assert.equal(await added(() => loadModel(path)), 1);
  card(3);
  assert.equal(await added(() => loadModel(path)), 3);
  assert.equal(await added(() => loadModel(path, { threads: 2 })), 2);
  card(0);
  await assert.rejects(loadModel(path), /intraOpThreads must be a positive integer/);
});
