import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/engine/model/load-model.js';
import { repoPath } from '../../src/base/paths.js';
import { ffmpeg, runCli, tempDir } from '../helpers.js';
import { publish, startServer, until } from '../live-helpers.js';
import { withNanWeights } from '../engine/test-models.js';
import { testSignal } from './reliability-helpers.js';

/** The shipped `fast` with NaN weights (a valid graph that computes nothing), as one file with its card; returns its path. */
function nanFast(dir: string): string {
  const { bytes, changed } = withNanWeights(readFileSync(repoPath('models/fast.onnx')));
  assert.ok(changed >= 10, `${changed} weight tensors set to NaN`);
  const path = join(dir, 'nan-fast.onnx');
  writeFileSync(path, bytes);
  const card = JSON.parse(readFileSync(repoPath('models/fast.json'), 'utf8')) as Record<string, unknown>;
  delete card.stages; // the single graph, not the shipped parts
  writeFileSync(join(dir, 'nan-fast.json'), JSON.stringify({ ...card, name: 'nan-fast' }));
  return path;
}

const REFUSED = /model "nan-fast" is refused: .* are NaN or infinite/;

test('a model that outputs NaN is refused at load with the reason, by loadModel and frc convert', async (t) => {
  const dir = tempDir(t);
  const model = nanFast(dir);
  await assert.rejects(loadModel(model), REFUSED);
  const input = join(dir, 'in.mkv');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=1', '-c:v', 'ffv1', input);
  const run = await runCli(['convert', input, join(dir, 'out.mp4'), '--model', model], 120_000);
  t.diagnostic(`frc convert: exit ${run.code}: ${run.stderr.trim()}`);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, REFUSED);
  assert.equal(run.stderr.trim().split('\n').length, 1, 'one line');
});

test('serve with a model that outputs NaN: /readyz is 503 with the reason, and a publisher is told why its stream failed', async (t) => {
  const dir = tempDir(t);
  const { http, rtmp, streams, server } = await startServer(t, { kind: 'model', modelPath: nanFast(dir) });
  await server.engineChecked();
  const ready = await fetch(`${http}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(((await ready.json()) as { reason: string }).reason, REFUSED);
  const publisher = publish(rtmp('cam'), testSignal(5));
  t.after(() => publisher.child.kill('SIGKILL'));
  const failed = await until('cam to fail', 20_000, async () => (await streams()).find((s) => s.key === 'cam' && (s.state === 'failed' || s.state === 'ended')));
  t.diagnostic(`cam: ${failed.state}: ${failed.error}`);
  assert.equal(failed.state, 'failed');
  assert.match(failed.error ?? '', REFUSED);
});
