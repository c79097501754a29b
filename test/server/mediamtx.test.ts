import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, REPO, tempDir } from '../helpers.js';
import { rtspCamera } from '../rtsp-camera.js';

/**
 * docs/mediamtx.md's `runOnReady` line, run as MediaMTX runs it, with FFmpeg
 * standing in for MediaMTX: an RTSP camera on the path `cam`, and an
 * `ffmpeg -listen` RTMP server receiving `cam_60`.
 */

/** The `runOnReady` command of the documented mediamtx.yml. */
function documentedCommand(): string {
  const line = /^\s*runOnReady:\s*(.+)$/m.exec(readFileSync(join(REPO, 'docs/mediamtx.md'), 'utf8'))?.[1];
  assert.ok(line, 'docs/mediamtx.md has a runOnReady line');
  return line.trim();
}

/**
 * What MediaMTX does with it (internal/externalcmd): split into words, no
 * shell (the line quotes nothing, so spaces split it), then `$VAR` and
 * `${VAR}` replaced in each word (Go's os.Expand).
 */
function asMediaMtxRunsIt(command: string, env: Record<string, string>): string[] {
  return command.split(/\s+/).map((word) => word.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_, braced: string | undefined, bare: string | undefined) => env[braced ?? bare!] ?? ''));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('asMediaMtxRunsIt replaces $VAR and ${VAR} in each word, as os.Expand does', () => {
  assert.deepEqual(asMediaMtxRunsIt('a rtsp://h:$RTSP_PORT/$MTX_PATH rtmp://h/${MTX_PATH}_60 $MTX_PATH_60', { RTSP_PORT: '8554', MTX_PATH: 'cam' }), [
    'a',
    'rtsp://h:8554/cam',
    'rtmp://h/cam_60',
    '',
  ]);
});

test("the documented runOnReady line pulls MediaMTX's path over RTSP and publishes <path>_60 back at 60 fps", async (t) => {
  const dir = tempDir(t);
  const camera = await rtspCamera(t, 'cam', 8);
  const rtmpPort = await freePort();
  const received = join(dir, 'cam_60.flv');
  const receiver = spawn('ffmpeg', ['-v', 'error', '-listen', '1', '-timeout', '30', '-i', `rtmp://127.0.0.1:${rtmpPort}/cam_60`, '-c', 'copy', '-f', 'flv', '-y', received], { stdio: 'ignore' });
  const receiverDone = new Promise<void>((resolve) => receiver.on('close', () => resolve()));
  t.after(() => receiver.kill('SIGKILL'));

  const words = asMediaMtxRunsIt(documentedCommand(), { RTSP_PORT: String(camera.port), MTX_PATH: 'cam' })
    // The test's servers listen on 127.0.0.1 only, and the RTMP one on a free port.
    .map((word) => word.replace('localhost', '127.0.0.1').replace(':1935/', `:${rtmpPort}/`));
  assert.equal(words[0], 'frc');
  assert.ok(words.includes(`src=rtsp://127.0.0.1:${camera.port}/cam`) && words.includes(`rtmp://127.0.0.1:${rtmpPort}/cam_60`), words.join(' '));
  // blend keeps the two shared cores free; the model is not what is tested here.
  const frc = spawn(process.execPath, [CLI, ...words.slice(1), '--model', 'blend'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  frc.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  frc.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => frc.on('close', (code) => resolve(code)));
  t.after(() => frc.kill('SIGKILL'));

  // The publisher goes away (the camera ends), and MediaMTX stops the command with SIGINT.
  await camera.done;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const stopping = performance.now();
  frc.kill('SIGINT');
  const code = await exited;
  const exitMs = performance.now() - stopping;
  t.diagnostic(`frc exited ${code} ${Math.round(exitMs)} ms after SIGINT`);
  assert.equal(code, 0, log);
  assert.ok(exitMs < 8000, `frc took ${Math.round(exitMs)} ms to exit after SIGINT`);
  assert.match(log, /pushing each stream onward over RTMP/);
  // frc gone, its connection closes and the receiver finishes its file; a stuck one is stopped as an operator would.
  const timer = setTimeout(() => receiver.kill('SIGINT'), 5000);
  await receiverDone;
  clearTimeout(timer);

  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,r_frame_rate,nb_read_frames:format=duration', '-of', 'json', received]);
  const probed = JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number; r_frame_rate: string; nb_read_frames: string }[] };
  const video = probed.streams[0]!;
  const { stdout: times } = await promisify(execFile)('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', received]);
  const pts = times.split(/\s+/).filter(Boolean).map(Number);
  const fps = (pts.length - 1) / (pts.at(-1)! - pts[0]!);
  // The stream's first half second can lose frames while its pipeline warms up (measured: gaps of 33-67 ms there, none after).
  const steady = pts.filter((time) => time >= pts[0]! + 1);
  const steadyFps = (steady.length - 1) / (steady.at(-1)! - steady[0]!);
  t.diagnostic(`cam_60: ${video.codec_name} ${video.width}x${video.height}, r ${video.r_frame_rate}, ${video.nb_read_frames} frames, ${fps.toFixed(2)} fps by its timestamps, ${steadyFps.toFixed(2)} after the first second`);
  assert.deepEqual([video.codec_name, video.width, video.height], ['h264', 320, 180]);
  assert.equal(video.r_frame_rate, '60/1');
  assert.ok(Math.abs(steadyFps - 60) < 1, `${steadyFps} fps after the first second`);
  assert.ok(fps > 55, `${fps} fps in all`);
  // 8 s of camera; frc starts a little into it, and an RTSP client starts at a keyframe.
  assert.ok(Number(video.nb_read_frames) >= 5 * 60, `${video.nb_read_frames} frames`);
});
