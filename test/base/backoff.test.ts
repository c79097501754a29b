import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/base/backoff.js';

test('backoff doubles from 1 s to 30 s and stays there', () => {
  const backoff = new Backoff();
  const waits = Array.from({ length: 8 }, (_, i) => backoff.failed(i * 100));
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('backoff starts over after a minute up, not after a short one', () => {
  const backoff = new Backoff();
  for (let i = 0; i < 4; i++) backoff.failed(0);
  backoff.connected(1000);
  assert.equal(backoff.failed(30_000), 16000, 'up half a minute: still doubling');
  backoff.connected(100_000);
  assert.equal(backoff.failed(160_000), 1000, 'up a minute: back to the first wait');
  assert.equal(backoff.failed(161_000), 2000);
});
