/**
 * Scene cuts found by the semantic encoder's features vs a pixel-only
 * detector, on cuts whose truth is known: synthetic cuts made by joining
 * frames of two different footage clips, against consecutive frames within
 * a clip (the gaps a cut detector must leave alone), including the gaps of a
 * 3x lower frame rate (every third frame: larger motion).
 *
 * The pixel detector is the one RIFE users run: SSIM of the two frames at
 * 32x32 below 0.2 means a new scene. Real cuts inside the clips (Big Buck
 * Bunny has some) are neither kind of pair: transitions whose thumbnail
 * mean-abs-difference is large both absolutely and against their neighbours
 * (train/data.py's rule) are left out of the negatives.
 *
 *   node dist/bench/scene-cuts.js [--semantic-model models/semantic.onnx] [--write-card]
 *
 * `--write-card` stores the features threshold with the best F1 here into the
 * model's card (`sceneCut`), which the engine uses by default.
 */
import '../src/base/polyfills.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AV_PIX_FMT_GBRP, SWS_AREA, type AVPixelFormat } from 'node-av/constants';
import { dot } from '../src/engine/semantic/scene-cut.js';
import { SemanticEncoder } from '../src/engine/semantic/semantic-encoder.js';
import { DEFAULT_SEMANTIC_MODEL } from '../src/engine/semantic/semantic-stage.js';
import { copyRows, ScaleContext } from '../src/engine/runtime/scale-context.js';
import { FrameMetrics } from '../src/eval/metrics.js';
import { FileSource } from '../src/ingest/file-source.js';
import { captureFfmpegLog } from '../src/base/ffmpeg-log.js';
import { machine, today } from './common.js';

const REPO = resolve(new URL('../..', import.meta.url).pathname);
const FOOTAGE = resolve(process.env.FRC_DATA_DIR ?? join(REPO, '../shared/data'), 'footage');
const THUMB = 32;

interface ClipFrames {
  name: string;
  features: Float32Array[];
  /** 32x32 RGB in 0..1, planar. */
  thumbs: Float32Array[];
}

async function analyseClip(file: string, encoder: SemanticEncoder, maxFrames: number): Promise<ClipFrames> {
  const features: Float32Array[] = [];
  const thumbs: Float32Array[] = [];
  let scaler: ScaleContext | undefined;
  await using source = await FileSource.open(file);
  for await (const item of source.read()) {
    if (item.kind !== 'video') {
      item.packet.free();
      continue;
    }
    const frame = item.frame;
    features.push((await encoder.encode(frame)).pooled);
    scaler = ScaleContext.reuse(scaler, frame.width, frame.height, frame.format as AVPixelFormat, AV_PIX_FMT_GBRP, SWS_AREA, THUMB, THUMB);
    await scaler.sws.scaleFrame(scaler.rgb, frame);
    const planes = new Uint8Array(3 * THUMB * THUMB);
    for (let p = 0; p < 3; p++) copyRows(scaler.rgb.data![p]!, scaler.rgb.linesize[p]!, planes, p * THUMB * THUMB, THUMB, THUMB, THUMB);
    // gbrp → RGB planes in 0..1 (a 32x32 thumbnail, in a benchmark).
    const rgb = new Float32Array(3 * THUMB * THUMB);
    const n = THUMB * THUMB;
    for (let i = 0; i < n; i++) {
      rgb[i] = planes[2 * n + i]! / 255;
      rgb[n + i] = planes[i]! / 255;
      rgb[2 * n + i] = planes[n + i]! / 255;
    }
    thumbs.push(rgb);
    frame.free();
    if (features.length >= maxFrames) break;
  }
  scaler?.[Symbol.dispose]();
  return { name: file.split('/').pop()!, features, thumbs };
}

const image = (data: Float32Array) => ({ width: THUMB, height: THUMB, paddedWidth: THUMB, paddedHeight: THUMB, data });
const mad = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return (255 * s) / a.length;
};

/** Transitions i→i+1 that look like real cuts in a clip (train/data.py's rule on 32x32 thumbnails). */
function realCuts(clip: ClipFrames): Set<number> {
  const d = clip.thumbs.slice(1).map((t, i) => mad(clip.thumbs[i]!, t));
  const cuts = new Set<number>();
  d.forEach((v, i) => {
    const around = [...d.slice(Math.max(0, i - 4), i), ...d.slice(i + 1, i + 5)].sort((a, b) => a - b);
    const ref = around.length ? around[around.length >> 1]! : 0;
    if (v > 12 && v > 3 * Math.max(ref, 1)) cuts.add(i);
  });
  return cuts;
}

interface Pair {
  cut: boolean;
  kind: string;
  similarity: number;
  ssim: number;
}

function scores(pairs: Pair[], predict: (p: Pair) => boolean) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const p of pairs) {
    const said = predict(p);
    if (said && p.cut) tp++;
    else if (said) fp++;
    else if (p.cut) fn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 1;
  const recall = tp + fn ? tp / (tp + fn) : 1;
  return { tp, fp, fn, precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0 };
}

