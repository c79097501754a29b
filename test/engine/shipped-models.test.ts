import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL_PATH, resolveKind, resolveModelPath } from '../../src/engine/model/model-choice.js';
import { createFastFallback } from '../../src/engine/synthesis/create-synthesizer.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { EVAL } from '../helpers.js';

// Middlebury "other", the standard 12-triplet set (never used for training or model selection).
const SET = join(EVAL, 'middlebury_other');
// The trained models must beat blend by this much on it: a real gain, not a rounding one.
const MIN_GAIN_DB = 0.5;

function meanPsnr(report: Awaited<ReturnType<typeof evaluate>>): number {
  const sets = Object.values(report.sets);
  return sets.reduce((s, x) => s + x.psnr * x.n, 0) / sets.reduce((s, x) => s + x.n, 0);
}

test('a shipped model is found by its bare name; the default is models/fast.onnx (blend where it is missing)', () => {
  assert.equal(resolveModelPath('quality'), DEFAULT_MODEL_PATH.replace(/fast\.onnx$/, 'quality.onnx'));
  assert.equal(resolveModelPath('./quality'), './quality', 'a path is left alone');
  assert.equal(resolveKind({}), existsSync(DEFAULT_MODEL_PATH) ? 'model' : 'blend');
});

test('live fallback: fast stands behind quality and a model by path, not behind fast itself or blend', async () => {
  for (const choice of [{}, { modelPath: 'fast' }, { modelPath: DEFAULT_MODEL_PATH }, { kind: 'blend' as const }]) {
    assert.equal(await createFastFallback(choice), undefined, JSON.stringify(choice));
  }
  for (const modelPath of ['quality', join(EVAL, '..', 'some-rife.onnx')]) {
    const fallback = await createFastFallback({ kind: 'model', modelPath });
    assert.equal(fallback?.name, 'frc-ifnet-fast', modelPath);
    await fallback?.close();
  }
});

for (const name of ['fast', 'quality']) {
  test(`shipped model "${name}" loads through the engine and beats blend by ≥ ${MIN_GAIN_DB} dB on Middlebury`, async () => {
    const path = resolveModelPath(name);
    assert.ok(existsSync(path), `models/${name}.onnx is missing`);
    const card = JSON.parse(readFileSync(path.replace(/\.onnx$/, '.json'), 'utf8'));
    assert.ok(card.params > 0 && card.training?.steps > 0, 'the card names parameters and training steps');
    const dir = SET;
    const blend = meanPsnr(await evaluate(dir, { kind: 'blend' }));
    const model = meanPsnr(await evaluate(dir, { kind: 'model', modelPath: name }));
    console.log(`# ${name}: ${model.toFixed(2)} dB vs blend ${blend.toFixed(2)} dB on Middlebury`);
    assert.ok(model >= blend + MIN_GAIN_DB, `${name}: ${model.toFixed(2)} dB vs blend ${blend.toFixed(2)} dB`);
  });
}
