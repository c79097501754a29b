import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dot, SceneCutDetector } from '../../../src/engine/semantic/scene-cut.js';

const unit = (...v: number[]) => {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
};

test('a cut is reported for the gap whose two frames have features less similar than the threshold', () => {
  const detector = new SceneCutDetector(0.5);
  assert.deepEqual(detector.processFeatures(unit(1, 0, 0)), { cut: false });
  const same = detector.processFeatures(unit(1, 0.1, 0));
  assert.equal(same.cut, false);
  assert.ok(same.similarity! > 0.99);
  const cut = detector.processFeatures(unit(0, 0, 1));
  assert.equal(cut.cut, true);
  assert.ok(Math.abs(cut.similarity! - 0) < 1e-6);
  // The next gap compares with the new scene, not the old one.
  assert.equal(detector.processFeatures(unit(0, 0.2, 1)).cut, false);
  detector.reset();
  assert.deepEqual(detector.processFeatures(unit(1, 0, 0)), { cut: false });
});

test('dot refuses features of different sizes (a model swapped mid-stream would be a bug)', () => {
  assert.throws(() => dot(new Float32Array(3), new Float32Array(4)), /3 vs 4/);
});
