import assert from 'node:assert/strict';
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ffmpeg, FOOTAGE, grayFrames, meanAbsDiff, probe, runCli, streamMd5, tempDir, videoStream } from '../helpers.js';
import { padSensitiveModel } from '../engine/test-models.js';

const BIRDS = join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4'); // 30 fps, AAC audio, 31 frames

function seconds(rate: string): number {
  const [n, d] = rate.split('/').map(Number);
  return n! / d!;
}

test('30 fps clip with audio → 60 fps: 2N frames, same duration, audio copied bit for bit, real in-between frames', async (t) => {
  const out = join(tempDir(t), 'birds60.mp4');
  const run = await runCli(['convert', BIRDS, out, '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /31 frames in, 62 out \(30 interpolated by blend, 0 fallbacks/);

  const input = videoStream(BIRDS);
  const output = videoStream(out);
  const n = Number(input.nb_read_frames);
  const m = Number(output.nb_read_frames);
  assert.ok(m === 2 * n || m === 2 * n - 1, `${m} output frames for ${n} input frames`);
  assert.equal(output.r_frame_rate, '60/1');
  assert.equal(output.avg_frame_rate, '60/1');
  assert.ok(Math.abs(Number(output.duration) - Number(input.duration)) <= 1 / seconds(input.r_frame_rate!), `duration ${output.duration} vs ${input.duration}`);
  assert.equal(output.width, 1280);
  assert.equal(output.height, 720);

  assert.equal(probe(out).streams.filter((s) => s.codec_type === 'audio').length, 1);
  assert.equal(streamMd5(out, '0:a'), streamMd5(BIRDS, '0:a'), 'audio must be copied untouched');

  // Where the picture moves, an in-between frame differs from both neighbours.
  const frames = grayFrames(out, 1280, 720);
  let checked = 0;
  for (let i = 1; i + 1 < frames.length; i += 2) {
    const motion = meanAbsDiff(frames[i - 1]!, frames[i + 1]!);
    if (motion < 1) continue;
    checked++;
    const toPrev = meanAbsDiff(frames[i]!, frames[i - 1]!);
    const toNext = meanAbsDiff(frames[i]!, frames[i + 1]!);
    assert.ok(toPrev > 0.2 * motion && toNext > 0.2 * motion, `frame ${i}: diff to neighbours ${toPrev.toFixed(2)}/${toNext.toFixed(2)}, motion ${motion.toFixed(2)}`);
  }
  assert.ok(checked >= 10, `only ${checked} moving gaps found`);
});

test('--interp dup repeats frames (the in-between frame equals the earlier neighbour)', async (t) => {
  const out = join(tempDir(t), 'dup.mp4');
  const run = await runCli(['convert', BIRDS, out, '--interp', 'dup']);
  assert.equal(run.code, 0, run.stderr);
  const frames = grayFrames(out, 1280, 720);
  assert.equal(frames.length, 62);
  // After lossy encoding a repeated frame is near-identical to its source, unlike a blended one.
  const d = meanAbsDiff(frames[11]!, frames[10]!);
  assert.ok(d < 0.5, `dup frame differs by ${d}`);
  assert.ok(meanAbsDiff(frames[12]!, frames[10]!) > 1, 'the clip moves there, so the check above means something');
});

test('--fps 60 from a 24 fps clip: fixed 60 fps grid, duration kept, audio kept', async (t) => {
  const dir = tempDir(t);
  const clip = join(dir, 'bbb24.mkv');
  ffmpeg('-i', join(FOOTAGE, 'bigbuckbunny_0-30s_720p24_moviepy.webm'), '-t', '2', '-vf', 'scale=426:240', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'copy', clip);
  const out = join(dir, 'bbb60.mkv');
  const run = await runCli(['convert', clip, out, '--fps', '60', '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  const input = videoStream(clip);
  const output = videoStream(out);
  assert.equal(output.r_frame_rate, '60/1');
  const expected = Number(input.nb_read_frames) * 2.5; // 2 s at 24 → 60
  assert.ok(Math.abs(Number(output.nb_read_frames) - expected) <= 1, `${output.nb_read_frames} frames, expected ${expected}`);
  assert.equal(probe(out).streams.find((s) => s.codec_type === 'audio')?.codec_name, 'vorbis');
});

test('--factor 3 triples the frame count; a webm input with Vorbis audio is re-encoded to AAC for mp4', async (t) => {
  const dir = tempDir(t);
  const clip = join(dir, 'small.webm');
  ffmpeg('-i', join(FOOTAGE, 'bigbuckbunny_0-30s_720p24_moviepy.webm'), '-t', '1', '-vf', 'scale=320:180', '-c:v', 'libvpx', '-deadline', 'realtime', '-c:a', 'copy', clip);
  const out = join(dir, 'x3.mp4');
  const run = await runCli(['convert', clip, out, '--factor', '3', '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /audio encode/);
  const n = Number(videoStream(clip).nb_read_frames);
  assert.equal(Number(videoStream(out).nb_read_frames), 3 * n);
  assert.equal(probe(out).streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
});

test('an ONNX model given by path is used through the engine (padding included)', async (t) => {
  const dir = tempDir(t);
  const model = join(dir, 'pad32.onnx');
  writeFileSync(model, padSensitiveModel());
  const clip = join(dir, 'odd.mkv');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=200x150:rate=30:duration=1', '-vf', 'scale=201:151', '-c:v', 'ffv1', clip);
  const out = join(dir, 'model.mkv');
  const run = await runCli(['convert', clip, out, '--model', model]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /30 frames in, 60 out \(29 interpolated by pad32, 0 fallbacks/);
  const output = videoStream(out);
  assert.equal(output.width, 201);
  assert.equal(output.height, 151);
});

function frameTimes(file: string): number[] {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((l) => Number(l.split(',')[0]));
}

test('variable-frame-rate input keeps its timing: originals stay put, each in-between frame sits halfway', async (t) => {
  const dir = tempDir(t);
  const vfr = join(dir, 'vfr.mkv');
  // Frames kept at irregular multiples of 10 ms (every 3rd and every 7th of a 100 fps source).
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=100:duration=1', '-vf', "select='not(mod(n\\,3))+not(mod(n\\,7))'", '-fps_mode', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', vfr);
  const out = join(dir, 'out.mkv');
  const run = await runCli(['convert', vfr, out, '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  const input = frameTimes(vfr);
  const output = frameTimes(out);
  assert.ok(new Set(input.slice(1).map((x, i) => Math.round((x - input[i]!) * 1000))).size > 1, 'the fixture really is VFR');
  for (let i = 0; i + 1 < input.length; i++) {
    assert.ok(Math.abs(output[2 * i]! - input[i]!) < 0.0015, `original ${i} moved: ${output[2 * i]} vs ${input[i]}`);
    assert.ok(Math.abs(output[2 * i + 1]! - (input[i]! + input[i + 1]!) / 2) < 0.0015, `in-between ${i} not halfway`);
  }
});

test('a URL input (HTTP on 127.0.0.1) converts like a file', async (t) => {
  const size = statSync(BIRDS).size;
  const server = createServer((req, res) => {
    // FFmpeg's HTTP reader seeks with Range requests to find the mp4 index.
    const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Number(range[2]) : size - 1;
    res.writeHead(range ? 206 : 200, {
      'content-type': 'video/mp4',
      'accept-ranges': 'bytes',
      'content-length': end - start + 1,
      ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    createReadStream(BIRDS, { start, end }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/birds.mp4`;
  const out = join(tempDir(t), 'from-url.mp4');
  const run = await runCli(['convert', url, out, '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(Number(videoStream(out).nb_read_frames), 62);
});
