import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ffmpeg, FOOTAGE, runCli, tempDir, videoStream, type CliResult } from '../helpers.js';

const BIRDS = join(FOOTAGE, 'birds_animation_720p30_wp2022.mp4');

/** One clear line on stderr, no stack trace, a failing exit code, and no output file left behind. */
function assertCleanFailure(run: CliResult, pattern: RegExp, output?: string): void {
  assert.notEqual(run.code, 0);
  const lines = run.stderr.trim().split('\n');
  assert.match(lines[0]!, pattern);
  assert.ok(lines.length <= 2, `expected one error line, got:\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace');
  if (output) assert.equal(existsSync(output), false, 'no partial output');
}

test('missing input file', async (t) => {
  const out = join(tempDir(t), 'o.mp4');
  assertCleanFailure(await runCli(['convert', '/nonexistent/clip.mp4', out]), /^frc: error: input not found: \/nonexistent\/clip\.mp4$/, out);
});

test('a directory as input', async (t) => {
  const dir = tempDir(t);
  assertCleanFailure(await runCli(['convert', dir, join(dir, 'o.mp4')]), /input is a directory/);
});

test('zero-length file', async (t) => {
  const dir = tempDir(t);
  const empty = join(dir, 'empty.mp4');
  writeFileSync(empty, '');
  assertCleanFailure(await runCli(['convert', empty, join(dir, 'o.mp4')]), /input file is empty \(0 bytes\)/, join(dir, 'o.mp4'));
});

test('a file with no video stream names what it has', async (t) => {
  const dir = tempDir(t);
  const audio = join(dir, 'tone.m4a');
  ffmpeg('-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'aac', audio);
  assertCleanFailure(await runCli(['convert', audio, join(dir, 'o.mp4')]), /has no video stream \(only audio \(aac\)\)/, join(dir, 'o.mp4'));
});

test('random bytes: the format problem is named', async (t) => {
  const dir = tempDir(t);
  const garbage = join(dir, 'garbage.mp4');
  // Fixed noise (a hash chain), not randomBytes: fresh random bytes now and then sniff as a text
  // subtitle format, which made this test fail about once in a few dozen runs.
  const noise = Buffer.concat(Array.from({ length: 3125 }, (_, i) => createHash('sha256').update(`frc garbage ${i}`).digest()));
  writeFileSync(garbage, noise);
  assertCleanFailure(await runCli(['convert', garbage, join(dir, 'o.mp4')]), /cannot open .*garbage\.mp4: .*Invalid data/, join(dir, 'o.mp4'));
});

test('truncated mp4 (index lost): FFmpeg’s reason is in the one line', async (t) => {
  const dir = tempDir(t);
  const cut = join(dir, 'cut.mp4');
  writeFileSync(cut, readFileSync(BIRDS).subarray(0, 300_000));
  assertCleanFailure(await runCli(['convert', cut, join(dir, 'o.mp4')]), /cannot open .*cut\.mp4: .*moov atom not found/, join(dir, 'o.mp4'));
});

test('truncated mkv (data lost): converts what is there and warns that the file is truncated', async (t) => {
  const dir = tempDir(t);
  const whole = join(dir, 'whole.mkv');
  ffmpeg('-i', BIRDS, '-c', 'copy', whole);
  const cut = join(dir, 'cut.mkv');
  writeFileSync(cut, readFileSync(whole).subarray(0, 300_000));
  const out = join(dir, 'o.mp4');
  const run = await runCli(['convert', cut, out, '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /warning: .*looks truncated or damaged/);
  assert.ok(Number(videoStream(out).nb_read_frames) < 62);
});

test('bit-flipped video data: no crash, damaged packets are reported, frames that decode come out', async (t) => {
  const dir = tempDir(t);
  const clean = join(dir, 'clean.ts');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=2', '-c:v', 'mpeg2video', '-q:v', '4', clean);
  const bytes = readFileSync(clean);
  // Flip bytes in the payload of many TS packets (keep the 4-byte headers and the first PSI packets intact).
  for (let at = 188 * 10; at < bytes.length; at += 188 * 3) for (let k = 20; k < 180; k += 9) bytes[at + k] ^= 0x5a;
  const damaged = join(dir, 'damaged.ts');
  writeFileSync(damaged, bytes);
  const out = join(dir, 'o.mp4');
  const run = await runCli(['convert', damaged, out, '--interp', 'blend'], 120_000);
  assert.doesNotMatch(run.stderr, /^\s+at /m);
  if (run.code === 0) {
    assert.ok(Number(videoStream(out).nb_read_frames) > 0);
  } else {
    assertCleanFailure(run, /^frc: error: /, out);
  }
});

test('odd dimensions are kept exactly (4:4:4 output)', async (t) => {
  const dir = tempDir(t);
  const clip = join(dir, 'odd.mkv');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=1', '-vf', 'scale=321:241', '-c:v', 'ffv1', clip);
  const out = join(dir, 'o.mp4');
  const run = await runCli(['convert', clip, out, '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  const v = videoStream(out);
  assert.deepEqual([v.width, v.height, v.pix_fmt, Number(v.nb_read_frames)], [321, 241, 'yuv444p', 60]);
});

for (const size of ['2x2', '16x8']) {
  test(`tiny ${size} video converts`, async (t) => {
    const dir = tempDir(t);
    const clip = join(dir, 'tiny.mkv');
    ffmpeg('-f', 'lavfi', '-i', `color=c=red:size=${size}:rate=30:duration=1`, '-c:v', 'ffv1', clip);
    const out = join(dir, 'o.mkv');
    const run = await runCli(['convert', clip, out, '--interp', 'blend']);
    assert.equal(run.code, 0, run.stderr);
    const v = videoStream(out);
    assert.equal(`${v.width}x${v.height}`, size);
    assert.equal(Number(v.nb_read_frames), 60);
  });
}

for (const [label, pixFmt] of [
  ['10-bit 4:2:0', 'yuv420p10le'],
  ['RGB', 'gbrp'],
  ['greyscale', 'gray'],
  ['palette', 'pal8'],
] as const) {
  test(`${label} input (${pixFmt}) is converted to 8-bit YUV and upconverted`, async (t) => {
    const dir = tempDir(t);
    const clip = join(dir, `in.${pixFmt === 'pal8' ? 'gif' : 'mkv'}`);
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=1', '-pix_fmt', pixFmt, '-c:v', pixFmt === 'pal8' ? 'gif' : 'ffv1', clip);
    const out = join(dir, 'o.mp4');
    const run = await runCli(['convert', clip, out, '--interp', 'blend']);
    assert.equal(run.code, 0, run.stderr);
    const v = videoStream(out);
    assert.equal(v.width, 320);
    // Limited-range 8-bit YUV, tagged as such (swscale's output), so players show the right levels.
    assert.ok(['yuv420p', 'yuv444p'].includes(v.pix_fmt!), v.pix_fmt);
    assert.equal(Number(v.nb_read_frames), 2 * Number(videoStream(clip).nb_read_frames));
  });
}

test('a resolution change mid-stream: output keeps the first size, nothing is lost, no morph across the change', async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.ts');
  const b = join(dir, 'b.ts');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=1', '-c:v', 'mpeg2video', '-q:v', '2', a);
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=1', '-c:v', 'mpeg2video', '-q:v', '2', '-output_ts_offset', '1', b);
  const joined = join(dir, 'joined.ts');
  writeFileSync(joined, Buffer.concat([readFileSync(a), readFileSync(b)]));
  const out = join(dir, 'o.mp4');
  const run = await runCli(['convert', joined, out, '--interp', 'blend']);
  assert.equal(run.code, 0, run.stderr);
  const frameCount = Number(videoStream(joined).nb_read_frames);
  const v = videoStream(out);
  assert.equal(`${v.width}x${v.height}`, '320x240');
  assert.ok(Math.abs(Number(v.nb_read_frames) - 2 * frameCount) <= 1, `${v.nb_read_frames} frames for ${frameCount} in`);
  assert.match(run.stdout, /repeated/); // the gap at the change is filled by repetition
});

test('bad options and outputs are refused with a reason', async (t) => {
  const dir = tempDir(t);
  assertCleanFailure(await runCli(['convert', BIRDS, join(dir, 'o.xyz')]), /cannot tell the output format/);
  assertCleanFailure(await runCli(['convert', BIRDS, join(dir, 'o.mp4'), '--fps', 'fast']), /not a frame rate/);
  assertCleanFailure(await runCli(['convert', BIRDS, join(dir, 'o.mp4'), '--factor', '1.5']), /--factor must be a whole number/);
  assertCleanFailure(await runCli(['convert', BIRDS, join(dir, 'o.mp4'), '--interp', 'magic']), /--interp must be one of model, blend, dup/);
  assertCleanFailure(await runCli(['convert', BIRDS, join(dir, 'o.mp4'), '--model', join(dir, 'none.onnx')]), /model file not found/, join(dir, 'o.mp4'));
  const aFile = join(dir, 'a-file');
  writeFileSync(aFile, 'x');
  assertCleanFailure(await runCli(['convert', BIRDS, join(aFile, 'o.mp4'), '--interp', 'blend']), /cannot write .*a-file\/o\.mp4/);
});
