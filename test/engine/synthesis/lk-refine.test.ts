import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { lkRefineAddon, warpBlendAddon } from '../../../src/engine/runtime/native.js';

const lk = lkRefineAddon;

function random(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

/** grid_sample(bilinear, border, align_corners=False) of one plane at (x, y). */
function sample(p: Float64Array | Float32Array, w: number, h: number, x: number, y: number): number {
  const px = Math.min(Math.max(x, 0), w - 1), py = Math.min(Math.max(y, 0), h - 1);
  const x0 = Math.floor(px), y0 = Math.floor(py);
  const x1 = Math.min(x0 + 1, w - 1), y1 = Math.min(y0 + 1, h - 1);
  const ax = px - x0, ay = py - y0;
  const at = (xx: number, yy: number) => p[yy * w + xx]!;
  return (at(x0, y0) * (1 - ax) + at(x1, y0) * ax) * (1 - ay) + (at(x0, y1) * (1 - ax) + at(x1, y1) * ax) * ay;
}

/** avg_pool2d(k, stride 1, padding k/2, count_include_pad=False), plainly. */
function boxMean(p: Float64Array, w: number, h: number, k: number): Float64Array {
  const r = k >> 1, out = new Float64Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0, c = 0;
      for (let j = Math.max(0, y - r); j <= Math.min(h - 1, y + r); j++)
        for (let i = Math.max(0, x - r); i <= Math.min(w - 1, x + r); i++) (s += p[j * w + i]!), c++;
      out[y * w + x] = s / c;
    }
  return out;
}

/** train/ifnet.py's lk_refine, in double precision: the flows after `steps` steps. */
function lkReference(grey: Float32Array, flow: Float32Array, w: number, h: number, t: number, steps: number): Float64Array {
  const n = w * h, f = Float64Array.from(flow);
  const [c0, c1] = [2 * t, 2 - 2 * t];
  for (let s = 0; s < steps; s++) {
    const wa = new Float64Array(n), wb = new Float64Array(n), bl = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const [x, y] = [i % w, Math.floor(i / w)];
      wa[i] = sample(grey.subarray(0, n), w, h, x + f[i]!, y + f[n + i]!);
      wb[i] = sample(grey.subarray(n), w, h, x + f[2 * n + i]!, y + f[3 * n + i]!);
      bl[i] = c0 * wa[i]! + c1 * wb[i]!;
    }
    const planes = Array.from({ length: 5 }, () => new Float64Array(n));
    for (let i = 0; i < n; i++) {
      const [x, y] = [i % w, Math.floor(i / w)];
      const gx = 0.5 * bl[y * w + Math.min(x + 1, w - 1)]! - 0.5 * bl[y * w + Math.max(x - 1, 0)]!;
      const gy = 0.5 * bl[Math.min(y + 1, h - 1) * w + x]! - 0.5 * bl[Math.max(y - 1, 0) * w + x]!;
      const e = wa[i]! - wb[i]!;
      [gx * gx, gy * gy, gx * gy, gx * e, gy * e].forEach((v, k) => (planes[k]![i] = v));
    }
    const [sxx, syy, sxy, sxe, sye] = planes.map((p) => boxMean(p, w, h, 5)) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    const dcx = new Float64Array(n), dcy = new Float64Array(n), conf = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const [xx, yy, xy] = [sxx[i]! + 1e-4, syy[i]! + 1e-4, sxy[i]!];
      const det = xx * yy - xy * xy;
      const dx = Math.min(Math.max((yy * sxe[i]! - xy * sye[i]!) / det, -1), 1);
      const dy = Math.min(Math.max((xx * sye[i]! - xy * sxe[i]!) / det, -1), 1);
      conf[i] = det / (xx + yy);
      dcx[i] = dx * conf[i]!;
      dcy[i] = dy * conf[i]!;
    }
    const [mx, my, mc] = [boxMean(dcx, w, h, 7), boxMean(dcy, w, h, 7), boxMean(conf, w, h, 7)];
    for (let i = 0; i < n; i++) {
      const [dx, dy] = [mx[i]! / mc[i]!, my[i]! / mc[i]!];
      f[i] = f[i]! - c0 * dx;
      f[n + i] = f[n + i]! - c0 * dy;
      f[2 * n + i] = f[2 * n + i]! + c1 * dx;
      f[3 * n + i] = f[3 * n + i]! + c1 * dy;
    }
  }
  return f;
}

