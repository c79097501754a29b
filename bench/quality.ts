/**
 * Interpolation quality on triplet folders (default ../shared/data/eval):
 * dup, blend, the shipped model(s) and FFmpeg's minterpolate, each scored by
 * the same metrics as `frc eval`. Prints a markdown table for bench/RESULTS.md.
 *
 *   node dist/bench/quality.js [evalDir] [--model path.onnx ...]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RgbConverter } from '../src/engine/synthesis/rgb-convert.js';
import { DEFAULT_MODEL_PATH } from '../src/engine/model/model-choice.js';
import { evaluate, type EvalReport } from '../src/eval/evaluate.js';
import { FrameMetrics } from '../src/eval/metrics.js';
import { captureFfmpegLog } from '../src/base/ffmpeg-log.js';
import { readStillImage } from '../src/ingest/still-image.js';
import { machine, today } from './common.js';

const MINTERPOLATE = 'minterpolate=fps=2:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1';

/** minterpolate needs context frames: feed f0,f0,f1,f1 at 1 fps and take the 2 fps output at t = 1.5 s. */
async function minterpolateReport(dir: string): Promise<EvalReport> {
  const metrics = await FrameMetrics.create();
  await using rgb = await RgbConverter.create(1);
  const work = mkdtempSync(join(tmpdir(), 'frc-mi-'));
  const report: EvalReport = { interp: 'minterpolate', sets: {} };
  try {
    for (const set of readdirSync(dir).sort().filter((entry) => statSync(join(dir, entry)).isDirectory())) {
      const samples = readdirSync(join(dir, set))
        .sort()
        .map((s) => join(dir, set, s))
        .filter((s) => statSync(s).isDirectory() && existsSync(join(s, 'gt.png')));
      let psnr = 0;
      let ssim = 0;
      for (const sample of samples) {
        ['frame0', 'frame0', 'frame1', 'frame1'].forEach((name, i) => {
          rmSync(join(work, `in${i + 1}.png`), { force: true });
          symlinkSync(join(sample, `${name}.png`), join(work, `in${i + 1}.png`));
        });
        const out = join(work, 'mid.png');
        execFileSync('ffmpeg', ['-v', 'error', '-y', '-framerate', '1', '-i', join(work, 'in%d.png'), '-vf', `${MINTERPOLATE},select=eq(n\\,3)`, '-frames:v', '1', out]);
        const [pred, truth] = await Promise.all([readStillImage(out), readStillImage(join(sample, 'gt.png'))]);
        const scores = await metrics.score(await rgb.toRgb(pred), await rgb.toRgb(truth));
        pred.free();
        truth.free();
        psnr += scores.psnr;
        ssim += scores.ssim;
      }
      if (samples.length) report.sets[set] = { n: samples.length, psnr: +(psnr / samples.length).toFixed(3), ssim: +(ssim / samples.length).toFixed(4) };
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    await metrics[Symbol.asyncDispose]();
  }
  return report;
}

async function main(): Promise<void> {
  captureFfmpegLog();
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { model: { type: 'string', multiple: true } } });
  const dir = resolve(positionals[0] ?? '../shared/data/eval');
  const models = values.model ?? (existsSync(DEFAULT_MODEL_PATH) ? [DEFAULT_MODEL_PATH] : []);

  const reports: { report: EvalReport; seconds: number }[] = [];
  const timed = async (fn: () => Promise<EvalReport>) => {
    const t0 = performance.now();
    const report = await fn();
    reports.push({ report, seconds: (performance.now() - t0) / 1000 });
    process.stderr.write(`${report.interp} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  };
  await timed(() => evaluate(dir, { kind: 'dup' }));
  await timed(() => evaluate(dir, { kind: 'blend' }));
  for (const model of models) await timed(() => evaluate(dir, { kind: 'model', modelPath: model }));
  await timed(() => minterpolateReport(dir));

  const sets = Object.keys(reports[0]!.report.sets);
  const lines = [
    `Quality on \`${basename(dir)}\` — ${today()}, ${machine()}`,
    '',
    `| interpolator | ${sets.map((s) => `${s} (n=${reports[0]!.report.sets[s]!.n}) PSNR / SSIM`).join(' | ')} | wall s |`,
    `|---|${sets.map(() => '---').join('|')}|---|`,
    ...reports.map(
      ({ report, seconds }) =>
        `| ${report.interp} | ${sets.map((s) => (report.sets[s] ? `${report.sets[s]!.psnr.toFixed(2)} / ${report.sets[s]!.ssim.toFixed(4)}` : '—')).join(' | ')} | ${seconds.toFixed(1)} |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
