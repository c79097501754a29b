import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FlowModel } from '../../../src/engine/model/flow-model.js';
import type { RgbImage } from '../../../src/engine/model/interpolator.js';
import { loadModel } from '../../../src/engine/model/load-model.js';
import type { ModelOptions } from '../../../src/engine/model/model-session.js';
import { partsToRun, readCard } from '../../../src/engine/model/model-card.js';
import { resolveModelPath } from '../../../src/engine/model/model-choice.js';
import { ort, sessionOptions } from '../../../src/engine/runtime/ort.js';
import { PartedSession } from '../../../src/engine/runtime/parted-session.js';
import { ifBlockAddon } from '../../../src/engine/runtime/native.js';
import { EVAL, REPO, tempDir } from '../../helpers.js';

const native = ifBlockAddon;

/** A shipped-style model that must load as a flow model. */
async function loadFlowModel(path: string, options: ModelOptions = {}): Promise<FlowModel> {
  const model = await loadModel(path, options);
  assert.ok(model instanceof FlowModel, `${path} loads as a flow model`);
  return model;
}

/** grid_sample(bilinear, border, align_corners=False) of one plane at x + fx, y + fy, written plainly. */
function sampleRef(plane: Float32Array, w: number, h: number, x: number, y: number): number {
  const px = Math.min(Math.max(x, 0), w - 1);
  const py = Math.min(Math.max(y, 0), h - 1);
  const x0 = Math.floor(px), y0 = Math.floor(py);
  const x1 = Math.min(x0 + 1, w - 1), y1 = Math.min(y0 + 1, h - 1);
  const ax = px - x0, ay = py - y0;
  const at = (xx: number, yy: number) => plane[yy * w + xx]!;
  return (at(x0, y0) * (1 - ax) + at(x1, y0) * ax) * (1 - ay) + (at(x0, y1) * (1 - ax) + at(x1, y1) * ax) * ay;
}

test('the native pair warp is bilinear with border clamping, each frame by its own flow', () => {
  const [w, h] = [13, 7];
  const n = w * h;
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pair = Float32Array.from({ length: 6 * n }, rand);
  // flows up to ±10 px, so that many samples fall outside and must clamp to the border
  const flow = Float32Array.from({ length: 5 * n }, () => (rand() - 0.5) * 20);
  const out = new Float32Array(6 * n);
  native.warpPair(pair, flow, w, h, out);
  let worst = 0;
  for (let k = 0; k < 2; k++)
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < n; i++) {
        const [x, y] = [i % w, Math.floor(i / w)];
        const ref = sampleRef(pair.subarray((3 * k + c) * n, (3 * k + c + 1) * n), w, h, x + flow[2 * k * n + i]!, y + flow[(2 * k + 1) * n + i]!);
        worst = Math.max(worst, Math.abs(out[(3 * k + c) * n + i]! - ref));
      }
  assert.ok(worst < 1e-5, `largest difference from the reference ${worst}`);
  // a whole-pixel shift moves frame 0 right by one: out(x) = in(x + 1)
  const shift = new Float32Array(5 * n);
  shift.fill(1, 0, n);
  native.warpPair(pair, shift, w, h, out);
  assert.equal(out[0], pair[1]);
  assert.equal(out[3 * n], pair[3 * n], 'frame 1 has zero flow: unchanged');
});

test('the native pair warp refuses arrays too small for the sizes given, and NaN flows stay inside the planes', () => {
  const out = new Float32Array(6 * 4);
  assert.throws(() => native.warpPair(new Float32Array(6 * 4), new Float32Array(4 * 4), 4, 2, out), /6, the flow 4 planes/);
  assert.throws(() => native.warpPair(new Float32Array(6 * 4), new Float32Array(4 * 4), 2, 2, new Float64Array(24) as never), /Float32Arrays/);
  native.warpPair(new Float32Array(6 * 4).fill(0.5), new Float32Array(4 * 4).fill(NaN), 2, 2, out);
  assert.ok(out.every((v) => v === 0.5), 'a NaN coordinate clamps to the image instead of reading outside it');
});

/** An eval frame reduced as the engine would feed it to `fast` at 720p (160x96 after padding), or to another size, as planar float RGB. */
function evalFrame(file: string, [width, height]: readonly [number, number] = [160, 96]): RgbImage {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', `scale=${width}:${height}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'gbrpf32le', '-'], { maxBuffer: 1 << 24 });
  const planes = new Float32Array(raw.buffer, raw.byteOffset, 3 * width * height);
  // gbrp order is G, B, R: the model wants R, G, B
  const n = width * height;
  const data = new Float32Array(3 * n);
  data.set(planes.subarray(2 * n, 3 * n), 0);
  data.set(planes.subarray(0, n), n);
  data.set(planes.subarray(n, 2 * n), 2 * n);
  return { width, height, paddedWidth: width, paddedHeight: height, data };
}

