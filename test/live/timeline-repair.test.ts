import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimelineRepair } from '../../src/live/timeline-repair.js';

const ms = { num: 1, den: 1000 };

test('steady timestamps pass unchanged', () => {
  const repair = new TimelineRepair(ms);
  assert.deepEqual([0n, 33n, 67n, 100n].map((pts) => repair.repair(pts)), [0n, 33n, 67n, 100n].map((pts) => ({ pts, jumped: false })));
  assert.equal(repair.jumps, 0);
});

test('a reset to zero continues one interval after the last frame, and later frames keep the offset', () => {
  const repair = new TimelineRepair(ms);
  for (const pts of [0n, 33n, 66n, 99n]) repair.repair(pts);
  assert.deepEqual(repair.repair(0n), { pts: 132n, jumped: true });
  assert.deepEqual(repair.repair(33n), { pts: 165n, jumped: false });
  assert.equal(repair.jumps, 1);
});

test('a jump far ahead is folded away; a short gap (a few lost frames) is kept', () => {
  const repair = new TimelineRepair(ms, 10);
  repair.repair(0n);
  repair.repair(33n);
  assert.deepEqual(repair.repair(2033n), { pts: 2033n, jumped: false }, 'two seconds of silence is a real gap');
  assert.deepEqual(repair.repair(62_033n), { pts: 4033n, jumped: true });
  assert.deepEqual(repair.repair(62_066n), { pts: 4066n, jumped: false });
});

test('a repeated timestamp is moved forward', () => {
  const repair = new TimelineRepair(ms);
  repair.repair(0n);
  repair.repair(40n);
  assert.deepEqual(repair.repair(40n), { pts: 80n, jumped: true });
});

test('timestamps that are no clock (all 0) go to the arrival clock after three bad steps, on the announced rate', () => {
  const repair = new TimelineRepair(ms, 10, { num: 30, den: 1 });
  const out = [0, 1, 2, 3, 4, 5, 6].map((i) => repair.repair(0n, 1000 + i * 33.4).pts);
  assert.equal(repair.clock, 'arrival');
  // Folded one (rounded-up) frame apart until the third bad step, then frame ticks from that frame's arrival.
  assert.deepEqual(out, [0n, 34n, 68n, 102n, 135n, 169n, 202n]);
  // A burst (two frames at once) still moves one tick; a pause is kept.
  assert.equal(repair.repair(0n, 1000 + 6 * 33.4).pts, 235n);
  assert.equal(repair.repair(0n, 1000 + 6 * 33.4 + 1000).pts, 102n + 1100n, '33 ticks after the anchor');
  assert.equal(repair.ptsAt(1000 + 3 * 33.4 + 500), 602n);
});

test('a few resets, far apart, keep the publisher clock; timestamps far ahead of their arrival count as bad steps', () => {
  const repair = new TimelineRepair(ms);
  for (let i = 0; i < 100; i++) repair.repair(BigInt((i % 40) * 33), i * 33);
  assert.equal(repair.jumps, 2);
  assert.equal(repair.clock, 'source');
  const ahead = new TimelineRepair(ms);
  for (let i = 0; i < 4; i++) ahead.repair(BigInt(i * 5000), i * 33);
  assert.equal(ahead.jumps, 0, 'steps of 5 s are within maxStepSeconds');
  assert.equal(ahead.clock, 'arrival', 'but 5 s of timestamps every 33 ms is no clock');
});
