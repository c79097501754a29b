import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { type Logger } from '../../../src/base/logger.js';

export interface PublishResult {
  code: number | null;
  stderr: string;
}

/**
 * Publishes `seconds` of 320x240@30 H.264 + AAC test signal to `url` in real
 * time (`-re`), as OBS would: 30 frames and about 43 AAC frames a second.
 */
export function ffmpegPublish(url: string, seconds = 2): Promise<PublishResult> {
  const args = ['-v', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', url);
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // A publisher stuck on a refused connection must not hang the suite.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface CapturedLog extends Logger {
  lines: string[];
}

/** A logger that keeps its lines for assertions (and off the test output). */
export function captureLog(): CapturedLog {
  const lines: string[] = [];
  return { lines, info: (message) => lines.push(`info: ${message}`), warn: (message) => lines.push(`warn: ${message}`) };
}
