import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AV_PIX_FMT_GBRP } from 'node-av/constants';
import type { Frame } from 'node-av/lib';
import { InputError } from '../base/errors.js';
import type { InterpolatorChoice } from '../engine/model/model-choice.js';
import { type SemanticChoice, SemanticStage } from '../engine/semantic/semantic-stage.js';
import { createSynthesizer } from '../engine/synthesis/create-synthesizer.js';
import { RgbConverter } from '../engine/synthesis/rgb-convert.js';
import { FlowRung } from '../engine/synthesis/flow-rungs.js';
import { DupSynthesizer, type Synthesizer } from '../engine/synthesis/synthesis.js';
import { readStillImage } from '../ingest/still-image.js';
import { FrameMetrics } from './metrics.js';

export interface SetScore {
  n: number;
  psnr: number;
  ssim: number;
  /** With the semantic stage: triplets it took for a scene cut (their middle is the earlier frame, as the engine would show). */
  sceneCuts?: number;
}

export interface EvalReport {
  interp: string;
  /** The execution provider the model ran on (none for a synthesizer outside ONNX Runtime). */
  provider?: string;
  sets: Record<string, SetScore>;
}

const TRIPLET = ['frame0.png', 'gt.png', 'frame1.png'] as const;
/** The frame before frame0, at the same spacing: the gap before, whose field the `reuse` rung starts from. */
const PREVIOUS = 'prev.png';
/** Frames further back (`prev2.png`, the one before `prev.png`, and so on): a longer chain of reused fields. */
const earlier = (k: number) => `prev${k}.png`;

export interface RungChoice {
  /** A rung of the model's ladder to score instead of the model (`bilinear`, `reuse`, or its full name). */
  rung?: string;
}

/**
 * Scores an interpolator on triplet folders `<set>/<sample>/{frame0,gt,frame1}.png`:
 * the frame synthesized at t = 0.5 against the true middle frame.
 * `dir` may hold several sets, or be a single set. The frames go through the
 * same synthesis as in `convert`, in 8-bit planar RGB, so what is scored is
 * what an encoder would receive.
 *
 * With `rung`, a rung of the model's ladder is scored instead. The `reuse`
 * rung needs the gap before: each sample's `prev.png`, which the model (the
 * top rung) renders with frame0 first, as a live stream would have. With
 * `prev2.png` … `prevN.png` as well, the model renders the earliest gap and
 * the rung every gap after it: N fields reused in a row, the scored one last,
 * as a stream that stays on the rung.
 */
export async function evaluate(dir: string, choice: InterpolatorChoice & SemanticChoice & RungChoice): Promise<EvalReport> {
  const sets = findSets(dir);
  // With the semantic stage, a triplet taken for a scene cut gets what the engine would show there: the nearer (earlier, at a tie) frame.
  await using semantic = choice.semantic ? await SemanticStage.create(choice) : undefined;
  await using synthesizer = await createSynthesizer(choice, semantic);
  await using metrics = await FrameMetrics.create();
  await using dup = new DupSynthesizer();
  await using toTensor = await RgbConverter.create(1);
  const rung = choice.rung === undefined ? synthesizer : pickRung(synthesizer, choice.rung);
  const report: EvalReport = { interp: rung.name, provider: choice.provider ?? 'cpu', sets: {} };
  for (const [name, samples] of sets) {
    let psnr = 0;
    let ssim = 0;
    let cuts = 0;
    for (const sample of samples) {
      const frames = await Promise.all(TRIPLET.map((file) => readStillImage(join(sample, file), AV_PIX_FMT_GBRP)));
      using f0 = frames[0]!, gt = frames[1]!, f1 = frames[2]!;
      let cut = false;
      if (semantic) {
        semantic.reset();
        await semantic.analyse(f0, { arrival: 0 });
        cut = (await semantic.analyse(f1, { arrival: 0 })).cut;
        if (cut) cuts++;
      }
      if (rung instanceof FlowRung && rung.setting.reuse && !cut) await renderGapsBefore(sample, f0, synthesizer, rung);
      using middle = await (cut ? dup : rung).synthesize(f0, f1, 0.5);
      const scores = await metrics.score(await toTensor.toRgb(middle), await toTensor.toRgb(gt));
      psnr += scores.psnr;
      ssim += scores.ssim;
    }
    report.sets[name] = { n: samples.length, psnr: round(psnr / samples.length, 3), ssim: round(ssim / samples.length, 4), ...(semantic ? { sceneCuts: cuts } : {}) };
  }
  return report;
}