for (const [name, size] of [['fast', [160, 96]], ['quality', [416, 240]]] as const)
test(`the shipped parts compute what the single ${name} graph computes, on real frames`, async () => {
  const dir = join(EVAL, 'middlebury_other', 'DogDance');
  const [a, b] = [evalFrame(join(dir, 'frame0.png'), size), evalFrame(join(dir, 'frame1.png'), size)];
  const path = resolveModelPath(name);
  const single = await loadFlowModel(path, { parts: false });
  const parted = await loadFlowModel(path);
  try {
    for (const t of [0.5, 0.25]) {
      const [s, g] = [await single.flows(a, b, t), await parted.flows(a, b, t)];
      let flowDiff = 0, maskDiff = 0, flowSize = 0;
      s.flow.forEach((v, i) => ((flowDiff = Math.max(flowDiff, Math.abs(v - g.flow[i]!))), (flowSize = Math.max(flowSize, Math.abs(v)))));
      s.mask.forEach((v, i) => (maskDiff = Math.max(maskDiff, Math.abs(v - g.mask[i]!))));
      assert.ok(flowSize > 0.5, `the frames move (largest flow ${flowSize} px), so the warps matter`);
      assert.ok(flowDiff < 1e-3 && maskDiff < 1e-4, `t=${t}: the parts differ by ${flowDiff} px of flow, ${maskDiff} of mask`);
    }
  } finally {
    await Promise.all([single[Symbol.asyncDispose](), parted[Symbol.asyncDispose]()]);
  }
});