async function main(): Promise<void> {
  captureFfmpegLog();
  const { values } = parseArgs({ options: { 'semantic-model': { type: 'string' }, 'write-card': { type: 'boolean' }, 'max-frames': { type: 'string' } } });
  const modelPath = values['semantic-model'] ?? DEFAULT_SEMANTIC_MODEL;
  const encoder = await SemanticEncoder.create({ modelPath, threads: 2 });
  const metrics = await FrameMetrics.create();
  const clips: ClipFrames[] = [];
  for (const file of readdirSync(FOOTAGE).filter((f) => !f.endsWith('.tsv') && !f.endsWith('.md')).sort()) {
    clips.push(await analyseClip(join(FOOTAGE, file), encoder, Number(values['max-frames'] ?? 400)));
    console.error(`${file}: ${clips.at(-1)!.features.length} frames`);
  }
  const ssim = async (a: Float32Array, b: Float32Array) => (await metrics.score(image(a), image(b))).ssim;

  const pairs: Pair[] = [];
  let leftOut = 0;
  for (const clip of clips) {
    const cuts = realCuts(clip);
    for (const step of [1, 3]) {
      for (let i = 0; i + step < clip.features.length; i += step) {
        // A real cut inside the gap: neither a negative nor a known positive.
        if ([...Array(step).keys()].some((k) => cuts.has(i + k))) {
          leftOut++;
          continue;
        }
        pairs.push({ cut: false, kind: step === 1 ? 'consecutive' : 'every 3rd', similarity: dot(clip.features[i]!, clip.features[i + step]!), ssim: await ssim(clip.thumbs[i]!, clip.thumbs[i + step]!) });
      }
    }
  }
  // Synthetic cuts: a frame of clip A followed by a frame of clip B, at fixed spread-out positions.
  for (const a of clips) {
    for (const b of clips) {
      if (a === b) continue;
      for (let k = 1; k <= 5; k++) {
        const i = Math.floor((a.features.length * k) / 6);
        const j = Math.floor((b.features.length * (6 - k)) / 6);
        pairs.push({ cut: true, kind: 'joined', similarity: dot(a.features[i]!, b.features[j]!), ssim: await ssim(a.thumbs[i]!, b.thumbs[j]!) });
      }
    }
  }
  await encoder[Symbol.asyncDispose]();
  await metrics[Symbol.asyncDispose]();
  const negatives = pairs.filter((p) => !p.cut);
  const hard = negatives.filter((p) => p.kind === 'every 3rd');

  // Each detector's threshold with the best F1 on these pairs (so the features get no edge from tuning that SSIM lacks).
  const bestThreshold = (value: (p: Pair) => number) => {
    let best = { threshold: 0, f1: -1 };
    for (let threshold = 0.01; threshold < 1; threshold += 0.01) {
      const { f1 } = scores(pairs, (p) => value(p) < threshold);
      if (f1 > best.f1) best = { threshold: Math.round(threshold * 100) / 100, f1 };
    }
    return best;
  };
  const best = bestThreshold((p) => p.similarity);
  const bestSsim = bestThreshold((p) => p.ssim);
  const rows = [
    { name: `features: cosine < ${best.threshold} (best F1 here)`, s: scores(pairs, (p) => p.similarity < best.threshold), hard: hard.filter((p) => p.similarity < best.threshold).length },
    { name: 'pixels: SSIM(32x32) < 0.2 (as RIFE users do)', s: scores(pairs, (p) => p.ssim < 0.2), hard: hard.filter((p) => p.ssim < 0.2).length },
    { name: `pixels: SSIM(32x32) < ${bestSsim.threshold} (best F1 here)`, s: scores(pairs, (p) => p.ssim < bestSsim.threshold), hard: hard.filter((p) => p.ssim < bestSsim.threshold).length },
  ];
  console.log(`\n${today()}, ${machine()}, encoder ${modelPath.split('/').pop()} (\`node dist/bench/scene-cuts.js ${process.argv.slice(2).join(' ')}\`)\n`);
  console.log(`${pairs.length - negatives.length} joined pairs (cuts), ${negatives.length} within-clip pairs (${hard.length} of them every 3rd frame), ${leftOut} left out as real cuts in the clips\n`);
  console.log('| detector | precision | recall | F1 | missed cuts | false cuts (of which at every 3rd frame) |');
  console.log('|---|---|---|---|---|---|');
  for (const { name, s, hard: falseHard } of rows) {
    console.log(`| ${name} | ${s.precision.toFixed(3)} | ${s.recall.toFixed(3)} | ${s.f1.toFixed(3)} | ${s.fn} | ${s.fp} (${falseHard}) |`);
  }
  if (values['write-card']) {
    const cardPath = modelPath.replace(/\.onnx$/, '.json');
    const card = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
    const s = rows[0]!.s;
    card.sceneCut = { threshold: best.threshold, measured: { by: 'bench/scene-cuts.ts', date: today(), precision: s.precision, recall: s.recall, f1: s.f1, pixelSsimF1: rows[1]!.s.f1 } };
    writeFileSync(cardPath, JSON.stringify(card, null, 2) + '\n');
    console.log(`\nwrote sceneCut.threshold ${best.threshold} into ${cardPath}`);
  }
}

await main();
