import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { type Publisher, until } from '../live-helpers.js';

/** Shared by the reliability cases: a steady bystander stream, its rate, and its HLS output checked for holes. */

export const testSignal = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];

type Streams = () => Promise<LiveStreamStats[]>;

/** Starts a 320x240 30 fps RTMP publisher on `key` and waits until its output runs at speed. */
export async function steadyStream(t: { after: (fn: () => void) => void }, rtmp: (key: string) => string, streams: Streams, key = 'steady', seconds = 30): Promise<Publisher> {
  // Not live-helpers' publish(): that one gives up after 30 s, and a fuzz on a busy machine can take longer.
  const child = spawn('ffmpeg', ['-v', 'error', '-re', ...testSignal(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', rtmp(key)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  const publisher: Publisher = { child, done };
  t.after(() => publisher.child.kill('SIGKILL'));
  await until(`${key} at speed`, 20_000, async () => ((await streams()).find((s) => s.key === key && s.state === 'live' && s.outputFps >= 50) ? true : undefined));
  return publisher;
}

/**
 * Asserts `key` is live and puts out about 60 frames a second, counted over
 * `ms` from its frame counter (a stream another disturbed would fall behind;
 * the server's own one-second meter swings on these 2 shared cores).
 */
export async function assertKeepsRate(streams: Streams, key = 'steady', min = 45, ms = 3000): Promise<LiveStreamStats & { measuredFps: number }> {
  const before = (await streams()).find((x) => x.key === key);
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const s = (await streams()).find((x) => x.key === key);
  assert.equal(s?.state, 'live', `${key}: ${s?.state} ${s?.error ?? ''}`);
  const measuredFps = ((s.framesOut - (before?.framesOut ?? 0)) * 1000) / (Date.now() - started);
  assert.ok(measuredFps >= min, `${key} fell to ${measuredFps.toFixed(1)} fps out over ${ms} ms`);
  return { ...s, measuredFps: Math.round(measuredFps * 10) / 10 };
}

/**
 * The HLS output of `key` as it stands (the segments its playlist still
 * lists), checked for holes: every video frame's timestamp follows the one
 * before by one output frame interval, so no frame the engine put out was
 * lost between the encoder and the segments. Returns the frame count.
 */
export async function assertHlsWhole(http: string, key: string, dir: string, fps = 60): Promise<number> {
  const playlist = await (await fetch(`${http}/hls/${key}/index.m3u8`)).text();
  const segments = playlist.split('\n').filter((line) => line.endsWith('.ts'));
  assert.ok(segments.length > 0, `no segments in ${playlist}`);
  const parts: Buffer[] = [];
  for (const segment of segments) parts.push(Buffer.from(await (await fetch(`${http}/hls/${key}/${segment}`)).arrayBuffer()));
  const file = join(dir, `${key}.ts`);
  writeFileSync(file, Buffer.concat(parts));
  const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const times = probe.stdout.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
  assert.ok(times.length > fps, `${times.length} frames in ${segments.length} segments`);
  const holes = times.slice(1).filter((time, i) => time - times[i]! > 1.5 / fps);
  assert.deepEqual(holes, [], `frames missing from ${key}'s HLS before these times`);
  return times.length;
}

/**
 * A tmpfs of `bytes` mounted on a new directory (unmounted after the test),
 * to fill a disk for real; `skip` says why there is none (mounting needs
 * root, or CAP_SYS_ADMIN in a container).
 */
export function tinyDisk(t: { after: (fn: () => void) => void }, bytes: number): { dir: string } | { skip: string } {
  // Not under the test's temp dir: that one is removed first, and a mount point cannot be.
  const mountPoint = mkdtempSync(join(tmpdir(), 'frc-tiny-disk-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', mountPoint], { encoding: 'utf8' });
  t.after(() => {
    // Lazily: a server closing after this hook still finishes its files on the detached disk.
    if (mounted.status === 0) spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  if (mounted.status !== 0) return { skip: `cannot mount a tmpfs to fill (${(mounted.stderr || mounted.error?.message || '').trim()}): a full disk needs root` };
  return { dir: mountPoint };
}

/** Fills `dir`'s file system until only about `leave` bytes are free. */
export function fillDisk(dir: string, leave: number): void {
  const free = statfsSync(dir);
  const bytes = Math.max(0, free.bavail * free.bsize - leave);
  writeFileSync(join(dir, 'filler'), Buffer.alloc(bytes));
}
