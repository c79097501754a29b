import assert from 'node:assert/strict';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FrameMetrics, PSNR_CAP } from '../../src/eval/metrics.js';
import { EVAL, ffmpeg, runCli, tempDir } from '../helpers.js';

// Published baselines for ../shared/data/eval (see its README), mean PSNR in dB.
const BLEND_BASELINE = { middlebury_other: 28.02, ucf101: 30.53, davis: 21.09 };
const DUP_BASELINE = { middlebury_other: 24.75 };

test('frc eval --interp blend reproduces the published blend baselines within 0.05 dB', async () => {
  const run = await runCli(['eval', EVAL, '--interp', 'blend', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.interp, 'blend');
  assert.deepEqual(Object.keys(report.sets).sort(), ['davis', 'middlebury_other', 'ucf101', 'vimeo90k']);
  assert.equal(report.sets.middlebury_other.n, 12);
  for (const [set, psnr] of Object.entries(BLEND_BASELINE)) {
    assert.ok(Math.abs(report.sets[set].psnr - psnr) <= 0.05, `${set}: ${report.sets[set].psnr} vs ${psnr}`);
    assert.ok(report.sets[set].ssim > 0.5 && report.sets[set].ssim < 1, `${set} SSIM ${report.sets[set].ssim}`);
  }
});

test('frc eval --interp dup on one set reproduces the frame-0 baseline, as a table', async () => {
  const run = await runCli(['eval', join(EVAL, 'middlebury_other'), '--interp', 'dup']);
  assert.equal(run.code, 0, run.stderr);
  const row = run.stdout.split('\n').find((l) => l.startsWith('middlebury_other'));
  assert.ok(row, run.stdout);
  const psnr = Number(row!.trim().split(/\s+/)[2]);
  assert.ok(Math.abs(psnr - DUP_BASELINE.middlebury_other) <= 0.05, `dup PSNR ${psnr}`);
});

test('identical images score PSNR cap and SSIM 1; a worse prediction scores lower', async () => {
  const metrics = await FrameMetrics.create();
  const w = 32;
  const h = 24;
  const truth = { width: w, height: h, paddedWidth: w, paddedHeight: h, data: new Float32Array(3 * w * h).map((_, i) => ((i * 37) % 250) / 255) };
  const same = await metrics.score(truth, truth);
  assert.equal(same.psnr, PSNR_CAP);
  assert.ok(Math.abs(same.ssim - 1) < 1e-6);
  // Uniform error of 4/255 on every sample: MSE 16, PSNR = 10·log10(255²/16).
  const off = { ...truth, data: truth.data.map((v) => v + 4 / 255) };
  const offScore = await metrics.score(off, truth);
  assert.ok(Math.abs(offScore.psnr - 10 * Math.log10((255 * 255) / 16)) < 1e-3, `PSNR ${offScore.psnr}`);
  assert.ok(offScore.ssim < 1);
  await metrics[Symbol.asyncDispose]();
});

test('eval refuses a folder without triplets', async (t) => {
  const dir = tempDir(t);
  cpSync(join(EVAL, 'vimeo90k'), join(dir, 'set'), { recursive: true, filter: (src) => !src.endsWith('gt.png') });
  const run = await runCli(['eval', dir, '--interp', 'blend']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /no triplets/);
});

test('frc eval --semantic: a triplet across a scene cut gets the earlier frame, as the engine shows it; real triplets are not taken for cuts', async (t) => {
  const dir = join(tempDir(t), 'cuts');
  const png = (input: string, output: string) => ffmpeg('-i', input, '-vf', 'scale=320:240', join(dir, output));
  const [a, b] = [join(EVAL, 'middlebury_other', 'Beanbags'), join(EVAL, 'davis', 'boxing')];
  mkdirSync(join(dir, 'still'), { recursive: true });
  mkdirSync(join(dir, 'cut'), { recursive: true });
  for (const f of ['frame0.png', 'gt.png', 'frame1.png']) png(join(a, f), join('still', f));
  png(join(a, 'frame0.png'), 'cut/frame0.png');
  png(join(a, 'frame0.png'), 'cut/gt.png');
  png(join(b, 'frame1.png'), 'cut/frame1.png');
  const run = await runCli(['eval', dir, '--interp', 'blend', '--semantic', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const set = JSON.parse(run.stdout).sets.cuts;
  assert.equal(set.sceneCuts, 1);
  // The cut sample scores the PSNR cap (its middle is frame 0, its truth too); the still one a blend's.
  const plain = JSON.parse((await runCli(['eval', dir, '--interp', 'blend', '--json'])).stdout).sets.cuts;
  assert.equal(plain.sceneCuts, undefined);
  assert.ok(set.psnr > plain.psnr + 20, `${set.psnr} with, ${plain.psnr} without`);

  const real = await runCli(['eval', EVAL, '--interp', 'blend', '--semantic', '--json']);
  for (const s of Object.values(JSON.parse(real.stdout).sets) as { sceneCuts: number }[]) assert.equal(s.sceneCuts, 0);
});

test('frc eval --rung scores a rung of the model\'s ladder: the reused field from prev.png…prevN.png; a missing prev.png or an unknown rung is a clear error', async (t) => {
  const dir = tempDir(t);
  // Urban2 panning 4 px per input frame (2 px per output frame): prev2, prev, frame0, gt, frame1.
  const sample = join(dir, 'pan', 'urban2');
  mkdirSync(sample, { recursive: true });
  const shots = ['prev2', 'prev', 'frame0', 'gt', 'frame1'];
  shots.forEach((name, i) => ffmpeg('-i', join(EVAL, 'middlebury_other/Urban2/frame0.png'), '-vf', `scale=336:240,crop=320:240:${2 * (shots.length - 1 - i)}:0`, join(sample, `${name}.png`)));
  const score = async (...args: string[]) => {
    const run = await runCli(['eval', dir, ...args, '--json']);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as { interp: string; sets: { pan: { psnr: number } } };
  };
  const [reuse, blend] = [await score('--model', 'fast', '--rung', 'reuse'), await score('--interp', 'blend')];
  assert.equal(reuse.interp, 'frc-ifnet-fast/reuse');
  assert.ok(reuse.sets.pan.psnr > blend.sets.pan.psnr + 3, JSON.stringify([reuse, blend]));
  const unknown = await runCli(['eval', dir, '--model', 'fast', '--rung', 'tiny']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /frc-ifnet-fast has no rung "tiny" \(its rungs: frc-ifnet-fast\/2-parts, frc-ifnet-fast\/reuse\)/);
  const lone = join(tempDir(t), 'set', 'urban2');
  mkdirSync(lone, { recursive: true });
  for (const name of ['frame0', 'gt', 'frame1']) cpSync(join(sample, `${name}.png`), join(lone, `${name}.png`));
  const missing = await runCli(['eval', join(lone, '..', '..'), '--model', 'fast', '--rung', 'reuse']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /frc-ifnet-fast\/reuse needs prev\.png beside frame0\.png/);
  // The network's first parts need no gap before.
  const parts = await score('--model', 'fast', '--rung', '2-parts');
  assert.equal(parts.interp, 'frc-ifnet-fast/2-parts');
  assert.ok(parts.sets.pan.psnr > blend.sets.pan.psnr + 3, JSON.stringify([parts, blend]));
  const partsAlone = await runCli(['eval', join(lone, '..', '..'), '--model', 'fast', '--rung', '2-parts']);
  assert.equal(partsAlone.code, 0, partsAlone.stderr);
});
