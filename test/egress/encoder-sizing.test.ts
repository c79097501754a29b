import '../../src/base/polyfills.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { choosePreset, measurePresetCosts, type PresetCosts } from '../../src/egress/encoder-sizing.js';

// ms of CPU per megapixel, about what a 2-core EPYC measures.
const COSTS: PresetCosts = new Map([
  ['ultrafast', 3],
  ['superfast', 5],
  ['veryfast', 7],
]);
const P720_60 = 1280 * 720 * 60; // 55.3 Mpx/s: veryfast needs 0.39 cores, superfast 0.28, ultrafast 0.17

test('auto takes veryfast when a third of the idle cores holds it', () => {
  const choice = choosePreset(COSTS, P720_60, 2);
  assert.equal(choice.preset, 'veryfast');
  assert.match(choice.reason, /^fits: 0\.39 cores of the 0\.67 allowed \(33 % of 2\.00 idle\)$/);
});

test('auto steps down to the slowest preset that fits as the machine gets busy', () => {
  assert.equal(choosePreset(COSTS, P720_60, 1).preset, 'superfast');
  assert.equal(choosePreset(COSTS, P720_60, 0.6).preset, 'ultrafast');
  // Smaller output: veryfast fits again on the same load.
  assert.equal(choosePreset(COSTS, 640 * 360 * 60, 0.6).preset, 'veryfast');
});

test('when even ultrafast does not fit, auto takes it and says so', () => {
  const choice = choosePreset(COSTS, P720_60, 0.1);
  assert.equal(choice.preset, 'ultrafast');
  assert.match(choice.reason, /^the fastest; does not fit: 0\.17 cores/);
});

test('the presets measured on this machine cost more the slower they are', async () => {
  const costs = await measurePresetCosts();
  const ultrafast = costs.get('ultrafast')!;
  const veryfast = costs.get('veryfast')!;
  assert.ok(ultrafast > 0 && Number.isFinite(veryfast), `costs: ${[...costs].join('; ')}`);
  // Measured apart by 2-3x (bench/synthesis's encode column); a margin for a noisy machine.
  assert.ok(veryfast > 1.3 * ultrafast, `veryfast ${veryfast.toFixed(2)} vs ultrafast ${ultrafast.toFixed(2)} ms per megapixel`);
});
