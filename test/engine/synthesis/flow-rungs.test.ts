import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AV_PIX_FMT_GBRP, AV_PIX_FMT_YUV420P } from 'node-av/constants';
import type { Frame } from 'node-av/lib';
import { loadModel } from '../../../src/engine/model/load-model.js';
import { resolveModelPath } from '../../../src/engine/model/model-choice.js';
import { FieldMemory, ladder, MAX_REUSES } from '../../../src/engine/synthesis/flow-rungs.js';
import { FineRefiner } from '../../../src/engine/synthesis/lk-fine.js';
import type { FlowField } from '../../../src/engine/model/flow-field.js';
import { synthesizerFor } from '../../../src/engine/synthesis/synthesis.js';
import { blendFrames } from '../../../src/engine/synthesis/warp-kernel.js';
import { readStillImage } from '../../../src/ingest/still-image.js';
import { EVAL, ffmpeg, meanAbsDiff, tempDir } from '../../helpers.js';
import { texturedFrame } from './textured-frame.js';

const SAMPLE = join(EVAL, 'middlebury_other/Urban2');

/** Urban2 panning steadily 4 px per frame to the left: frames at 0, 4, 8 px and the true middles at 2 and 6. */
async function pan(dir: string): Promise<{ frames: Frame[]; middles: Frame[] }> {
  const shots = [0, 2, 4, 6, 8].map((x) => join(dir, `pan${x}.png`));
  shots.forEach((p, i) => ffmpeg('-i', join(SAMPLE, 'frame0.png'), '-vf', `scale=648:480,crop=640:480:${2 * i}:0`, p));
  const all = await Promise.all(shots.map((p) => readStillImage(p, AV_PIX_FMT_GBRP)));
  return { frames: [all[0]!, all[2]!, all[4]!], middles: [all[1]!, all[3]!] };
}

const error = (f: Frame, truth: Frame) => meanAbsDiff(f.data![0]!.subarray(0, 640 * 480), truth.data![0]!.subarray(0, 640 * 480));

test("fast's ladder: its rungs are views of the one model, the reused field needs the adjacent gap before, and both follow a steady pan far better than blend", async (t) => {
  const { frames, middles } = await pan(tempDir(t));
  const [f0, f1, f2] = frames as [Frame, Frame, Frame];
  const top = await synthesizerFor(await loadModel(resolveModelPath('fast')));
  const rungs = top.rungs!();
  // fast warps bilinearly (its card): there is no cheaper filter to step down to. Its card's partsRung comes first.
  assert.deepEqual(rungs.map((r) => r.name), ['frc-ifnet-fast/2-parts', 'frc-ifnet-fast/reuse']);
  const [parts, reuse] = rungs as [typeof top, typeof top];
  // Nothing rendered yet: no field to reuse; the network's first parts need none.
  assert.equal(reuse.canRender!(f0, f1, 0.5), false);
  assert.equal(parts.canRender!(f0, f1, 0.5), true);
  using fromParts = await parts.synthesize(f0, f1, 0.5);
  using first = await top.synthesize(f0, f1, 0.5);
  // The gap after it may reuse its field, at the same t only; a gap that does not start where it ended may not.
  assert.equal(reuse.canRender!(f1, f2, 0.5), true);
  assert.equal(reuse.canRender!(f1, f2, 0.25), false);
  assert.equal(reuse.canRender!(f0, f2, 0.5), false);
  using reused = await reuse.synthesize(f1, f2, 0.5);
  using model = await top.synthesize(f1, f2, 0.5);
  using blend = await blendFrames(f1, f2, 0.5);
  const [e, eModel, eBlend] = [error(reused, middles[1]!), error(model, middles[1]!), error(blend, middles[1]!)];
  assert.ok(error(first, middles[0]!) < 3, `top rung ${error(first, middles[0]!)}`);
  assert.ok(e < eBlend / 3 && e < eModel + 1, `mean error against the true middle: reused ${e.toFixed(2)}, model ${eModel.toFixed(2)}, blend ${eBlend.toFixed(2)}`);
  const [eParts, eFirst] = [error(fromParts, middles[0]!), error(first, middles[0]!)];
  using blendFirst = await blendFrames(f0, f1, 0.5);
  assert.ok(eParts < error(blendFirst, middles[0]!) / 3 && eParts < eFirst + 1, `first gap: 2 parts ${eParts.toFixed(2)}, model ${eFirst.toFixed(2)}`);
  // The owner's close closes its rungs.
  await top.close();
  await assert.rejects(reuse.synthesize(f1, f2, 0.5), /rung frc-ifnet-fast\/reuse is closed/);
  assert.equal(reuse.canRender!(f1, f2, 0.5), false);
  for (const f of [...frames, ...middles]) f.free();
});

test('a card that warps bicubically gets a bilinear rung first; a partsRung comes before the reused field; both need lkFine', () => {
  const partsRung = { parts: 2, fineSteps: 2 };
  const labels = (filter: 'bilinear' | 'bicubic', fine: boolean, rung?: typeof partsRung) => ladder(filter, fine, rung).map((r) => r.label ?? 'top');
  assert.deepEqual(labels('bicubic', true), ['top', 'bilinear', 'reuse']);
  assert.deepEqual(labels('bilinear', true), ['top', 'reuse']);
  assert.deepEqual(labels('bicubic', false), ['top', 'bilinear']);
  assert.deepEqual(labels('bilinear', true, partsRung), ['top', '2-parts', 'reuse']);
  assert.deepEqual(labels('bicubic', true, partsRung), ['top', 'bilinear', '2-parts', 'reuse']);
  assert.deepEqual(labels('bilinear', false, partsRung), ['top']);
  const [, rung] = ladder('bilinear', true, partsRung);
  assert.deepEqual({ filter: rung!.filter, reuse: rung!.reuse, parts: rung!.parts }, { filter: 'bilinear', reuse: false, parts: partsRung });
});