test("a run of a model's first parts answers with the field they leave: near the whole model's, not equal to it; a count out of range, or parts of a single graph, is refused", async () => {
  const dir = join(EVAL, 'middlebury_other', 'DogDance');
  const [a, b] = [evalFrame(join(dir, 'frame0.png'), [160, 96]), evalFrame(join(dir, 'frame1.png'), [160, 96])];
  const path = resolveModelPath('fast');
  const parted = await loadFlowModel(path);
  const single = await loadFlowModel(path, { parts: false });
  try {
    assert.equal(parted.partsRung?.parts, 2, "fast's card has a partsRung of 2 parts");
    assert.equal(single.partsRung, undefined, 'a single graph has no parts to stop after');
    const whole = await parted.flows(a, b, 0.5);
    const all = await parted.flows(a, b, 0.5, { parts: 3 });
    const two = await parted.flows(a, b, 0.5, { parts: 2 });
    assert.deepEqual([two.width, two.height], [whole.width, whole.height]);
    assert.deepEqual(all.flow, whole.flow, 'all parts: the whole model');
    let sum = 0, largest = 0;
    two.flow.forEach((v, i) => ((sum += Math.abs(v - whole.flow[i]!)), (largest = Math.max(largest, Math.abs(whole.flow[i]!)))));
    const mean = sum / two.flow.length;
    assert.ok(largest > 0.5 && mean > 1e-3 && mean < 0.5, `two parts' flows differ from the whole model's by ${mean} px on average (largest flow ${largest} px)`);
    assert.ok(two.mask.every((m) => m > 0 && m < 1), 'the mask is a sigmoid of the running logit');
    await assert.rejects(parted.flows(a, b, 0.5, { parts: 0 }), /cannot run 0 of the model's 3 parts/);
    await assert.rejects(parted.flows(a, b, 0.5, { parts: 4 }), /cannot run 4 of the model's 3 parts/);
    await assert.rejects(single.flows(a, b, 0.5, { parts: 2 }), /a single graph cannot run part of itself/);
  } finally {
    await Promise.all([single[Symbol.asyncDispose](), parted[Symbol.asyncDispose]()]);
  }
});

test('runs of one session in parts that overlap each get their own memory: the same fields as one after the other', async () => {
  const path = resolveModelPath('fast');
  const session = await PartedSession.create(partsToRun(path, readCard(path), {})!, sessionOptions('cpu', 1));
  const dir = join(EVAL, 'middlebury_other', 'DogDance');
  const frames = ['frame0.png', 'frame1.png'].map((f) => evalFrame(join(dir, f)));
  const feeds = (a: RgbImage, b: RgbImage, t: number) => ({
    img0: new ort.Tensor('float32', a.data, [1, 3, a.height, a.width]),
    img1: new ort.Tensor('float32', b.data, [1, 3, b.height, b.width]),
    timestep: new ort.Tensor('float32', Float32Array.of(t), [1, 1, 1, 1]),
  });
  try {
    const one = await session.run(feeds(frames[0]!, frames[1]!, 0.5));
    const two = await session.run(feeds(frames[1]!, frames[0]!, 0.25));
    const both = await Promise.all([session.run(feeds(frames[0]!, frames[1]!, 0.5)), session.run(feeds(frames[1]!, frames[0]!, 0.25))]);
    assert.notDeepEqual(one.flow!.data, two.flow!.data, 'the two runs differ');
    assert.deepEqual(both[0].flow!.data, one.flow!.data);
    assert.deepEqual(both[1].flow!.data, two.flow!.data);
    assert.deepEqual(both[1].mask!.data, two.mask!.data);
  } finally {
    await session[Symbol.asyncDispose]();
  }
});

test('a first part made for a Lucas-Kanade pyramid gets its flows from it, and is refused without one or with one the card gets wrong', async (t) => {
  const dir = tempDir(t);
  const card = JSON.parse(readFileSync(resolveModelPath('fast').replace(/\.onnx$/, '.json'), 'utf8'));
  for (const f of ['fast.onnx', ...card.stages]) copyFileSync(join(REPO, 'models', f), join(dir, f));
  const frames = ['frame0.png', 'frame1.png'].map((f) => evalFrame(join(EVAL, 'middlebury_other', 'DogDance', f)));
  const flows = async (edit: Record<string, unknown>, parts?: number) => {
    writeFileSync(join(dir, 'fast.json'), JSON.stringify({ ...card, ...edit }));
    const model = await loadFlowModel(join(dir, 'fast.onnx'));
    try {
      return (await model.flows(frames[0]!, frames[1]!, 0.5, parts === undefined ? {} : { parts })).flow;
    } finally {
      await model[Symbol.asyncDispose]();
    }
  };
  // the first part's own flows are zeros (train/ifnet_infer.py, mask_only): after it, the flows are the pyramid's
  const first = await flows({}, 1);
  const largest = first.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(largest > 0.5, `the flows after the first part are the pyramid's (largest ${largest} px)`);
  await assert.rejects(flows({ lkPyramid: undefined }), /part 0 .* computes the mask alone: .* \(lkPyramid\)/);
  await assert.rejects(flows({ lkPyramid: { pools: [2, 4], steps: 4 } }), /lkPyramid must be/);
  await assert.rejects(flows({ lkPyramid: { pools: [4, 2, 1], steps: 4 }, lk: [1, 2, 2] }), /cannot also have lk steps/);
  // a first part that computes flows of its own, where the pyramid would replace them
  await assert.rejects(
    PartedSession.create({ parts: [join(dir, card.stages[1]), join(dir, card.stages[2])], blocks: card.blocks.slice(1), lkPyramid: { pools: [4, 2, 1], steps: 4 } }, sessionOptions('cpu', 1)),
    /part 0 .* computes flows of its own/,
  );
});

test('a card whose part files are missing, or parts that break the contract, fail with the reason', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'm.onnx');
  copyFileSync(resolveModelPath('fast'), model);
  const card = JSON.parse(readFileSync(resolveModelPath('fast').replace(/\.onnx$/, '.json'), 'utf8'));
  writeFileSync(join(dir, 'm.json'), JSON.stringify({ ...card, stages: ['m.s0.onnx', 'm.s1.onnx'], partsRung: undefined }));
  await assert.rejects(loadModel(model), /lists part files \(stages\) that are missing: .*m\.s0\.onnx/);
  // the single graph stays one option away
  await (await loadModel(model, { parts: false }))[Symbol.asyncDispose]();
  // a card without its blocks' settings, or with settings the parts do not fit
  for (const f of card.stages) copyFileSync(join(REPO, 'models', f), join(dir, f));
  writeFileSync(join(dir, 'm.json'), JSON.stringify({ ...card, blocks: undefined }));
  await assert.rejects(loadModel(model), /blocks must list \{ scale, channels, radius, smooth, invT \} for each of its 3 parts/);
  const blocks = card.blocks.map((b: { channels: number }, i: number) => (i === 2 ? { ...b, channels: 24 } : b));
  const paths = card.stages.map((f: string) => join(REPO, 'models', f));
  await assert.rejects(PartedSession.create({ parts: paths, blocks, lkPyramid: card.lkPyramid }, sessionOptions('cpu', 1)), /block 2 of the card: createBlock: settings out of range/);
  await assert.rejects(
    PartedSession.create({ parts: paths, blocks: card.blocks.map((b: object, i: number) => (i === 1 ? { ...b, channels: 40 } : b)), lkPyramid: card.lkPyramid }, sessionOptions('cpu', 1)),
    /part 1 .* reads 32 channels, its block in the card says 40/,
  );
  // the whole model is no block: it reads frames, not a block's input
  await assert.rejects(PartedSession.create({ parts: [model, model], blocks: card.blocks.slice(1) }, sessionOptions('cpu', 1)), /part 0 .* is not a block's convolutions: it must read block_in/);
});

test('the baseline build of the native work between the parts computes the same too', { skip: process.env.FRC_KERNEL_BASELINE === '1' }, () => {
  // Without NODE_TEST_CONTEXT, which would make the child report to this runner instead of to stdout.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const args = ['--test', '--test-name-pattern', 'compute what the single', fileURLToPath(import.meta.url)];
  const run = spawnSync(process.execPath, args, { env: { ...env, FRC_KERNEL_BASELINE: '1' }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /# pass 2/);
  assert.match(run.stdout, /# fail 0/);
});
