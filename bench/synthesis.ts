/**
 * The cost of one in-between frame inside the engine, by synthesizer and
 * size: what a live stream pays per output slot at 2x, in CPU time and wall
 * time, beside what encoding one frame of the same size costs. Each timed call
 * is one `Synthesizer.synthesize` on a new pair of real decoded yuv420p frames
 * (the birds clip scaled to 480p/720p/1080p), so it includes converting the
 * one new input frame, as in a running stream.
 *
 * For a flow model each rung of its ladder (its cheaper settings a live
 * stream walks down to under load: `fast/bilinear`, `fast/reuse`) is timed the same way, in the same run, after the model
 * itself: the reuse rung on consecutive pairs, each from the field of the
 * pair before (the model renders the first), as a stream that stays on it.
 *
 * For flow models the steps of that call are timed one by one as well:
 * reduced RGB conversion, the network (on its inference thread), the card's
 * Lucas-Kanade step above the network (lkFine: the new frame's luma, then the
 * step), the native warp+blend; and the network once more in this thread, cut
 * into its ONNX Runtime parts and the native steps between them.
 *
 * CPU time is the whole process's (process.cpuUsage: getrusage(RUSAGE_SELF),
 * every thread), taken around each awaited step while nothing else runs in
 * this process: the steps run on the main thread, the libuv pool (swscale,
 * the kernels) and the model's worker thread, and so each is charged what
 * all of those threads spent on it. ONNX Runtime's threads do not spin here
 * (runtime/ort.ts), so an idle thread costs nothing.
 *
 * The encode column: libx264, `-preset veryfast -tune zerolatency`, one
 * thread, the settings of the live output (live-egress.ts: CRF 23, GOP 2 s at
 * 30 fps, no B-frames), on the same decoded frames, in the same process run:
 * CPU per frame over the whole batch, keyframes included.
 *
 * `--rounds N` (default 1) repeats the encode and each synthesizer's timed
 * calls N times, alternating, and reports the median of the N per-round
 * ratios with their range: this machine's slow and fast stretches last
 * seconds, so a ratio taken once moved by ±20 % between runs of the same
 * build (bench/RESULTS.md, the sixth stop's table); taken in rounds, both
 * sides sample the same stretches.
 *
 *   node dist/bench/synthesis.js [--interp blend] [--model models/fast.onnx ...] [--sizes 480,720,1080] [--runs 31] [--rounds 1]
 */
import '../src/base/polyfills.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { missingNodeFlags } from '../src/base/node-flags.js';
import { Encoder } from 'node-av/api';
import { type Frame, Rational } from 'node-av/lib';
import { FF_ENCODER_LIBX264 } from 'node-av/constants';
import { FlowModel } from '../src/engine/model/flow-model.js';
import { loadModel } from '../src/engine/model/load-model.js';
import { DEFAULT_PAD_MULTIPLE, partsToRun, readCard, synthesisSettings } from '../src/engine/model/model-card.js';
import { ModelSession } from '../src/engine/model/model-session.js';
import { ort, sessionOptions } from '../src/engine/runtime/ort.js';
import { PartedSession } from '../src/engine/runtime/parted-session.js';
import { createSynthesizer } from '../src/engine/synthesis/create-synthesizer.js';
import { FineRefiner } from '../src/engine/synthesis/lk-fine.js';
import { RgbConverter } from '../src/engine/synthesis/rgb-convert.js';
import { OutputFrames, warpBlend } from '../src/engine/synthesis/warp-kernel.js';
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

/** CPU ms (mean: what the machine pays per call over a stream) and wall ms (median) of the timed calls of one step. */
class Tally {
  private readonly cpu: number[] = [];
  private readonly wall: number[] = [];

  add(cpuMs: number, wallMs: number): void {
    this.cpu.push(cpuMs);
    this.wall.push(wallMs);
  }

  get calls(): number {
    return this.cpu.length;
  }

  get cpuMs(): number {
    return this.cpu.reduce((s, x) => s + x, 0) / Math.max(1, this.cpu.length);
  }

  get wallMs(): number {
    return [...this.wall].sort((a, b) => a - b)[Math.floor(this.wall.length / 2)] ?? 0;
  }
}

