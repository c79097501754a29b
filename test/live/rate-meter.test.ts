import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateMeter } from '../../src/live/rate-meter.js';

test('a steady 30 fps stream reads 30, measured over the last window only', () => {
  const meter = new RateMeter(3000);
  for (let i = 0; i <= 300; i++) meter.tick(i * (1000 / 30));
  assert.equal(Math.round(meter.rate(10_000)), 30);
  // Then it doubles: after a full window only the new rate is left.
  for (let i = 1; i <= 240; i++) meter.tick(10_000 + i * (1000 / 60));
  assert.equal(Math.round(meter.rate(14_000)), 60);
});

test('a young stream is measured over its own life, a stalled one reads 0', () => {
  const meter = new RateMeter(3000);
  assert.equal(meter.rate(0), 0);
  meter.tick(0);
  assert.equal(meter.rate(10), 0, 'one event has no rate');
  for (let i = 1; i <= 10; i++) meter.tick(i * 50);
  assert.equal(meter.rate(500), 20);
  assert.equal(meter.rate(3600), 0, 'nothing in the last window');
});
