/**
 * The native kernels of one in-between frame, this build against another
 * (`--against`: a folder holding another build's `frc_native.node` and
 * `frc_lk_refine.node`, e.g. a copy of build/Release made before a change),
 * in one process: the same calls, alternating between the two builds, on real
 * frames (the birds clip at 720p/1080p) and the fields the shipped `fast`
 * model makes for them. Reports CPU ms per call of each (process CPU: each
 * call runs alone on the libuv pool, as one band), their ratio, and whether
 * the outputs are the same: identical bytes for the frames, the largest
 * difference for the refined flows.
 *
 * `--bands`: also the shipped warp (bilinear, holdStill) as the engine calls
 * it (`warpBlend`), this build in one row band against two bands run in
 * parallel on the libuv pool, alternating: process CPU and wall ms per call.
 * Without `--against`, only that.
 *
 *   node dist/bench/kernels.js --against /tmp/frc-before [--sizes 720,1080] [--runs 40] [--bands]
 */
import '../src/base/polyfills.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Frame, SoftwareScaleContext } from 'node-av/lib';
import { AV_PIX_FMT_GRAY8, AV_PIX_FMT_YUV420P, SWS_ACCURATE_RND, SWS_AREA, type AVPixelFormat } from 'node-av/constants';
import type { FlowField } from '../src/engine/model/flow-field.js';
import { FlowModel } from '../src/engine/model/flow-model.js';
import { loadModel } from '../src/engine/model/load-model.js';
import { type LkRefineAddon, lkRefineAddon, type WarpBlendAddon, warpBlendAddon } from '../src/engine/runtime/native.js';
import { copyRows } from '../src/engine/runtime/scale-context.js';
import { RgbConverter } from '../src/engine/synthesis/rgb-convert.js';
import { OutputFrames, outputFor, warpBlend } from '../src/engine/synthesis/warp-kernel.js';
import { FileSource } from '../src/ingest/file-source.js';
import { machine, today } from './common.js';

const SIZES: Record<string, [number, number]> = { '480': [854, 480], '720': [1280, 720], '1080': [1920, 1080] };
const REPO = resolve(new URL('../..', import.meta.url).pathname);
const SOURCE = resolve(process.env.FRC_DATA_DIR ?? join(REPO, '../shared/data'), 'footage/birds_animation_720p30_wp2022.mp4');
const MODEL = join(REPO, 'models/fast.onnx');
const PAIRS = 6;

interface Addons {
  warp: WarpBlendAddon;
  lk: LkRefineAddon;
}

/** One pair of frames, the model's field for it, and what the kernels take besides. */
interface Case {
  a: Frame;
  b: Frame;
  field: FlowField;
  luma: [Uint8Array, Uint8Array];
  fine: { scale: number; steps: number };
}

/** The frame's luma at width x height, as FineRefiner makes it (swscale's area filter). */
async function luma(frame: Frame, width: number, height: number): Promise<Uint8Array> {
  const ctx = new SoftwareScaleContext();
  ctx.getContext(frame.width, frame.height, frame.format as AVPixelFormat, width, height, AV_PIX_FMT_GRAY8, (SWS_AREA | SWS_ACCURATE_RND) as never);
  const out = new Frame();
  out.alloc();
  out.width = width;
  out.height = height;
  out.format = AV_PIX_FMT_GRAY8;
  out.allocBuffer();
  await ctx.scaleFrame(out, frame);
  const packed = new Uint8Array(width * height);
  copyRows(out.data![0]!, out.linesize[0]!, packed, 0, width, width, height);
  out.free();
  ctx.freeContext();
  return packed;
}

async function cases(file: string): Promise<Case[]> {
  const frames: Frame[] = [];
  {
    await using source = await FileSource.open(file);
    for await (const item of source.read()) {
      if (item.kind !== 'video') continue;
      frames.push(item.frame);
      if (frames.length === PAIRS + 1) break;
    }
  }
  const model = await loadModel(MODEL);
  if (!(model instanceof FlowModel) || !model.lkFine) throw new Error(`${MODEL} is not a flow model with lkFine`);
  const fine = model.lkFine;
  const conv = await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels);
  const out: Case[] = [];
  try {
    for (let i = 0; i < PAIRS; i++) {
      const [a, b] = [frames[i]!, frames[i + 1]!];
      const field = await model.flows(await conv.toRgb(a), await conv.toRgb(b), 0.5);
      const [w, h] = [field.width * fine.scale, field.height * fine.scale];
      out.push({ a, b, field, luma: [await luma(a, w, h), await luma(b, w, h)], fine });
    }
  } finally {
    await conv[Symbol.asyncDispose]();
    await model[Symbol.asyncDispose]();
  }
  return out;
}