test('the native Lucas-Kanade steps compute what train/ifnet.py writes, on random texture and flows', () => {
  const [w, h] = [17, 11];
  const n = w * h;
  const rand = random(7);
  const grey = Float32Array.from({ length: 2 * n }, rand);
  const flow = Float32Array.from({ length: 4 * n }, () => (rand() - 0.5) * 3);
  for (const [t, steps] of [[0.5, 1], [0.3, 2]] as const) {
    // at the working resolution (scale 1, the last part): the running flows are the flows themselves
    const running = flow.slice();
    lk.lkStage(grey, flow, w, h, t, steps, running, 1);
    const ref = lkReference(grey, flow, w, h, t, steps);
    let worst = 0, moved = 0;
    ref.forEach((v, i) => ((worst = Math.max(worst, Math.abs(v - running[i]!))), (moved = Math.max(moved, Math.abs(v - flow[i]!)))));
    assert.ok(moved > 0.1, `the steps change the flows (by up to ${moved} px)`);
    assert.ok(worst < 1e-3, `t=${t}, ${steps} steps: largest difference from the reference ${worst} px`);
  }
});

test('the Lucas-Kanade steps find a sub-pixel shift the flows missed', () => {
  // frame 1 is frame 0 moved right by 1.2 px and up by 0.6: at t = 0.5 the true flows are (-0.6, 0.3) and (0.6, -0.3)
  const [w, h] = [48, 40];
  const n = w * h;
  const texture = (x: number, y: number) => 0.5 + 0.2 * Math.sin(0.7 * x + 0.3 * y) + 0.2 * Math.cos(0.4 * x - 0.9 * y);
  const grey = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const [x, y] = [i % w, Math.floor(i / w)];
    grey[i] = texture(x, y);
    grey[n + i] = texture(x - 1.2, y + 0.6);
  }
  const flow = new Float32Array(4 * n);
  const running = new Float32Array(4 * n);
  lk.lkStage(grey, flow, w, h, 0.5, 3, running, 1);
  const want = [-0.6, 0.3, 0.6, -0.3];
  for (let c = 0; c < 4; c++)
    for (let y = 8; y < h - 8; y++)
      for (let x = 8; x < w - 8; x++) {
        const got = running[c * n + y * w + x]!;
        assert.ok(Math.abs(got - want[c]!) < 0.05, `flow channel ${c} at (${x}, ${y}): ${got}, want ${want[c]}`);
      }
  assert.ok(flow.every((v) => v === 0), 'the part output it read is left as it was');
});

test('the update is upsampled into the running flows and the next block\'s flows pooled from them', () => {
  const [w, h, scale] = [6, 4, 2];
  const [W, H] = [w * scale, h * scale];
  const rand = random(3);
  const grey = Float32Array.from({ length: 2 * w * h }, rand);
  const flow = Float32Array.from({ length: 4 * w * h }, () => rand() - 0.5);
  const running = Float32Array.from({ length: 5 * W * H }, () => rand() - 0.5);
  const before = running.slice();
  const next = new Float32Array(5 * (W / 2) * (H / 2));
  lk.lkStage(grey, flow, w, h, 0.5, 1, running, scale, next, 2);
  const refined = lkReference(grey, flow, w, h, 0.5, 1);
  // a constant update would be added as is, times the scale; here check one interior and one corner sample
  // against bilinear upsampling (align_corners=False) of the update
  const delta = (c: number, x: number, y: number) => refined[c * w * h + y * w + x]! - flow[c * w * h + y * w + x]!;
  const up = (c: number, X: number, Y: number) => {
    const sx = Math.max((X + 0.5) / scale - 0.5, 0), sy = Math.max((Y + 0.5) / scale - 0.5, 0);
    const x0 = Math.floor(sx), y0 = Math.floor(sy), x1 = Math.min(x0 + 1, w - 1), y1 = Math.min(y0 + 1, h - 1);
    const ax = sx - x0, ay = sy - y0;
    return ((delta(c, x0, y0) * (1 - ax) + delta(c, x1, y0) * ax) * (1 - ay) + (delta(c, x0, y1) * (1 - ax) + delta(c, x1, y1) * ax) * ay) * scale;
  };
  for (const [c, X, Y] of [[0, 0, 0], [1, 5, 3], [3, W - 1, H - 1]] as const) {
    const got = running[c * W * H + Y * W + X]! - before[c * W * H + Y * W + X]!;
    assert.ok(Math.abs(got - up(c, X, Y)) < 1e-3, `channel ${c} at (${X}, ${Y}): added ${got}, want ${up(c, X, Y)}`);
  }
  assert.equal(running[4 * W * H], before[4 * W * H], 'the mask logit is not touched');
  // the next block's flows: 2x2 means, flows halved, the mask as is
  const mean = (c: number, x: number, y: number) =>
    (running[c * W * H + 2 * y * W + 2 * x]! + running[c * W * H + 2 * y * W + 2 * x + 1]! + running[c * W * H + (2 * y + 1) * W + 2 * x]! + running[c * W * H + (2 * y + 1) * W + 2 * x + 1]!) / 4;
  const n2 = (W / 2) * (H / 2);
  assert.ok(Math.abs(next[n2 + 2 * (W / 2) + 1]! - mean(1, 1, 2) / 2) < 1e-6);
  assert.ok(Math.abs(next[4 * n2]! - mean(4, 0, 0)) < 1e-6);
});