/** Runs `step` alone and adds its process CPU and wall time to `tally` (unless `tally` is undefined: a warm-up call). */
async function timed<T>(tally: Tally | undefined, step: () => Promise<T> | T): Promise<T> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await step();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  tally?.add((cpu.user + cpu.system) / 1000, wall);
  return out;
}

/** Whole `synthesize` calls of one synthesizer, and the major garbage collections of this process while they ran. */
async function timeSynthesizer(choice: Parameters<typeof createSynthesizer>[0], frames: Frame[], runs: number): Promise<{ tally: Tally; majorGcs: number }> {
  const tally = new Tally();
  await using synth = await createSynthesizer(choice);
  let majorGcs = 0;
  let counting = false;
  const gcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (counting && (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
  });
  gcs.observe({ entryTypes: ['gc'] });
  try {
    for (let i = 0; i < runs + WARMUP; i++) {
      counting = i >= WARMUP;
      const out = await timed(i >= WARMUP ? tally : undefined, () => synth.synthesize(frames[i]!, frames[i + 1]!, 0.5));
      out.free();
    }
    // GC entries arrive on a later turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    gcs.disconnect();
  }
  return { tally, majorGcs };
}

/** Whole `synthesize` calls of each rung of a model's ladder (none for a synthesizer without rungs). */
async function timeRungs(choice: Parameters<typeof createSynthesizer>[0], frames: Frame[], runs: number): Promise<[string, Tally][]> {
  await using top = await createSynthesizer(choice);
  const out: [string, Tally][] = [];
  for (const rung of top.rungs?.() ?? []) {
    const tally = new Tally();
    // The model renders the first pair: the reuse rung starts from its field, then from its own.
    (await top.synthesize(frames[0]!, frames[1]!, 0.5)).free();
    for (let i = 1; i < runs + WARMUP; i++) {
      const frame = await timed(i > WARMUP - 1 ? tally : undefined, () => rung.synthesize(frames[i]!, frames[i + 1]!, 0.5));
      frame.free();
    }
    out.push([rung.name, tally]);
  }
  return out;
}

/** A flow model's steps, each on its own, as `FlowSynthesizer.synthesize` takes them; undefined for a frame model. */
async function timeSteps(path: string, frames: Frame[], runs: number): Promise<Map<string, Tally> | undefined> {
  const model = await loadModel(path);
  if (!(model instanceof FlowModel)) {
    await model[Symbol.asyncDispose]();
    return undefined;
  }
  const steps = new Map<string, Tally>();
  const step = (name: string, i: number) => (i < WARMUP ? undefined : steps.get(name) ?? steps.set(name, new Tally()).get(name));
  const conv = await RgbConverter.create(model.padMultiple, model.inputScale, model.maxInputPixels);
  using fine = model.lkFine ? new FineRefiner(model.lkFine) : undefined;
  // As FlowSynthesizer does: the output frame's buffer is reused once freed, and so is each field.
  using output = new OutputFrames();
  try {
    let b = await conv.toRgb(frames[0]!);
    for (let i = 0; i < runs + WARMUP; i++) {
      const a = b;
      b = await timed(step('convert 1 frame to reduced RGB', i), () => conv.toRgb(frames[i + 1]!));
      let field = await timed(step('network (inference thread)', i), () => model.flows(a, b, 0.5));
      if (fine) {
        // The refiner keeps the last two frames' luma: the first call makes frame i+1's, the second has both.
        const refined = await timed(step('lkFine: 1 new luma + steps', i), () => fine.refine(frames[i]!, frames[i + 1]!, field, 0.5));
        fine.recycle(await timed(step('lkFine: steps alone', i), () => fine.refine(frames[i]!, frames[i + 1]!, field, 0.5)));
        field = refined;
      }
      const out = await timed(step('warp+blend', i), () => warpBlend(frames[i]!, frames[i + 1]!, field, { filter: model.warpFilter, holdStill: model.holdStill, output }));
      out.free();
      fine?.recycle(field);
    }
  } finally {
    await conv[Symbol.asyncDispose]();
    await model[Symbol.asyncDispose]();
  }
  return steps;
}

/**
 * The network of a model in parts, run in this thread (as its inference thread runs it): the whole
 * run, and its ONNX Runtime part runs (the blocks' convolutions); the rest is the native work between
 * the parts (native/ifblock.c: pooling, warps, matching cost, matcher, upsampling, Lucas-Kanade) and
 * the glue. Undefined for a model not in parts.
 */