/** Process CPU ms of one awaited call. */
async function cpuOf(call: () => Promise<unknown>): Promise<number> {
  const cpu0 = process.cpuUsage();
  await call();
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

/** A kernel on case `c` with one build: a call that writes into buffers of its own, kept for the next call on the same case, and what it wrote. */
interface Call {
  run(): Promise<unknown>;
  output(): Uint8Array[] | Float32Array[];
}
type Kernel = (addons: Addons, c: Case) => Call;

/** Each build's output buffers, one set per case: allocated once, so that no call pays page faults the other does not. */
function cached(kernel: Kernel): Kernel {
  const calls = new Map<Addons, Map<Case, Call>>();
  return (addons, c) => {
    const byCase = calls.get(addons) ?? calls.set(addons, new Map()).get(addons)!;
    return byCase.get(c) ?? byCase.set(c, kernel(addons, c)).get(c)!;
  };
}

const warpKernel = (cubic: boolean, holdStill = false): Kernel =>
  cached((addons, c) => {
    const { out, planes } = outputFor(c.a, c.b);
    const { field } = c;
    const params = { ...planes, rowStart: 0, rowEnd: c.a.height, flow: field.flow, mask: field.mask, flowWidth: field.width, flowHeight: field.height, cubic, holdStill };
    return {
      run: () => addons.warp.warpBlend(params),
      output: () =>
        [0, 1, 2].map((p) => {
          const [w, h] = [planes.width[p]!, planes.height[p]!];
          const packed = new Uint8Array(w * h);
          copyRows(out.data![p]!, out.linesize[p]!, packed, 0, w, w, h);
          return packed;
        }),
    };
  });

const lkFineKernel: Kernel = cached((addons, c) => {
  const { field, fine } = c;
  const n = field.width * fine.scale * field.height * fine.scale;
  const flow = new Float32Array(4 * n), mask = new Float32Array(n);
  return {
    run: () => addons.lk.lkFine(c.luma[0], c.luma[1], field.flow, field.mask, field.width, field.height, fine.scale, 0.5, fine.steps, flow, mask),
    output: () => [flow, mask],
  };
});

/** The shipped warp in 1 band against 2, alternating: process CPU and wall ms per call of each. */
async function timeBands(all: Case[], runs: number): Promise<{ cpu: [number, number]; wall: [number, number] }> {
  const cpu: [number, number] = [0, 0];
  const wall: [number, number] = [0, 0];
  using output = new OutputFrames();
  for (let r = 1 - all.length; r <= runs; r++) {
    const c = all[(r + all.length) % all.length]!;
    for (const i of r % 2 ? [0, 1] : [1, 0]) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      (await warpBlend(c.a, c.b, c.field, { holdStill: true, slices: i + 1, output })).free();
      const t = performance.now() - t0;
      const used = process.cpuUsage(cpu0);
      if (r > 0) (cpu[i] += (used.user + used.system) / 1000 / runs), (wall[i] += t / runs);
    }
  }
  return { cpu, wall };
}