test('lkStage refuses arrays too small for the sizes given', () => {
  const f = new Float32Array(4 * 6);
  assert.throws(() => lk.lkStage(new Float32Array(6), f, 3, 2, 0.5, 1, f.slice(), 1), /sizes do not fit/);
  assert.throws(() => lk.lkStage(new Float32Array(12), f, 3, 2, 1.5, 1, f.slice(), 1), /sizes do not fit/);
  assert.throws(() => lk.lkStage(new Float32Array(12), f, 3, 2, 0.5, 1, f.slice(), 2), /sizes do not fit/);
  assert.throws(() => lk.lkStage(new Float64Array(12) as never, f, 3, 2, 0.5, 1, f.slice(), 1), /Float32Arrays/);
});

/** planes of w x h upsampled by s as PyTorch's interpolate(scale_factor=s, bilinear, align_corners=False), times gain. */
function upsampleReference(src: Float32Array, planes: number, w: number, h: number, s: number, gain: number): Float32Array {
  const [W, H] = [w * s, h * s];
  const out = new Float32Array(planes * W * H);
  for (let c = 0; c < planes; c++)
    for (let Y = 0; Y < H; Y++)
      for (let X = 0; X < W; X++) {
        const sx = Math.max((X + 0.5) / s - 0.5, 0), sy = Math.max((Y + 0.5) / s - 0.5, 0);
        out[c * W * H + Y * W + X] = sample(src.subarray(c * w * h, (c + 1) * w * h), w, h, sx, sy) * gain;
      }
  return out;
}

test('lkFine upsamples the field and takes the Lucas-Kanade steps on the luma at that size, as the reference does', async () => {
  const [w, h, s] = [9, 7, 2];
  const [W, H] = [w * s, h * s];
  const rand = random(11);
  const luma = [Uint8Array.from({ length: W * H }, () => Math.floor(rand() * 256)), Uint8Array.from({ length: W * H }, () => Math.floor(rand() * 256))];
  const flow = Float32Array.from({ length: 4 * w * h }, () => (rand() - 0.5) * 2);
  const mask = Float32Array.from({ length: w * h }, rand);
  const [outFlow, outMask] = [new Float32Array(4 * W * H), new Float32Array(W * H)];
  await lk.lkFine(luma[0]!, luma[1]!, flow, mask, w, h, s, 0.4, 1, outFlow, outMask);
  const grey = Float32Array.from([...luma[0]!, ...luma[1]!], (v) => v / 255);
  const want = lkReference(grey, upsampleReference(flow, 4, w, h, s, s), W, H, 0.4, 1);
  let worst = 0;
  want.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - outFlow[i]!))));
  assert.ok(worst < 1e-3, `flows: largest difference from the reference ${worst} px`);
  const wantMask = upsampleReference(mask, 1, w, h, s, 1);
  wantMask.forEach((v, i) => assert.ok(Math.abs(v - outMask[i]!) < 1e-6, `mask at ${i}: ${outMask[i]}, want ${v}`));
  // with no steps the flows are only upsampled
  await lk.lkFine(luma[0]!, luma[1]!, flow, mask, w, h, s, 0.4, 0, outFlow, outMask);
  upsampleReference(flow, 4, w, h, s, s).forEach((v, i) => assert.ok(Math.abs(v - outFlow[i]!) < 1e-5));
});

