/**
 * Milliseconds per in-between frame inside the engine, by synthesizer and
 * size: what a live stream pays per output slot at 2x. Each timed call is one
 * `Synthesizer.synthesize` on a new pair of real decoded yuv420p frames (the
 * birds clip scaled to 480p/720p/1080p), so it includes converting the one
 * new input frame, as in a running stream. For flow models the parts are
 * timed too: reduced RGB conversion, the network, the card's Lucas-Kanade
 * step above the network (lkFine), the native warp+blend.
 *
 *   node dist/bench/synthesis.js [--interp blend] [--model models/fast.onnx ...] [--sizes 480,720,1080] [--runs 15]
 */
import '../src/base/polyfills.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Frame } from 'node-av/lib';
import { FlowModel } from '../src/engine/model/flow-model.js';
import { loadModel } from '../src/engine/model/load-model.js';
import { createSynthesizer } from '../src/engine/synthesis/create-synthesizer.js';
import { FineRefiner } from '../src/engine/synthesis/lk-fine.js';
import { RgbConverter } from '../src/engine/synthesis/rgb-convert.js';
import type { Synthesizer } from '../src/engine/synthesis/synthesis.js';
import { warpBlend } from '../src/engine/synthesis/warp-kernel.js';
import { FileSource } from '../src/ingest/file-source.js';
import { machine, today } from './common.js';

const SIZES: Record<string, [number, number]> = { '480': [854, 480], '720': [1280, 720], '1080': [1920, 1080] };
const REPO = resolve(new URL('../..', import.meta.url).pathname);
const SOURCE = resolve(process.env.FRC_DATA_DIR ?? join(REPO, '../shared/data'), 'footage/birds_animation_720p30_wp2022.mp4');

async function decodeFrames(file: string, count: number): Promise<Frame[]> {
  const frames: Frame[] = [];
  await using source = await FileSource.open(file);
  for await (const item of source.read()) {
    if (item.kind !== 'video') continue;
    frames.push(item.frame);
    if (frames.length === count) break;
  }
  return frames;
}

// Calls not timed first: ONNX Runtime grows its memory arena over the first runs at a new size, and on
// this machine the first few dozen calls of a fresh process ran much slower still (see bench/RESULTS.md,
// Synthesis cost per in-between frame). A live stream pays the steady state, so that is what is timed.
const WARMUP = 60;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeSynth(synth: Synthesizer, frames: Frame[], runs: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs + WARMUP; i++) {
    const t0 = performance.now();
    const out = await synth.synthesize(frames[i]!, frames[i + 1]!, 0.5);
    if (i >= WARMUP) ms.push(performance.now() - t0);
    out.free();
  }
  return median(ms);
}

/** A flow model's path in parts, each on its own (median ms): convert one frame, network, the card's lkFine step (or 0), kernel; none for a frame model. */
async function timeParts(path: string, frames: Frame[], runs: number): Promise<[number, number, number, number] | undefined> {
  const model = await loadModel(path);
  if (!(model instanceof FlowModel)) {
    await model[Symbol.asyncDispose]();
    return undefined;
  }
  const conv = await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels);
  using fine = model.lkFine ? new FineRefiner(model.lkFine) : undefined;
  const [tc, tn, tf, tk]: number[][] = [[], [], [], []];
  try {
    for (let i = 0; i < runs + WARMUP; i++) {
      let t0 = performance.now();
      const a = await conv.toRgb(frames[i]!);
      const tConv = performance.now() - t0;
      const b = await conv.toRgb(frames[i + 1]!);
      t0 = performance.now();
      let field = await model.flows(a, b, 0.5);
      const tNet = performance.now() - t0;
      t0 = performance.now();
      if (fine) field = await fine.refine(frames[i]!, frames[i + 1]!, field, 0.5);
      const tFine = performance.now() - t0;
      t0 = performance.now();
      const out = await warpBlend(frames[i]!, frames[i + 1]!, field, { filter: model.warpFilter });
      const tKern = performance.now() - t0;
      out.free();
      if (i >= WARMUP) tc.push(tConv), tn.push(tNet), tf.push(tFine), tk.push(tKern);
    }
  } finally {
    await conv[Symbol.asyncDispose]();
    await model[Symbol.asyncDispose]();
  }
  return [median(tc), median(tn), median(tf), median(tk)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { interp: { type: 'string', multiple: true }, model: { type: 'string', multiple: true }, sizes: { type: 'string' }, runs: { type: 'string' } } });
  const runs = Number(values.runs ?? 15);
  const choices = [
    ...(values.interp ?? (values.model ? [] : ['blend'])).map((kind) => ({ label: kind, kind: kind as 'blend' | 'dup', modelPath: undefined })),
    ...(values.model ?? []).map((p) => ({ label: p, kind: 'model' as const, modelPath: p })),
  ];
  const work = mkdtempSync(join(tmpdir(), 'frc-synth-'));
  const rows: string[] = [];
  try {
    for (const size of (values.sizes ?? '480,720,1080').split(',')) {
      const [w, h] = SIZES[size]!;
      const clip = join(work, `clip${size}.mkv`);
      // The clip has 31 frames: looped, so that warm-up and timed calls all get new frames.
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '-1', '-i', SOURCE, '-an', '-frames:v', String(runs + WARMUP + 2), '-vf', `scale=${w}:${h}`, '-pix_fmt', 'yuv420p', '-c:v', 'ffv1', clip]);
      const frames = await decodeFrames(clip, runs + WARMUP + 1);
      for (const choice of choices) {
        const synth = await createSynthesizer(choice);
        const total = await timeSynth(synth, frames, runs);
        await synth.close();
        const times = choice.modelPath ? await timeParts(choice.modelPath, frames, runs) : undefined;
        const parts = times ? ` ${times.map((ms) => ms.toFixed(1)).join(' | ')} |` : ' | | | |';
        rows.push(`| ${size}p | ${choice.label} | ${total.toFixed(1)} |${parts}`);
        console.error(rows.at(-1));
      }
      for (const f of frames) f.free();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n${today()}, ${machine()}, median of ${runs} calls (\`node dist/bench/synthesis.js ${process.argv.slice(2).join(' ')}\`)\n`);
  console.log('| size | synthesizer | ms per in-between frame | convert 1 frame | network | lkFine | warp+blend kernel |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