async function timeNetworkParts(path: string, frames: Frame[], runs: number): Promise<Map<string, Tally> | undefined> {
  const card = readCard(path);
  const parts = partsToRun(path, card, {});
  const settings = synthesisSettings(path, card);
  if (!parts || settings.synthesis !== 'engine') return undefined;
  const session = await ModelSession.of(await PartedSession.create(parts, sessionOptions('cpu', card.intraOpThreads)), 'parts');
  const conv = await RgbConverter.create(card.padMultiple ?? DEFAULT_PAD_MULTIPLE, settings.inputScale, settings.maxInputPixels);
  // The part runs, timed by wrapping ONNX Runtime's run for this benchmark's process only.
  const proto = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
  const run = proto.run;
  let partCpu = 0;
  proto.run = function (this: ort.InferenceSession, ...args: Parameters<typeof run>) {
    const cpu0 = process.cpuUsage();
    return run.apply(this, args).finally(() => {
      const cpu = process.cpuUsage(cpu0);
      partCpu += (cpu.user + cpu.system) / 1000;
    });
  } as typeof run;
  const whole = new Tally();
  const onnx = new Tally();
  const rest = new Tally();
  try {
    let b = await conv.toRgb(frames[0]!);
    for (let i = 0; i < runs + WARMUP; i++) {
      const a = b;
      b = await conv.toRgb(frames[i + 1]!);
      partCpu = 0;
      const cpu0 = process.cpuUsage();
      await timed(i >= WARMUP ? whole : undefined, () => session.run(a, b, 0.5));
      const cpu = process.cpuUsage(cpu0);
      if (i < WARMUP) continue;
      onnx.add(partCpu, Number.NaN);
      rest.add((cpu.user + cpu.system) / 1000 - partCpu, Number.NaN);
    }
  } finally {
    proto.run = run;
    await conv[Symbol.asyncDispose]();
    await session[Symbol.asyncDispose]();
  }
  return new Map([
    ['network in this thread', whole],
    [`its ONNX Runtime part runs (${parts.parts.length})`, onnx],
    ['its native steps between parts, and glue', rest],
  ]);
}

/** libx264 as the live output runs it, one thread: CPU per frame over all frames (flush included). */
async function timeEncode(frames: Frame[], runs: number): Promise<Tally> {
  const encoder = await Encoder.create(FF_ENCODER_LIBX264, {
    gopSize: 60,
    maxBFrames: 0,
    context: { threadCount: 1 },
    options: { preset: 'veryfast', tune: 'zerolatency', crf: 23 },
    configure: (context) => {
      context.framerate = new Rational(30, 1);
    },
  });
  const tally = new Tally();
  try {
    const warm = Math.min(WARMUP, frames.length - runs);
    for (let i = 0; i < warm; i++) for (const p of await encoder.encodeAll(frames[i]!)) p.free();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let packets = 0;
    for (let i = warm; i < frames.length; i++) for (const p of await encoder.encodeAll(frames[i]!)) p.free(), packets++;
    for (const p of await encoder.encodeAll(null)) p.free(), packets++;
    const cpu = process.cpuUsage(cpu0);
    const n = frames.length - warm;
    if (packets < n) throw new Error(`the encoder returned ${packets} packets for ${n} frames`);
    tally.add((cpu.user + cpu.system) / 1000 / n, (performance.now() - t0) / n);
  } finally {
    encoder.close();
  }
  return tally;
}

const fixed = (x: number) => (Number.isNaN(x) ? '' : x.toFixed(1));