test('lkFine refuses arrays too small for the sizes given', () => {
  const [w, h, s] = [3, 2, 2];
  const big = () => new Float32Array(4 * w * h * s * s);
  const luma = new Uint8Array(w * h * s * s);
  const [f, m] = [new Float32Array(4 * w * h), new Float32Array(w * h)];
  assert.throws(() => lk.lkFine(luma, luma, f, m, w, h, s, 0.5, 1, big(), new Float32Array(w * h)), /sizes do not fit/);
  assert.throws(() => lk.lkFine(luma.subarray(1), luma, f, m, w, h, s, 0.5, 1, big(), big()), /sizes do not fit/);
  assert.throws(() => lk.lkFine(luma, luma, f, m, w, h, s, 2, 1, big(), big()), /sizes do not fit/);
  assert.throws(() => lk.lkFine(new Float32Array(24) as never, luma, f, m, w, h, s, 0.5, 1, big(), big()), /Uint8Arrays/);
});

/** A smooth random texture of W x H, each luma sample at (x + dx, y + dy) of one larger picture (a view moved by -dx, -dy). */
function view(W: number, H: number, dx: number, dy: number, seed: number): Uint8Array {
  const rand = random(seed);
  const waves = Array.from({ length: 12 }, () => ({ fx: (rand() - 0.5) * 0.6, fy: (rand() - 0.5) * 0.6, phase: rand() * 7 }));
  return Uint8Array.from({ length: W * H }, (_, i) => {
    const [x, y] = [(i % W) + dx, Math.floor(i / W) + dy];
    return Math.round(128 + waves.reduce((s, w) => s + 9 * Math.sin(w.fx * x + w.fy * y + w.phase), 0));
  });
}

test('lkFine with shift finds a displacement of the whole picture that the field misses, and takes it', async () => {
  // The picture scrolls up by 21.5 rows and left by 3 columns between the frames; the model's field says "still".
  const [w, h, s, t] = [48, 32, 2, 0.5];
  const [W, H] = [w * s, h * s];
  const [D, n] = [{ x: -3, y: -21.5 }, W * H];
  const a = view(W, H, 0, 0, 5), b = view(W, H, -D.x, -D.y, 5);
  const flow = new Float32Array(4 * w * h), mask = new Float32Array(w * h).fill(0.5);
  const [outFlow, outMask] = [new Float32Array(4 * n), new Float32Array(n)];
  const taken = await lk.lkFine(a, b, flow, mask, w, h, s, t, 1, outFlow, outMask, true);
  assert.ok(taken > 0.9 * n, `${taken} of ${n} samples took the shift`);
  // Inside (rows both frames show), the flows are the linear-motion flows of D, to a tenth of a pixel.
  let worst = 0;
  for (let y = 16; y < 40; y++)
    for (let x = 8; x < W - 8; x++) {
      const i = y * W + x;
      const want = [-t * D.x, -t * D.y, (1 - t) * D.x, (1 - t) * D.y];
      want.forEach((v, c) => (worst = Math.max(worst, Math.abs(outFlow[c * n + i]! - v))));
      assert.equal(outMask[i], 1 - t);
    }
  assert.ok(worst < 0.1, `flows off by up to ${worst} px`);
  // Rows scrolled in at the bottom exist only in frame 1, rows scrolled out at the top only in frame 0: the mask says so.
  assert.equal(outMask[(H - 2) * W + W / 2], 0);
  assert.equal(outMask[1 * W + W / 2], 1);
  // Without shift the same call leaves the field near zero: the steps move it by a pixel at most.
  assert.equal(await lk.lkFine(a, b, flow, mask, w, h, s, t, 1, outFlow, outMask), 0);
  assert.ok(Math.abs(outFlow[n + 30 * W + 40]!) <= 1.01);
});