/** Largest difference between two outputs, and how many samples differ. */
function compare(x: Uint8Array[] | Float32Array[], y: Uint8Array[] | Float32Array[]): { differ: number; worst: number; total: number } {
  let differ = 0, worst = 0, total = 0;
  x.forEach((plane, p) => {
    const other = y[p]!;
    total += plane.length;
    for (let i = 0; i < plane.length; i++) {
      const d = Math.abs(plane[i]! - other[i]!);
      if (d > 0) differ++, (worst = Math.max(worst, d));
    }
  });
  return { differ, worst, total };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { against: { type: 'string' }, sizes: { type: 'string' }, runs: { type: 'string' }, bands: { type: 'boolean' } } });
  if (!values.against && !values.bands) throw new Error('--against <folder with the other build\'s .node files> (or --bands) is required');
  const require = createRequire(import.meta.url);
  const other: Addons | undefined = values.against
    ? {
        warp: require(resolve(values.against, 'frc_native.node')) as WarpBlendAddon,
        lk: require(resolve(values.against, 'frc_lk_refine.node')) as LkRefineAddon,
      }
    : undefined;
  const ours: Addons = { warp: warpBlendAddon, lk: lkRefineAddon };
  const runs = Number(values.runs ?? 40);
  const kernels: [string, Kernel][] = [
    ['warp+blend, bicubic', warpKernel(true)],
    ['warp+blend, bilinear', warpKernel(false)],
    ['warp+blend, bilinear, holdStill', warpKernel(false, true)],
    ['lkFine (upsampling, 1 step)', lkFineKernel],
  ];
  const rows: string[] = [];
  const bandRows: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'frc-kernels-'));
  try {
    for (const size of (values.sizes ?? '720,1080').split(',')) {
      const [w, h] = SIZES[size]!;
      const clip = join(work, `clip${size}.mkv`);
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', SOURCE, '-an', '-frames:v', String(PAIRS + 1), '-vf', `scale=${w}:${h}`, '-pix_fmt', 'yuv420p', '-c:v', 'ffv1', clip]);
      const all = await cases(clip);
      if (all[0]!.a.format !== AV_PIX_FMT_YUV420P) throw new Error('the clip should decode to yuv420p');
      if (values.bands) {
        const { cpu, wall } = await timeBands(all, runs);
        bandRows.push(`| ${size}p | ${cpu[0].toFixed(2)} / ${wall[0].toFixed(2)} | ${cpu[1].toFixed(2)} / ${wall[1].toFixed(2)} | ${(cpu[1] / cpu[0]).toFixed(2)} |`);
        console.error(bandRows.at(-1));
      }
      for (const [name, kernel] of other ? kernels : []) {
        const cpu = { ours: 0, other: 0 };
        let same = { differ: 0, worst: 0, total: 0 };
        // Alternating, so that both builds see the same stretch of a noisy machine; the first round (one call per case) is not timed.
        for (let r = 1 - all.length; r <= runs; r++) {
          const c = all[(r + all.length) % all.length]!;
          const [x, y] = [kernel(ours, c), kernel(other!, c)];
          const order = r % 2 ? [x, y] : [y, x];
          const times = [await cpuOf(order[0]!.run), await cpuOf(order[1]!.run)];
          if (r > 0) {
            cpu.ours += times[order.indexOf(x)]!;
            cpu.other += times[order.indexOf(y)]!;
          }
          if (r <= 0) {
            const d = compare(x.output(), y.output());
            same = { differ: same.differ + d.differ, worst: Math.max(same.worst, d.worst), total: same.total + d.total };
          }
        }
        const [mine, theirs] = [cpu.ours / runs, cpu.other / runs];
        const diff = same.differ === 0 ? 'identical' : `${same.differ} of ${same.total} differ, by at most ${same.worst.toPrecision(3)}`;
        rows.push(`| ${size}p | ${name} | ${theirs.toFixed(2)} | ${mine.toFixed(2)} | ${(mine / theirs).toFixed(2)} | ${diff} |`);
        console.error(rows.at(-1));
      }
      for (const c of all) c.a.free();
      all.at(-1)!.b.free();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n${today()}, ${machine()}, ${runs} calls each, alternating (\`node dist/bench/kernels.js ${process.argv.slice(2).join(' ')}\`)\n`);
  if (rows.length > 0) {
    console.log('| size | kernel | other build, CPU ms per call | this build, CPU ms per call | this / other | outputs |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
  }
  if (bandRows.length > 0) {
    console.log(`${rows.length > 0 ? '\n' : ''}| size | the shipped warp in 1 band: CPU / wall ms per call | in 2 bands: CPU / wall | CPU, 2 bands / 1 |`);
    console.log('|---|---|---|---|');
    for (const r of bandRows) console.log(r);
  }
}

await main();
