import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV444P } from 'node-av/constants';
import type { FlowField } from '../../../src/engine/model/flow-field.js';
import type { WarpFilter } from '../../../src/engine/model/model-card.js';
import { blendFrames, OutputFrames, pairWithin, warpBlend } from '../../../src/engine/synthesis/warp-kernel.js';
import { texturedFrame as frame } from './textured-frame.js';

/** Smooth but non-trivial flow (up to ±3 px at flow resolution) and a mask varying in 0..1. */
function field(width: number, height: number): FlowField {
  const flow = new Float32Array(4 * width * height);
  const mask = new Float32Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      flow[i] = 3 * Math.sin(x / 5 + y / 7);
      flow[width * height + i] = 2 * Math.cos(x / 6);
      flow[2 * width * height + i] = -2.5 * Math.sin(y / 4);
      flow[3 * width * height + i] = 1.5 * Math.cos((x + y) / 9);
      mask[i] = 0.5 + 0.5 * Math.sin((x - y) / 8);
    }
  return { width, height, flow, mask };
}

/** Keys' cubic convolution kernel with a = -0.75 (PyTorch's and ONNX's bicubic). */
function cubic(d: number): number {
  const A = -0.75;
  d = Math.abs(d);
  if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0;
}

/** The PyTorch semantics (train/ifnet.py; grid_sample bilinear or bicubic, border) written out plainly, in double precision. */
function reference(a: Frame, b: Frame, f: FlowField, plane: number, pw: number, ph: number, filter: WarpFilter = 'bilinear'): Float64Array {
  const bicubic = (fr: Frame, x: number, y: number) => {
    // No clamping of the position: each of the 4x4 taps is clamped to the plane on its own.
    const d = fr.data![plane]!;
    const s = fr.linesize[plane]!;
    const x0 = Math.floor(x), y0 = Math.floor(y);
    let v = 0;
    for (let j = -1; j <= 2; j++)
      for (let i = -1; i <= 2; i++) {
        const xx = Math.min(Math.max(x0 + i, 0), pw - 1), yy = Math.min(Math.max(y0 + j, 0), ph - 1);
        v += cubic(x - (x0 + i)) * cubic(y - (y0 + j)) * d[yy * s + xx]!;
      }
    return v;
  };
  const bilinear = (fr: Frame, x: number, y: number) => {
    const d = fr.data![plane]!;
    const s = fr.linesize[plane]!;
    x = Math.min(Math.max(x, 0), pw - 1);
    y = Math.min(Math.max(y, 0), ph - 1);
    const x0 = Math.floor(x), y0 = Math.floor(y);
    const x1 = Math.min(x0 + 1, pw - 1), y1 = Math.min(y0 + 1, ph - 1);
    const ax = x - x0, ay = y - y0;
    const top = d[y0 * s + x0]! * (1 - ax) + d[y0 * s + x1]! * ax;
    const bot = d[y1 * s + x0]! * (1 - ax) + d[y1 * s + x1]! * ax;
    return top * (1 - ay) + bot * ay;
  };
  const up = (data: Float32Array, c: number, x: number, y: number) => {
    let fx = Math.max(0, (x + 0.5) * (f.width / pw) - 0.5);
    let fy = Math.max(0, (y + 0.5) * (f.height / ph) - 0.5);
    const x0 = Math.min(Math.floor(fx), f.width - 1), y0 = Math.min(Math.floor(fy), f.height - 1);
    const x1 = Math.min(x0 + 1, f.width - 1), y1 = Math.min(y0 + 1, f.height - 1);
    const ax = Math.min(fx - x0, 1), ay = Math.min(fy - y0, 1);
    const at = (xx: number, yy: number) => data[c * f.width * f.height + yy * f.width + xx]!;
    return (at(x0, y0) * (1 - ax) + at(x1, y0) * ax) * (1 - ay) + (at(x0, y1) * (1 - ax) + at(x1, y1) * ax) * ay;
  };
  const sample = filter === 'bicubic' ? bicubic : bilinear;
  const out = new Float64Array(pw * ph);
  for (let y = 0; y < ph; y++)
    for (let x = 0; x < pw; x++) {
      const ux = pw / f.width, uy = ph / f.height;
      const m = up(f.mask, 0, x, y);
      const va = sample(a, x + up(f.flow, 0, x, y) * ux, y + up(f.flow, 1, x, y) * uy);
      const vb = sample(b, x + up(f.flow, 2, x, y) * ux, y + up(f.flow, 3, x, y) * uy);
      out[y * pw + x] = Math.min(Math.max(m * va + (1 - m) * vb, 0), 255);
    }
  return out;
}