test('lkFine with shift leaves the field alone where the frames have no displacement in common, or where the field has it', async () => {
  const [w, h, s, t] = [48, 32, 2, 0.5];
  const [W, H] = [w * s, h * s];
  const n = W * H;
  const [outFlow, outMask] = [new Float32Array(4 * n), new Float32Array(n)];
  const mask = new Float32Array(w * h).fill(0.5);
  // two unrelated pictures: no shift matches them
  assert.equal(await lk.lkFine(view(W, H, 0, 0, 5), view(W, H, 0, 0, 77), new Float32Array(4 * w * h), mask, w, h, s, t, 1, outFlow, outMask, true), 0);
  // the field has the scroll already (flows in pixels of the field's size: half the luma's)
  const flow = new Float32Array(4 * w * h);
  flow.fill(-t * -12 / s, w * h, 2 * w * h);
  flow.fill((1 - t) * -12 / s, 3 * w * h, 4 * w * h);
  assert.equal(await lk.lkFine(view(W, H, 0, 0, 5), view(W, H, 0, 12, 5), flow, mask, w, h, s, t, 1, outFlow, outMask, true), 0);
});

// The steps have a baseline build and, on x86-64 CPUs with AVX2 and FMA, a faster one picked at run
// time (the same choice as the warp kernel's); this machine would only ever test the one it picks.
test('the kernels run their AVX2 build where the CPU has AVX2 and FMA, and FRC_KERNEL_BASELINE=1 forces the baseline', () => {
  const flags = process.arch === 'x64' ? (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/) : [];
  const want = flags.includes('avx2') && flags.includes('fma') ? 'avx2' : 'baseline';
  if (process.env.FRC_KERNEL_BASELINE !== '1') {
    assert.equal(lk.simd(), want);
    assert.equal(warpBlendAddon.simd(), want);
  }
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const script = `const { lkRefineAddon, warpBlendAddon } = await import(${JSON.stringify(new URL('../../../src/engine/runtime/native.js', import.meta.url).href)}); console.log(lkRefineAddon.simd(), warpBlendAddon.simd());`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, FRC_KERNEL_BASELINE: '1' }, encoding: 'utf8' });
  assert.equal(run.stdout.trim(), 'baseline baseline', run.stderr);
});

test('the baseline build of the steps passes these tests too', { skip: process.env.FRC_KERNEL_BASELINE === '1' }, () => {
  // Without NODE_TEST_CONTEXT, which would make the child report to this runner instead of to stdout.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = spawnSync(process.execPath, ['--test', fileURLToPath(import.meta.url)], { env: { ...env, FRC_KERNEL_BASELINE: '1' }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /# pass [1-9]/);
  assert.match(run.stdout, /# fail 0/);
});

test("a thread's Lucas-Kanade scratch is freed when the thread ends (each live stream's model runs on a thread of its own)", async () => {
  const { Worker } = await import('node:worker_threads');
  const { repoPath } = await import('../../../src/base/paths.js');
  const { releaseFreedHeap } = await import('../../../src/engine/runtime/heap-release.js');
  // 1024x1024: 13 floats of scratch a pixel, 52 MiB a thread.
  const stage = `
    const { workerData: { addon, w, h } } = require('node:worker_threads');
    const n = w * h;
    require(addon).lkStage(new Float32Array(2 * n).fill(0.5), new Float32Array(4 * n), w, h, 0.5, 1, new Float32Array(4 * n), 1);`;
  const runOnThread = () =>
    new Promise<void>((resolve, reject) =>
      new Worker(stage, { eval: true, workerData: { addon: repoPath('build', 'Release', 'frc_lk_refine.node'), w: 1024, h: 1024 } }).on('exit', () => resolve()).on('error', reject),
    );
  await runOnThread();
  await releaseFreedHeap();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 6; i++) await runOnThread();
  await releaseFreedHeap();
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  assert.ok(grown < 100, `RSS grew by ${grown.toFixed(0)} MiB over 6 threads (a leaked scratch is 52 MiB each)`);
});
