import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { probe, runCli, tempDir, videoStream } from './helpers.js';

test('frc demo upconverts the built-in test source with its audio', async (t) => {
  const out = join(tempDir(t), 'demo.mp4');
  const run = await runCli(['demo', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /180 frames in, 360 out/);
  assert.match(run.stdout, /; inference on cpu\n$/, 'the summary ends with the provider the models ran on');
  const v = videoStream(out);
  assert.equal(v.r_frame_rate, '60/1');
  assert.equal(Number(v.nb_read_frames), 360);
  const audio = probe(out).streams.find((s) => s.codec_type === 'audio');
  assert.equal(audio?.codec_name, 'aac'); // the synthetic PCM tone is re-encoded for mp4
  assert.ok(Math.abs(Number(audio!.duration) - 6) < 0.1);
});

test('--help prints usage; an unknown command is a usage error', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /frc convert <input> <output>/);
  const bad = await runCli(['upscale']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command "upscale"/);
  const provider = await runCli(['eval', '.', '--provider', 'tpu']);
  assert.equal(provider.code, 2);
  assert.match(provider.stderr, /--provider must be one of auto, cpu, webgpu, cuda, tensorrt, got "tpu"/);
});