async function main(): Promise<void> {
  const missing = missingNodeFlags();
  if (missing.length > 0) console.error(`started without ${missing.join(' ')}, unlike the server (src/base/node-flags.ts): its garbage collection is measured here, not the server's`);
  const { values } = parseArgs({
    options: { interp: { type: 'string', multiple: true }, model: { type: 'string', multiple: true }, sizes: { type: 'string' }, runs: { type: 'string' }, rounds: { type: 'string' } },
  });
  const runs = Number(values.runs ?? 31);
  const rounds = Number(values.rounds ?? 1);
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error('--rounds must be a whole number of at least 1');
  const choices = [
    ...(values.interp ?? (values.model ? [] : ['blend'])).map((kind) => ({ label: kind, kind: kind as 'blend' | 'dup', modelPath: undefined })),
    ...(values.model ?? []).map((p) => ({ label: p, kind: 'model' as const, modelPath: p })),
  ];
  const work = mkdtempSync(join(tmpdir(), 'frc-synth-'));
  const rows: string[] = [];
  const stepRows: string[] = [];
  try {
    for (const size of (values.sizes ?? '480,720,1080').split(',')) {
      const [w, h] = SIZES[size]!;
      const clip = join(work, `clip${size}.mkv`);
      // The clip has 31 frames: looped, so that warm-up and timed calls all get new frames.
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '-1', '-i', SOURCE, '-an', '-frames:v', String(runs + WARMUP + 2), '-vf', `scale=${w}:${h}`, '-pix_fmt', 'yuv420p', '-c:v', 'ffv1', clip]);
      const frames = await decodeFrames(clip, runs + WARMUP + 1);
      let encode = await timeEncode(frames, runs);
      console.error(`${size}p x264 veryfast: ${fixed(encode.cpuMs)} ms CPU per frame`);
      for (const choice of choices) {
        // Round by round, the synthesizer right after an encode of the same frames: the ratio of each round
        // compares two measurements of the same stretch of a noisy machine.
        const perRound: { total: Tally; majorGcs: number; encode: Tally }[] = [];
        for (let r = 0; r < rounds; r++) {
          if (r > 0) encode = await timeEncode(frames, runs);
          const { tally, majorGcs } = await timeSynthesizer(choice, frames, runs);
          perRound.push({ total: tally, majorGcs, encode });
        }
        const ratios = perRound.map((x) => x.total.cpuMs / x.encode.cpuMs).sort((a, b) => a - b);
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        const [modelMs, encodeMs] = [mean(perRound.map((x) => x.total.cpuMs)), mean(perRound.map((x) => x.encode.cpuMs))];
        const ratio = rounds === 1 ? ratios[0]!.toFixed(2) : `${ratios[Math.floor(rounds / 2)]!.toFixed(2)} (${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)} over ${rounds} rounds)`;
        const walls = perRound.map((x) => x.total.wallMs).sort((a, b) => a - b);
        const majorGcs = mean(perRound.map((x) => x.majorGcs));
        rows.push(`| ${size}p | ${choice.label} | ${fixed(walls[Math.floor(rounds / 2)]!)} | ${fixed(modelMs)} | ${fixed(encodeMs)} | ${ratio} | ${fixed((100 * majorGcs) / runs)} |`);
        console.error(rows.at(-1));
        if (!choice.modelPath) continue;
        for (const [name, tally] of await timeRungs(choice, frames, runs)) {
          rows.push(`| ${size}p | ${choice.label} rung ${name} | ${fixed(tally.wallMs)} | ${fixed(tally.cpuMs)} | ${fixed(encode.cpuMs)} | ${(tally.cpuMs / encode.cpuMs).toFixed(2)} | |`);
          console.error(rows.at(-1));
        }
        const steps = await timeSteps(choice.modelPath, frames, runs);
        const network = await timeNetworkParts(choice.modelPath, frames, runs);
        for (const [name, tally] of [...(steps ?? []), ...(network ?? [])]) {
          stepRows.push(`| ${size}p | ${choice.label} | ${name} | ${fixed(tally.cpuMs)} | ${fixed(tally.wallMs)} |`);
          console.error(stepRows.at(-1));
        }
      }
      for (const f of frames) f.free();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const flags = process.execArgv.join(' ');
  console.log(`\n${today()}, ${machine()}, ${runs} calls after ${WARMUP} not timed (\`node ${flags ? `${flags} ` : ''}dist/bench/synthesis.js ${process.argv.slice(2).join(' ')}\`)\n`);
  console.log('| size | synthesizer | wall ms per in-between frame (median) | CPU ms per in-between frame (mean) | x264 veryfast CPU ms per frame | in-between / encode (CPU) | major GCs per 100 calls |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  if (stepRows.length === 0) return;
  console.log('\nSteps of a flow model\'s call, each timed alone (CPU: mean ms per call; wall: median):\n');
  console.log('| size | model | step | CPU ms | wall ms |');
  console.log('|---|---|---|---|---|');
  for (const r of stepRows) console.log(r);
}

await main();
