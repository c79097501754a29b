import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateGrid } from '../../src/live/rate-grid.js';

test('millisecond FLV stamps of a 30 fps stream land on consecutive 1/30 s ticks', () => {
  const grid = new RateGrid({ num: 1, den: 1000 }, { num: 30, den: 1 });
  assert.deepEqual(grid.timeBase, { num: 1, den: 30 });
  const stamps = [0, 33, 67, 100, 133, 167, 200, 233, 267, 300].map(BigInt);
  assert.deepEqual(stamps.map((p) => grid.snap(p)), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  // An hour in, still exact (no accumulated drift).
  assert.equal(grid.snap(3_600_000n + 33n), 108_001n);
});

test('NTSC rates, dropped frames and negative stamps', () => {
  const ntsc = new RateGrid({ num: 1, den: 1000 }, { num: 30000, den: 1001 });
  assert.deepEqual(ntsc.timeBase, { num: 1001, den: 30000 });
  assert.deepEqual([0n, 33n, 67n, 100n, 133n].map((p) => ntsc.snap(p)), [0n, 1n, 2n, 3n, 4n]);
  const grid = new RateGrid({ num: 1, den: 1000 }, { num: 30, den: 1 });
  assert.equal(grid.snap(133n) - grid.snap(67n), 2n, 'a dropped frame leaves a two-tick gap');
  assert.equal(grid.snap(-33n), -1n);
  assert.equal(grid.snap(-16n), 0n);
  assert.equal(new RateGrid({ num: 1, den: 1000 }, { num: 500, den: 1 }).snap(-1n), 0n, 'half a tick rounds up');
});

test('restamping puts a frame on the grid in its time base and leaves its duration to the engine', () => {
  const grid = new RateGrid({ num: 1, den: 1000 }, { num: 30, den: 1 });
  const frame = { pts: 167n, duration: 33n, timeBase: { num: 1, den: 1000 } };
  grid.restamp(frame);
  assert.deepEqual(frame, { pts: 5n, duration: 0n, timeBase: { num: 1, den: 30 } });
  const unstamped = { pts: -0x8000000000000000n, duration: 33n, timeBase: { num: 1, den: 1000 } };
  grid.restamp(unstamped);
  assert.deepEqual(unstamped, { pts: -0x8000000000000000n, duration: 33n, timeBase: { num: 1, den: 1000 } }, 'no pts: left alone');
});
