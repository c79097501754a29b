/**
 * Throughput of `frc convert` at 480p, 720p and 1080p in interpolated frames
 * per second, against FFmpeg's `minterpolate=fps=60:mi_mode=mci` on the same
 * clip in the same run (both write H.264 with libx264 veryfast, CRF 18).
 * The clip is real 30 fps footage looped to 93 frames and scaled.
 *
 *   node dist/bench/throughput.js [--interp blend --interp model ...] [--model path.onnx ...] [--sizes 480,720,1080]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../src/base/node-flags.js';
import { DEFAULT_MODEL_PATH } from '../src/engine/model/model-choice.js';
import { machine, today } from './common.js';

const SIZES: Record<string, [number, number]> = { '480': [854, 480], '720': [1280, 720], '1080': [1920, 1080] };
const REPO = resolve(new URL('../..', import.meta.url).pathname);
const SOURCE = resolve(process.env.FRC_DATA_DIR ?? join(REPO, '../shared/data'), 'footage/birds_animation_720p30_wp2022.mp4');

function countFrames(file: string): number {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  return Number(out.trim());
}

function timed(cmd: string, args: string[]): { seconds: number; stdout: string } {
  const t0 = performance.now();
  const run = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) throw new Error(`${cmd} failed: ${run.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, stdout: run.stdout };
}

function main(): void {
  const { values } = parseArgs({ options: { interp: { type: 'string', multiple: true }, model: { type: 'string', multiple: true }, sizes: { type: 'string' } } });
  // Each entry is the CLI arguments that pick one interpolator.
  const interps: string[][] = [
    ...(values.interp ?? ['blend', ...(existsSync(DEFAULT_MODEL_PATH) ? ['model'] : [])]).map((kind) => ['--interp', kind]),
    ...(values.model ?? []).map((path) => ['--model', path]),
  ];
  const sizes = (values.sizes ?? '480,720,1080').split(',');
  const work = mkdtempSync(join(tmpdir(), 'frc-tp-'));
  const rows: string[] = [];
  try {
    for (const size of sizes) {
      const [w, h] = SIZES[size]!;
      const clip = join(work, `clip${size}.mp4`);
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', '2', '-i', SOURCE, '-an', '-vf', `scale=${w}:${h}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '16', clip]);
      const inputFrames = countFrames(clip);

      const mi = join(work, `mi${size}.mp4`);
      const ffm = timed('ffmpeg', ['-v', 'error', '-y', '-i', clip, '-vf', 'minterpolate=fps=60:mi_mode=mci', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', mi]);
      const miInterpolated = countFrames(mi) - inputFrames;
      const miFps = miInterpolated / ffm.seconds;
      rows.push(`| ${size}p | minterpolate (mci) | ${inputFrames} | ${miInterpolated} | ${ffm.seconds.toFixed(2)} | ${miFps.toFixed(1)} | 1.00 |`);

      for (const choice of interps) {
        const out = join(work, `frc-${size}.mp4`);
        const run = timed(process.execPath, [...NODE_FLAGS, join(REPO, 'dist/src/cli.js'), 'convert', clip, out, '--fps', '60', ...choice]);
        const [, interpolated, name] = /(\d+) interpolated by (\S+),/.exec(run.stdout) ?? [];
        const fps = Number(interpolated) / run.seconds;
        rows.push(`| ${size}p | frc ${name} | ${inputFrames} | ${interpolated} | ${run.seconds.toFixed(2)} | ${fps.toFixed(1)} | ${(fps / miFps).toFixed(2)} |`);
      }
      process.stderr.write(`${size}p done\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(
    [
      `Throughput, 30 → 60 fps — ${today()}, ${machine()}`,
      '',
      '| size | interpolator | input frames | interpolated frames | wall s | interpolated fps | vs minterpolate |',
      '|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n') + '\n',
  );
}

main();
