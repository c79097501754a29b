import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRate, SlotPlanner, type Slot } from '../../../src/engine/timing/slot-planner.js';

/** Feeds frames at the given pts and returns every slot, plus the tail of the last frame. */
function plan(planner: SlotPlanner, pts: bigint[], lastDuration: bigint): Slot[] {
  const slots: Slot[] = [];
  for (const p of pts) slots.push(...(planner.push(p) ?? []));
  slots.push(...planner.finish(lastDuration));
  return slots;
}

const seconds = (slot: Slot, tb: { num: number; den: number }) => (Number(slot.pts) * tb.num) / tb.den;

test('2x: each output frame sits exactly halfway between its neighbours', () => {
  const planner = new SlotPlanner({ num: 1, den: 90000 }, { factor: 2 });
  const slots = plan(planner, [0n, 3000n, 6000n, 9000n], 3000n);
  assert.equal(slots.length, 8); // 2N with the last frame's tail
  assert.deepEqual(
    slots.map((s) => s.t),
    [0, 0.5, 0, 0.5, 0, 0.5, 0, 0],
  );
  const tb = planner.outputTimeBase;
  const times = slots.map((s) => seconds(s, tb));
  for (let i = 1; i < times.length - 1; i++) assert.ok(Math.abs(times[i]! - (times[i - 1]! + times[i + 1]!) / 2) < 1e-12, `slot ${i} not halfway`);
  assert.ok(Math.abs(times[1]! - 1 / 60) < 1e-12);
});

test('--factor 3 splits each gap in thirds', () => {
  const planner = new SlotPlanner({ num: 1, den: 30 }, { factor: 3 });
  const slots = plan(planner, [0n, 1n, 2n], 1n);
  assert.deepEqual(
    slots.map((s) => Number(s.pts)),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.deepEqual(
    slots.slice(0, 3).map((s) => s.t),
    [0, 1 / 3, 2 / 3],
  );
});

for (const [rate, tb] of [
  ['24', { num: 1, den: 24 }],
  ['25', { num: 1, den: 25 }],
  ['30', { num: 1, den: 30 }],
  ['30000/1001', { num: 1001, den: 30000 }],
] as const) {
  test(`--fps 60 from ${rate} fps: one hour of input gives exactly one hour of 60 fps output, no drift`, () => {
    const planner = new SlotPlanner(tb, { fps: parseRate('60') });
    const inputFps = tb.den / tb.num;
    const frames = Math.round(3600 * inputFps);
    let count = 0;
    let last: Slot | undefined;
    for (let i = 0; i < frames; i++) {
      const slots = planner.push(BigInt(i)) ?? [];
      for (const s of slots) {
        assert.ok(s.t >= 0 && s.t < 1);
        assert.equal(s.pts, BigInt(count), 'slots are consecutive on the 60 fps grid');
        count++;
        last = s;
      }
    }
    count += planner.finish(1n).length;
    // The input covers frames·(1/inputFps) seconds, so the 60 fps grid holds exactly that many slots.
    assert.equal(count, Math.ceil((frames / inputFps) * 60 - 1e-9));
    // The last interpolated slot's timestep matches its exact position between input frames.
    const slotTime = Number(last!.pts) / 60;
    const frameTime = (Number(slotTime * inputFps) | 0) / inputFps;
    assert.ok(Math.abs(last!.t - (slotTime - frameTime) * inputFps) < 1e-6);
  });
}

test('--fps 60 from 24: the 2.5x cadence picks timesteps 0, 0.4, 0.8, 0.2, 0.6; the last frame is held', () => {
  const planner = new SlotPlanner({ num: 1, den: 24 }, { fps: { num: 60, den: 1 } });
  const slots = plan(planner, [0n, 1n, 2n, 3n], 1n);
  const ts = slots.map((s) => Math.round(s.t * 10) / 10);
  // 4 frames of 1/24 s = 10 slots of 1/60 s; the two in the last frame's own time repeat it.
  assert.deepEqual(ts, [0, 0.4, 0.8, 0.2, 0.6, 0, 0.4, 0.8, 0, 0]);
});

test('variable frame rate keeps its timing: each gap is cut by its own length', () => {
  const planner = new SlotPlanner({ num: 1, den: 1000 }, { factor: 2 });
  const slots = plan(planner, [0n, 40n, 140n, 160n], 20n);
  assert.deepEqual(
    slots.map((s) => Number(s.pts) / 2), // back to milliseconds
    [0, 20, 40, 90, 140, 150, 160, 170],
  );
});

test('a single frame of unknown duration still gets one slot', () => {
  const factor = new SlotPlanner({ num: 1, den: 25 }, { factor: 2 });
  factor.push(7n);
  assert.deepEqual(factor.finish(0n), [{ pts: 14n, duration: 1n, t: 0 }]);
  const grid = new SlotPlanner({ num: 1, den: 1000 }, { fps: { num: 60, den: 1 } });
  grid.push(0n);
  assert.equal(grid.finish(0n).length, 1);
});

test('a frame whose timestamp does not move forward is refused', () => {
  const planner = new SlotPlanner({ num: 1, den: 30 }, { factor: 2 });
  assert.deepEqual(planner.push(5n), []);
  assert.equal(planner.push(5n), null);
  assert.equal(planner.push(3n), null);
  assert.equal(planner.push(6n)?.length, 2);
});

test('parseRate understands integers, decimals and NTSC fractions', () => {
  assert.deepEqual(parseRate('60'), { num: 60, den: 1 });
  assert.deepEqual(parseRate('59.94'), { num: 60000, den: 1001 });
  assert.deepEqual(parseRate('30000/1001'), { num: 30000, den: 1001 });
  assert.deepEqual(parseRate('12.5'), { num: 125, den: 10 });
  assert.throws(() => parseRate('fast'), RangeError);
  assert.throws(() => parseRate('0'), RangeError);
  assert.throws(() => parseRate('60/0'), RangeError);
});

test('rejects a factor that is not a whole number', () => {
  assert.throws(() => new SlotPlanner({ num: 1, den: 30 }, { factor: 1.5 }), RangeError);
  assert.throws(() => new SlotPlanner({ num: 1, den: 30 }, { factor: 0 }), RangeError);
});