test('a warm-up runs the top rung on one frame and leaves no field behind for the stream', async (t) => {
  const { frames, middles } = await pan(tempDir(t));
  const [f0, f1] = frames as [Frame, Frame];
  await using top = await synthesizerFor(await loadModel(resolveModelPath('fast')));
  await top.warmUp!(f0);
  // The warm-up's pair (f0, f0) is no gap of the stream: the gap (f0, f1) has no field before it.
  assert.equal(top.rungs!().find((r) => r.name.endsWith('/reuse'))!.canRender!(f0, f1, 0.5), false);
  for (const f of [...frames, ...middles]) f.free();
});

test('a field is carried through at most MAX_REUSES gaps in a row; then a network rung renders and the chain starts again', async (t) => {
  const dir = tempDir(t);
  // Urban2 panning 4 px per input frame: the model's gap, MAX_REUSES reused, the model's, one reused again.
  const n = MAX_REUSES + 4;
  const shots = Array.from({ length: n }, (_, i) => join(dir, `pan${i}.png`));
  shots.forEach((p, i) => ffmpeg('-i', join(SAMPLE, 'frame0.png'), '-vf', `scale=${640 + 4 * n}:480,crop=640:480:${4 * i}:0`, p));
  const frames = await Promise.all(shots.map((p) => readStillImage(p, AV_PIX_FMT_GBRP)));
  await using top = await synthesizerFor(await loadModel(resolveModelPath('fast')));
  const reuse = top.rungs!().find((r) => r.name.endsWith('/reuse'))!;
  (await top.synthesize(frames[0]!, frames[1]!, 0.5)).free();
  const can: boolean[] = [];
  for (let i = 1; i + 1 < n; i++) {
    can.push(reuse.canRender!(frames[i]!, frames[i + 1]!, 0.5));
    (await (can.at(-1) ? reuse : top).synthesize(frames[i]!, frames[i + 1]!, 0.5)).free();
  }
  // MAX_REUSES gaps by the reused field, then the model's turn, then the reused field again.
  assert.deepEqual(can, [...Array.from({ length: MAX_REUSES }, () => true), false, true]);
  for (const f of frames) f.free();
});

test('the field memory lets a field go once no gap it keeps holds it, and only once', () => {
  const frames = Array.from({ length: 8 }, () => ({ width: 64, height: 32, format: 0 }) as unknown as Frame);
  const f = (name: string) => ({ name, width: 1, height: 1, flow: new Float32Array(4), mask: new Float32Array(1) }) as FlowField & { name: string };
  const dropped: string[] = [];
  const memory = new FieldMemory((field) => dropped.push((field as FlowField & { name: string }).name));
  const [A, B, C, D, E] = [f('A'), f('B'), f('C'), f('D'), f('E')];
  memory.enter(frames[0]!, frames[1]!);
  memory.keep(0.5, { field: A, scale: 1, reuses: 0 });
  memory.enter(frames[1]!, frames[2]!);
  assert.deepEqual(dropped, [], 'the gap before is kept for the reuse rung');
  // The reuse rung may keep the very field it started from (refined in place of nothing): the next gap still holds it.
  memory.keep(0.5, { field: A, scale: 1, reuses: 1 });
  memory.enter(frames[2]!, frames[3]!);
  assert.deepEqual(dropped, []);
  memory.keep(0.5, { field: B, scale: 1, reuses: 0 });
  // A slot rendered again lets the field it replaces go.
  memory.keep(0.5, { field: C, scale: 1, reuses: 0 });
  assert.deepEqual(dropped, ['B']);
  memory.enter(frames[3]!, frames[4]!);
  assert.deepEqual(dropped, ['B', 'A'], 'two gaps back');
  memory.keep(0.5, { field: D, scale: 1, reuses: 0 });
  // A gap that does not follow (a cut, a dropped frame) lets both go.
  memory.enter(frames[6]!, frames[7]!);
  assert.deepEqual(dropped, ['B', 'A', 'C', 'D']);
  memory.keep(0.25, { field: E, scale: 1, reuses: 0 });
  memory.keep(0.75, { field: E, scale: 1, reuses: 0 });
  memory.clear();
  assert.deepEqual(dropped, ['B', 'A', 'C', 'D', 'E']);
});

test("the refiner writes a later field into the arrays of one handed back, and never into the model's own", async () => {
  const refiner = new FineRefiner({ scale: 2, steps: 1 });
  const [w, h] = [16, 8];
  const a = texturedFrame(2 * w, 2 * h, AV_PIX_FMT_YUV420P, 1);
  const b = texturedFrame(2 * w, 2 * h, AV_PIX_FMT_YUV420P, 2);
  const model = { width: w, height: h, flow: new Float32Array(4 * w * h), mask: new Float32Array(w * h).fill(0.5) };
  const first = await refiner.refine(a, b, model, 0.5);
  assert.notEqual(first, model);
  const second = await refiner.refine(a, b, model, 0.5);
  assert.notEqual(second, first, 'a field not handed back is not written again');
  refiner.recycle(first);
  refiner.recycle(model);
  const third = await refiner.refine(a, b, model, 0.5);
  assert.equal(third, first);
  assert.deepEqual(third.flow, second.flow, 'the same result in the old arrays');
  const fourth = await refiner.refine(a, b, model, 0.5);
  assert.notEqual(fourth, model);
  refiner[Symbol.dispose]();
  a.free();
  b.free();
});
