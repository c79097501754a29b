import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { captureFfmpegLog } from '../src/base/ffmpeg-log.js';
import { FileSource } from '../src/ingest/file-source.js';
import type { LiveStreamStats } from '../src/live/live-stream.js';
import { Server } from '../src/server/serve.js';
import { type ServeOptions } from '../src/config/serve-options.js';
import { FOOTAGE, tempDir } from './helpers.js';
import { captureLog } from './protocols/rtmp/rtmp-helpers.js';

/** Shared by the live-server tests: a server on ephemeral ports and real ffmpeg publishers. */

export type TestContext = Parameters<typeof tempDir>[0];

export const BIRDS = join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'); // 31 frames at 30 fps, AAC
export const BIRDS_LOOPED_FRAMES = 62; // -stream_loop 1 plays it twice

// FFmpeg's own log (x264's banner and stats) stays off the test output.
captureFfmpegLog();

export async function startServer(t: TestContext, options: ServeOptions = {}) {
  const log = captureLog();
  const server = new Server({ kind: 'blend', httpPort: 0, rtmpPort: 0, endedRetentionMs: 60_000, logger: log, ...options });
  const { httpPort, rtmpPort, srtPort } = await server.listen();
  t.after(() => server.close());
  const http = `http://127.0.0.1:${httpPort}`;
  return {
    server,
    log,
    http,
    rtmp: (key: string) => `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
    /** With `srtPort` set: the SRT URL a publisher calls with `streamId` (OBS's Server field). */
    srt: (streamId: string) => `srt://127.0.0.1:${srtPort}?streamid=${streamId}&pkt_size=1316`,
    streams: async (): Promise<LiveStreamStats[]> => ((await (await fetch(`${http}/api/streams`)).json()) as { streams: LiveStreamStats[] }).streams,
  };
}

export interface Publisher {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Publishes in real time (`-re`) as OBS would: H.264 (GOP 1 s) + AAC over RTMP. */
export function publish(url: string, input: string[]): Publisher {
  const args = ['-v', 'error', '-re', ...input, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', url];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
  return { child, done };
}

/** Polls until `check` returns a value (not undefined), or fails after `ms`. */
export async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The segments a stream's HLS playlist lists now, as one ffprobe input, and their duration (s). */
export function hlsSegments(dir: string): { input: string; seconds: number } {
  const { files, seconds } = hlsPlaylist(dir);
  return { input: `concat:${files.join('|')}`, seconds };
}

/** The segment files a stream's HLS playlist lists now, and their total duration (s). */
function hlsPlaylist(dir: string): { files: string[]; seconds: number } {
  const playlist = readFileSync(join(dir, 'index.m3u8'), 'utf8');
  const segments = [...playlist.matchAll(/#EXTINF:([\d.]+),\s*\n(\S+)/g)];
  return { files: segments.map((m) => join(dir, m[2]!)), seconds: segments.reduce((sum, m) => sum + Number(m[1]), 0) };
}

/** The presentation times (s) of one stream's packets in `segments`, as ffprobe reads them. */
export async function hlsPacketTimes(segments: { input: string }, selector: string): Promise<number[]> {
  const probe = spawn('ffprobe', ['-v', 'error', '-select_streams', selector, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', segments.input]);
  let out = '';
  probe.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => probe.on('close', resolve));
  // One `1.466667,` line per packet (the comma closes an empty side-data section).
  return out.split(/\s+/).map((line) => line.replace(/,+$/, '')).filter((line) => /^[\d.]+$/.test(line)).map(Number);
}

/** Frames per second of a stream's HLS output as ffprobe reads it: the video packets of the segments listed, over their durations. */
export async function hlsFps(dir: string): Promise<number> {
  // Listed once: the playlist grows while ffprobe reads.
  const segments = hlsSegments(dir);
  return (await hlsPacketTimes(segments, 'v:0')).length / segments.seconds;
}

/**
 * `hlsFps`, read in this process (the segments decoded by node-av) rather
 * than by ffprobe: for a test process that must not spawn any more (see
 * serve-pull.test.ts, the SRT pull).
 */
export async function hlsFpsHere(dir: string): Promise<number> {
  const { files, seconds } = hlsPlaylist(dir);
  let frames = 0;
  for (const file of files) {
    await using source = await FileSource.open(file);
    for await (const item of source.read()) if (item.kind === 'video') item.frame.free(), frames++;
  }
  return frames / seconds;
}
