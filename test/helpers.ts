import '../src/base/polyfills.js';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(REPO, 'dist/src/cli.js');
/** Real footage and eval triplets; override with FRC_DATA_DIR. */
export const DATA = process.env.FRC_DATA_DIR ?? resolve(REPO, '../shared/data');
export const FOOTAGE = join(DATA, 'footage');
export const EVAL = join(DATA, 'eval');

export function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'frc-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the ffmpeg CLI quietly; throws with its stderr on failure. */
export function ffmpeg(...args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface ProbedStream {
  codec_name: string;
  codec_type: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_read_frames?: string;
  duration?: string;
}

/** ffprobe with frames counted by decoding (`-count_frames`), not taken from the header. */
export function probe(file: string): { streams: ProbedStream[]; format: { duration: string } } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' });
  return JSON.parse(out);
}

export function videoStream(file: string): ProbedStream {
  const s = probe(file).streams.find((x) => x.codec_type === 'video');
  if (!s) throw new Error(`${file} has no video stream`);
  return s;
}

/** The md5 of one stream's packets as stored (`-c copy`), to prove a stream was copied bit for bit. */
export function streamMd5(file: string, selector: string): string {
  return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-map', selector, '-c', 'copy', '-f', 'md5', '-'], { encoding: 'utf8' }).trim();
}

/** Decodes every frame of the first video stream to packed gray bytes (for motion checks). */
export function grayFrames(file: string, width: number, height: number): Buffer[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { maxBuffer: 1 << 30 });
  const size = width * height;
  const frames: Buffer[] = [];
  for (let at = 0; at + size <= raw.length; at += size) frames.push(raw.subarray(at, at + size));
  return frames;
}

export function meanAbsDiff(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `frc` CLI as a user would, with `env` over this process's environment. */
export function runCli(args: string[], timeoutMs = 300_000, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 1 << 24, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A real joined clip: 15 frames of the birds, then 15 of the cockatoo, at 30 fps, 320x180 (lossless). */
export function joinedClip(dir: string): string {
  const out = join(dir, 'joined.mkv');
  const part = (input: number) => `[${input}:v]trim=end_frame=15,setpts=N/30/TB,scale=320:180,setsar=1,format=yuv420p[v${input}]`;
  ffmpeg(
    '-i', join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'),
    '-i', join(FOOTAGE, 'cockatoo_720p20_imageio.mp4'),
    '-filter_complex', `${part(0)};${part(1)};[v0][v1]concat=n=2:v=1:a=0,setpts=N/30/TB[out]`,
    '-map', '[out]', '-r', '30', '-c:v', 'ffv1', out,
  );
  return out;
}

/** `count` 160x120 yuv420p frames at 30 fps (pts 0, 1, …), each a different flat shade: encoder input (the caller frees them). */
export function shadedFrames(count: number): Frame[] {
  return Array.from({ length: count }, (_, i) => {
    const frame = Frame.fromVideoBuffer(Buffer.alloc((160 * 120 * 3) / 2, (i * 7) % 256), { width: 160, height: 120, format: AV_PIX_FMT_YUV420P, timeBase: { num: 1, den: 30 } });
    frame.pts = BigInt(i);
    return frame;
  });
}