for (const [label, format, w, h, fw, fh] of [
  ['4:2:0 at half-resolution flow', AV_PIX_FMT_YUV420P, 96, 64, 48, 32],
  ['4:4:4 odd size, quarter flow', AV_PIX_FMT_YUV444P, 75, 41, 19, 11],
  // Rows longer than the kernel's 128-sample chunks, the chroma rows too, with a ragged last chunk.
  ['4:2:0 rows of several chunks, an eighth flow', AV_PIX_FMT_YUV420P, 300, 40, 38, 5],
  // Chroma planes of 1 x 2: the per-pixel path for tiny planes.
  ['4:2:0 two samples wide', AV_PIX_FMT_YUV420P, 2, 4, 1, 2],
  // The field at the frame's own size and at 7/8 of it: the AVX2 build's flow rows cannot be upsampled by groups of 8 there.
  ['4:4:4 full-resolution flow', AV_PIX_FMT_YUV444P, 40, 12, 40, 12],
  ['4:4:4 flow at 7/8', AV_PIX_FMT_YUV444P, 64, 16, 56, 14],
] as const) {
  for (const filter of ['bilinear', 'bicubic'] as const) {
    test(`fused warp+blend matches the reference semantics (${filter}, ${label})`, async () => {
      const a = frame(w, h, format, 1);
      const b = frame(w, h, format, 2);
      const f = field(fw, fh);
      const out = await warpBlend(a, b, f, { filter, slices: 3 });
      const shift = format === AV_PIX_FMT_YUV420P ? 1 : 0;
      for (let p = 0; p < 3; p++) {
        const pw = p ? (w + shift) >> shift : w;
        const ph = p ? (h + shift) >> shift : h;
        const ref = reference(a, b, f, p, pw, ph, filter);
        let worst = 0;
        for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) worst = Math.max(worst, Math.abs(out.data![p]![y * out.linesize[p]! + x]! - ref[y * pw + x]!));
        assert.ok(worst <= 1, `plane ${p}: max deviation ${worst}`);
      }
      for (const fr of [a, b, out]) fr.free();
    });
  }
}

for (const filter of ['bilinear', 'bicubic'] as const) {
  test(`zero flow and mask 1 reproduce frame 0 exactly; mask 0 gives frame 1 (${filter})`, async () => {
    const a = frame(32, 16, AV_PIX_FMT_YUV420P, 5);
    const b = frame(32, 16, AV_PIX_FMT_YUV420P, 9);
    const f = { width: 16, height: 8, flow: new Float32Array(4 * 128), mask: new Float32Array(128).fill(1) };
    const same = await warpBlend(a, b, f, { filter });
    assert.deepEqual(same.data![0]!.subarray(0, 32), a.data![0]!.subarray(0, 32));
    f.mask.fill(0);
    const other = await warpBlend(a, b, f, { filter });
    assert.deepEqual(other.data![1]!.subarray(0, 16), b.data![1]!.subarray(0, 16));
  });
}

for (const filter of ['bilinear', 'bicubic'] as const) {
  test(`holdStill: a run of samples equal in both frames keeps its value under any flow; changed samples and a lone equal one are warped (${filter})`, async () => {
    // Frame 1 is frame 0 shifted (the scene moves), except a static band (a HUD) of rows 4-7 and one lone sample.
    const [w, h] = [160, 16];
    const a = frame(w, h, AV_PIX_FMT_YUV444P, 3);
    const b = frame(w, h, AV_PIX_FMT_YUV444P, 4);
    for (let p = 0; p < 3; p++) {
      const [pa, pb, stride] = [a.data![p]!, b.data![p]!, a.linesize[p]!];
      for (let y = 4; y < 8; y++) pb.set(pa.subarray(y * stride, y * stride + w), y * stride);
      pb[12 * stride + 50] = pa[12 * stride + 50]!;
    }
    const f = field(40, 4);
    const held = await warpBlend(a, b, f, { filter, holdStill: true });
    const warped = await warpBlend(a, b, f, { filter });
    for (let p = 0; p < 3; p++) {
      const [pa, out, ref, stride] = [a.data![p]!, held.data![p]!, warped.data![p]!, a.linesize[p]!];
      for (let y = 4; y < 8; y++) assert.deepEqual(out.subarray(y * stride, y * stride + w), pa.subarray(y * stride, y * stride + w), `plane ${p} row ${y}: the band stays`);
      assert.notDeepEqual(ref.subarray(5 * stride, 5 * stride + w), pa.subarray(5 * stride, 5 * stride + w), 'without holdStill the band moves');
      for (const y of [0, 12, 15]) assert.deepEqual(out.subarray(y * stride, y * stride + w), ref.subarray(y * stride, y * stride + w), `plane ${p} row ${y}: warped as without holdStill`);
    }
    for (const fr of [a, b, held, warped]) fr.free();
  });
}