export function formatEvalTable(report: EvalReport): string {
  const semantic = Object.values(report.sets).some((s) => s.sceneCuts !== undefined);
  const rows = Object.entries(report.sets).map(([name, s]) => `${name.padEnd(20)} ${String(s.n).padStart(4)} ${s.psnr.toFixed(2).padStart(8)} ${s.ssim.toFixed(4).padStart(8)}${semantic ? String(s.sceneCuts ?? 0).padStart(6) : ''}`);
  return [`interp: ${report.interp}${report.provider ? `, provider: ${report.provider}` : ''}`, `${'set'.padEnd(20)} ${'n'.padStart(4)} ${'PSNR'.padStart(8)} ${'SSIM'.padStart(8)}${semantic ? ' cuts'.padStart(6) : ''}`, ...rows, ''].join('\n');
}

/** The gaps before `f0` (`prevN.png` … `prev.png`): the model renders the first, `rung` the others. */
async function renderGapsBefore(sample: string, f0: Frame, synthesizer: Synthesizer, rung: Synthesizer): Promise<void> {
  if (!existsSync(join(sample, PREVIOUS))) throw new InputError(`${rung.name} needs ${PREVIOUS} beside frame0.png in ${sample}`);
  const files = [PREVIOUS];
  while (existsSync(join(sample, earlier(files.length + 1)))) files.push(earlier(files.length + 1));
  const frames: Frame[] = [];
  try {
    for (const file of files.reverse()) frames.push(await readStillImage(join(sample, file), AV_PIX_FMT_GBRP));
    frames.push(f0);
    for (let i = 0; i + 1 < frames.length; i++) (await (i === 0 ? synthesizer : rung).synthesize(frames[i]!, frames[i + 1]!, 0.5)).free();
  } finally {
    for (const frame of frames) if (frame !== f0) frame.free();
  }
}

/** The rung of `synthesizer`'s ladder named `name` (its suffix, `bilinear`, or its full name). */
function pickRung(synthesizer: Synthesizer, name: string): Synthesizer {
  const rungs = synthesizer.rungs?.() ?? [];
  const rung = rungs.find((r) => r.name === name || r.name.endsWith(`/${name}`));
  if (!rung) throw new InputError(`${synthesizer.name} has no rung "${name}" (its rungs: ${rungs.map((r) => r.name).join(', ') || 'none'})`);
  return rung;
}

/** Set name → sample folders, sorted so runs are reproducible. */
function findSets(dir: string): Map<string, string[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputError(`eval directory not found: ${dir}`);
  const isSample = (d: string) => TRIPLET.every((f) => existsSync(join(d, f)));
  const subdirs = (d: string) =>
    readdirSync(d)
      .sort()
      .map((e) => join(d, e))
      .filter((p) => statSync(p).isDirectory());
  const sets = new Map<string, string[]>();
  const direct = subdirs(dir).filter(isSample);
  if (direct.length > 0) sets.set(basename(dir), direct);
  else {
    for (const set of subdirs(dir)) {
      const samples = subdirs(set).filter(isSample);
      if (samples.length > 0) sets.set(basename(set), samples);
    }
  }
  if (sets.size === 0) throw new InputError(`no triplets (<set>/<sample>/frame0.png, gt.png, frame1.png) under ${dir}`);
  return sets;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}
