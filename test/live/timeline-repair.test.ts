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