test('output frames are written again only once every reference to them is gone; results still held keep their pixels', async () => {
  const [a, b] = [frame(64, 32, AV_PIX_FMT_YUV420P, 1), frame(64, 32, AV_PIX_FMT_YUV420P, 2)];
  const luma = (f: Frame) => Buffer.from(f.data![0]!.subarray(0, 64 * 32));
  using output = new OutputFrames(2);
  // One result at a time: the same kept frame serves every call.
  for (let i = 0; i < 5; i++) (await blendFrames(a, b, i / 4, 1, output)).free();
  assert.equal(output.size, 1);
  // Held results are not overwritten: each further call takes another frame, up to the cap, then new ones.
  const held = [await blendFrames(a, b, 0, 1, output), await blendFrames(a, b, 1, 1, output), await warpBlend(a, b, field(32, 16), { output })];
  assert.equal(output.size, 2);
  assert.deepEqual(luma(held[0]!), luma(a));
  assert.deepEqual(luma(held[1]!), luma(b));
  const direct = await warpBlend(a, b, field(32, 16));
  assert.deepEqual(luma(held[2]!), luma(direct));
  // Another geometry gets frames of its own.
  const [c, d] = [frame(64, 32, AV_PIX_FMT_YUV444P, 3), frame(64, 32, AV_PIX_FMT_YUV444P, 4)];
  const other = await blendFrames(c, d, 0, 1, output);
  assert.deepEqual(Buffer.from(other.data![2]!.subarray(0, 64 * 32)), Buffer.from(c.data![2]!.subarray(0, 64 * 32)));
  // A result outlives the pool it came from.
  output[Symbol.dispose]();
  assert.deepEqual(luma(held[0]!), luma(a));
  for (const f of [a, b, c, d, direct, other, ...held]) f.free();
});

test('pairWithin: a pair is still when no sample of any plane differs by more than the limit, and only a pair of one geometry and a format the kernels take', () => {
  const [a, b] = [frame(64, 32, AV_PIX_FMT_YUV420P, 1), frame(64, 32, AV_PIX_FMT_YUV420P, 1)];
  assert.equal(pairWithin(a, b, 0), true);
  // The last sample of the last row of the second chroma plane: the scan reaches every sample.
  const last = 15 * b.linesize[2]! + 31;
  b.data![2]![last] = Math.min(255, b.data![2]![last]! + 3);
  assert.equal(pairWithin(a, b, 2), false);
  assert.equal(pairWithin(a, b, 3), true);
  const other = frame(32, 32, AV_PIX_FMT_YUV420P, 1);
  assert.equal(pairWithin(a, other, 255), false, 'another size');
  const rgb = frame(64, 32, AV_PIX_FMT_YUV444P, 1);
  assert.equal(pairWithin(a, rgb, 255), false, 'another format');
  for (const f of [a, b, other, rgb]) f.free();
});

test('undersized buffers are refused instead of read out of bounds', async () => {
  const a = frame(32, 16, AV_PIX_FMT_YUV420P, 1);
  await assert.rejects(async () => warpBlend(a, a, { width: 16, height: 8, flow: new Float32Array(10), mask: new Float32Array(128) }), /flow must be a Float32Array/);
});

// The kernel has a baseline build and, on x86-64 CPUs with AVX2 and FMA, a faster one picked at run
// time; this machine would only ever test the one it picks.
test('the baseline build of the kernel passes these tests too', { skip: process.env.FRC_KERNEL_BASELINE === '1' }, () => {
  // Without NODE_TEST_CONTEXT, which would make the child report to this runner instead of to stdout.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--test', fileURLToPath(import.meta.url)], { env: { ...env, FRC_KERNEL_BASELINE: '1' }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /# pass [1-9]/);
  assert.match(run.stdout, /# fail 0/);
});
