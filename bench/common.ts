import '../src/base/polyfills.js';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

/** One line naming the machine, for bench/RESULTS.md. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ffmpeg ${ffmpegVersion()}`;
}

export function ffmpegVersion(): string {
  return execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split('\n')[0]!.split(' ')[2]!;
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}
