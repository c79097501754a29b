/**
 * What a GPU gives the engine: for each GPU provider that starts
 * (runtime/provider.ts), each model (the shipped fast and quality, and a
 * graph of RIFE v4.6's architecture with random weights, bench/rife46-graph.ts)
 * and each size, the frames per second of in-between frames and where a
 * frame's time goes, step by step as the synthesizer takes them: the new
 * frame converted to the model's RGB input, the network (upload, run,
 * download: ONNX Runtime does not split them), then the Lucas-Kanade step
 * and warp+blend of a flow model, or the conversion back of a frame model.
 * Wall time (median per step), since the GPU's time is not the process's CPU
 * time. The frames are FFmpeg's testsrc2 at each size, moving.
 *
 *   bench/gpu-check.sh [--provider webgpu,cuda] [--sizes 1920x1080,3840x2160] [--models fast,quality,rife46] [--runs 20] [--warmup 5]
 */
import '../src/base/polyfills.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Frame } from 'node-av/lib';
import { FlowModel } from '../src/engine/model/flow-model.js';
import type { RgbImage } from '../src/engine/model/interpolator.js';
import { loadModel } from '../src/engine/model/load-model.js';
import { resolveModelPath } from '../src/engine/model/model-choice.js';
import { chooseProvider, describeProvider, type ExecutionProvider } from '../src/engine/runtime/provider.js';
import { FineRefiner } from '../src/engine/synthesis/lk-fine.js';
import { RgbConverter } from '../src/engine/synthesis/rgb-convert.js';
import { warpBlend } from '../src/engine/synthesis/warp-kernel.js';
import { FileSource } from '../src/ingest/file-source.js';
import { machine, today } from './common.js';
import { rife46Graph } from './rife46-graph.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function timed<T>(times: number[] | undefined, step: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const out = await step();
  times?.push(performance.now() - t0);
  return out;
}

async function testFrames(dir: string, width: number, height: number, count: number): Promise<Frame[]> {
  const clip = join(dir, `${width}x${height}.mkv`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-frames:v', String(count), '-pix_fmt', 'yuv420p', '-c:v', 'ffv1', clip]);
  const frames: Frame[] = [];
  await using source = await FileSource.open(clip);
  for await (const item of source.read()) if (item.kind === 'video') frames.push(item.frame);
  return frames;
}

/** Per-step wall times of `runs` in-between frames after `warmup` untimed ones; the load time too. */
async function timeModel(path: string, provider: ExecutionProvider, frames: Frame[], runs: number, warmup: number): Promise<{ loadMs: number; steps: Map<string, number[]> }> {
  const t0 = performance.now();
  const model = await loadModel(path, { provider });
  const loadMs = performance.now() - t0;
  const steps = new Map<string, number[]>();
  const step = (name: string, i: number) => (i < warmup ? undefined : (steps.get(name) ?? steps.set(name, []).get(name)!));
  const flow = model instanceof FlowModel;
  const conv = flow ? await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels) : await RgbConverter.create(model.padMultiple);
  using fine = flow && model.lkFine ? new FineRefiner(model.lkFine) : undefined;
  try {
    let b: RgbImage = await conv.toRgb(frames[0]!);
    for (let i = 0; i < runs + warmup; i++) {
      const a = b;
      b = await timed(step('frame to RGB', i), () => conv.toRgb(frames[i + 1]!));
      if (model instanceof FlowModel) {
        let field = await timed(step('network', i), () => model.flows(a, b, 0.5));
        if (fine) field = await timed(step('lkFine', i), () => fine.refine(frames[i]!, frames[i + 1]!, field, 0.5));
        (await timed(step('warp+blend', i), () => warpBlend(frames[i]!, frames[i + 1]!, field, { filter: model.warpFilter }))).free();
      } else {
        const { frame } = await timed(step('network', i), () => model.interpolate(a, b, 0.5));
        (await timed(step('RGB to frame', i), () => conv.fromRgb(frame, frames[i]!))).free();
      }
    }
  } finally {
    await conv[Symbol.asyncDispose]();
    await model[Symbol.asyncDispose]();
  }
  return { loadMs, steps };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { provider: { type: 'string' }, sizes: { type: 'string' }, models: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' } } });
  const runs = Number(values.runs ?? 20);
  const warmup = Number(values.warmup ?? 5);
  const sizes = (values.sizes ?? '1920x1080,3840x2160').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const work = mkdtempSync(join(tmpdir(), 'frc-gpu-check-'));
  const rows: string[] = [];
  const providers: string[] = [];
  try {
    writeFileSync(join(work, 'rife46.onnx'), rife46Graph());
    // Practical-RIFE v4.6 runs its scales 8..1 on frames padded to 64.
    writeFileSync(join(work, 'rife46.json'), JSON.stringify({ name: 'rife46-random', padMultiple: 64 }));
    const models = (values.models ?? 'fast,quality,rife46').split(',').map((m) => [m, m === 'rife46' ? join(work, 'rife46.onnx') : resolveModelPath(m)] as const);
    for (const request of (values.provider ?? 'webgpu,cuda').split(',') as ExecutionProvider[]) {
      const choice = await chooseProvider(request);
      if (choice.provider !== request) {
        console.error(`${request}: skipped: ${choice.warnings.join('; ')}`);
        continue;
      }
      providers.push(describeProvider(choice));
      console.error(`${request}: ${describeProvider(choice)}`);
      for (const [width, height] of sizes) {
        const frames = await testFrames(work, width, height, runs + warmup + 1);
        try {
          for (const [label, path] of models) {
            const { loadMs, steps } = await timeModel(path, request, frames, runs, warmup);
            const medians = [...steps].map(([name, times]) => [name, median(times)] as const);
            const total = medians.reduce((s, [, ms]) => s + ms, 0);
            rows.push(`| ${request} | ${label} | ${width}x${height} | ${(1000 / total).toFixed(1)} | ${total.toFixed(1)} | ${medians.map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ')} | ${(loadMs / 1000).toFixed(1)} |`);
            console.error(rows.at(-1));
          }
        } finally {
          for (const f of frames) f.free();
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n${today()}, ${machine()}; ${providers.join('; ') || 'no GPU provider started'}; ${runs} frames after ${warmup} not timed (\`bench/gpu-check.sh ${process.argv.slice(2).join(' ')}\`)\n`);
  console.log('| provider | model | size | in-between fps | ms per frame (sum of step medians) | steps, wall ms (median) | load s |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
