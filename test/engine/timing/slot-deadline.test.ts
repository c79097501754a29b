import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotDeadline, type DeadlineOutput } from '../../../src/engine/timing/slot-deadline.js';

/** Runs one slot through the core: decides at `now`, "renders" for the chosen synthesizer's cost, reports done. */
function slot(core: SlotDeadline, now: number, deadline: number, cost: number[]): { decision: DeadlineOutput; done: DeadlineOutput[]; end: number } {
  const [decision] = core.processInput({ kind: 'slot', now, deadline });
  assert.ok(decision?.kind === 'render');
  const end = now + cost[decision.choice]!;
  return { decision, done: core.processInput({ kind: 'done', choice: decision.choice, ms: cost[decision.choice]!, now: end }), end };
}

test('the wanted synthesizer renders while it fits; a cheaper fallback renders when it would be late', () => {
  const core = new SlotDeadline({ synthesizers: 3 });
  // model 10 ms, blend 5 ms, dup 0; 33 ms budget: the model always fits.
  for (let i = 0; i < 10; i++) assert.deepEqual(slot(core, i * 33, i * 33 + 33, [10, 5, 0]).decision, { kind: 'render', choice: 0 });
  // The model slows to 40 ms: slow slots are late while it was predicted to fit; once slow runs are
  // the majority of the recent five (the median), blend takes over. One or two spikes are not enough.
  const slow = Array.from({ length: 4 }, (_, i) => slot(core, 330 + i * 33, 363 + i * 33, [40, 5, 0]));
  assert.deepEqual(slow.map((s) => s.decision.kind === 'render' && s.decision.choice), [0, 0, 0, 1]);
  assert.deepEqual(slow[0]!.done, [{ kind: 'late', lateMs: 7 }]);
  assert.deepEqual(slow[3]!.decision, { kind: 'render', choice: 1, reason: 'deadline' });
  assert.deepEqual(slow[3]!.done, []);
  assert.equal(core.estimate(0), 40);
});

test('when even blend would be late, dup renders; a stream that fell behind catches up on cheap slots', () => {
  const core = new SlotDeadline({ synthesizers: 3 });
  const cost = [20, 8, 0];
  slot(core, 0, 33, cost);
  slot(core, 33, 66, cost);
  // 12 ms left: blend fits, the model does not (measured twice, so blend is too).
  assert.deepEqual(slot(core, 54, 66, cost).decision, { kind: 'render', choice: 1, reason: 'deadline' });
  assert.deepEqual(slot(core, 87, 99, cost).decision, { kind: 'render', choice: 1, reason: 'deadline' });
  // The slot reaches the engine 30 ms after its frame arrived: 3 ms left, blend (8 ms) would be late too.
  assert.deepEqual(slot(core, 129, 132, cost).decision, { kind: 'render', choice: 2, reason: 'deadline' });
  // Already past its deadline: still rendered (by the cheapest synthesizer), never skipped.
  assert.deepEqual(slot(core, 170, 165, cost).decision, { kind: 'render', choice: 2, reason: 'deadline' });
  // Back on time: the model again.
  assert.deepEqual(slot(core, 200, 233, cost).decision, { kind: 'render', choice: 0 });
});

test('a skipped model is probed again; slow probes back off, a fast one brings it back', () => {
  const core = new SlotDeadline({ synthesizers: 2, probeInterval: 4, maxProbeInterval: 16 });
  let now = 0;
  const run = (cost: number[]) => {
    const r = slot(core, now, now + 33, cost);
    now += 33;
    return r.decision.kind === 'render' ? (r.decision.probe ? 'probe' : r.decision.choice) : 'none';
  };
  // Make the model slow (a warm-up run, then one sample), then count how it is tried.
  run([50, 0]);
  run([50, 0]);
  const slow = Array.from({ length: 4 + 8 + 1 }, () => run([50, 0]));
  // Skipped 3 times, probed on the 4th; the slow probe doubles the interval to 8.
  assert.deepEqual(slow, [1, 1, 1, 'probe', 1, 1, 1, 1, 1, 1, 1, 'probe', 1]);
  // The model is fast again: the next probe fits, and probing continues every slot until the estimate recovers.
  const recovered = Array.from({ length: 22 }, () => run([10, 0]));
  const firstProbe = recovered.indexOf('probe');
  assert.ok(firstProbe >= 0 && firstProbe <= 16, `probed at ${firstProbe}: ${recovered.join(' ')}`);
  // Probes follow each other until fast samples are the window's majority (3 of 5), then the model is chosen again.
  assert.deepEqual(recovered.slice(firstProbe, firstProbe + 4), ['probe', 'probe', 'probe', 0], recovered.join(' '));
});

test('the first run of a synthesizer is a warm-up: a slow one does not hand the next slots to blend', () => {
  const core = new SlotDeadline({ synthesizers: 3 });
  // 720p: the first inference allocates for the frame size (here 60 ms), later ones take 20.
  const first = slot(core, 0, 33, [60, 1, 0]);
  assert.deepEqual(first.done, [{ kind: 'late', lateMs: 27 }], 'it is still late, and counted so');
  assert.equal(core.estimate(0), 0);
  for (let i = 1; i < 10; i++) assert.deepEqual(slot(core, i * 33, i * 33 + 33, [20, 1, 0]).decision, { kind: 'render', choice: 0 });
  assert.equal(core.estimate(0), 20);
});

test('a model that stays slow is still probed every two seconds (60 slots) by default', () => {
  const core = new SlotDeadline({ synthesizers: 3 });
  const probes: number[] = [];
  for (let i = 0; i < 600; i++) {
    const r = slot(core, i * 33, i * 33 + 33, [50, 1, 0]);
    if (r.decision.kind === 'render' && r.decision.probe) probes.push(i);
  }
  const gaps = probes.slice(1).map((p, i) => p - probes[i]!);
  // 30, then doubling after each late probe, up to 60 and no further.
  assert.deepEqual(gaps.slice(0, 2), [60, 60], gaps.join(' '));
  assert.ok(gaps.every((g) => g <= 60) && probes.length >= 9, gaps.join(' '));
});

test('a single synthesizer always renders (no fallback to render instead)', () => {
  const core = new SlotDeadline({ synthesizers: 1 });
  assert.deepEqual(slot(core, 0, 33, [100]).decision, { kind: 'render', choice: 0 });
  assert.deepEqual(slot(core, 100, 66, [100]).decision, { kind: 'render', choice: 0 });
  assert.throws(() => new SlotDeadline({ synthesizers: 0 }), /at least one synthesizer/);
});

test('bad measurements are ignored', () => {
  const core = new SlotDeadline({ synthesizers: 2 });
  assert.deepEqual(core.processInput({ kind: 'done', choice: 5, ms: 3, now: 0 }), []);
  assert.deepEqual(core.processInput({ kind: 'done', choice: 0, ms: Number.NaN, now: 0 }), []);
  assert.equal(core.estimate(0), 0);
});

test('a middle fallback measured slow once is probed again too, not left behind blend for good', () => {
  // quality (always too slow), fast, blend, dup: fast's one sample came at a bad moment (40 ms), it takes 10 from then on.
  const core = new SlotDeadline({ synthesizers: 4, probeInterval: 4, maxProbeInterval: 16 });
  core.processInput({ kind: 'done', choice: 1, ms: 10, now: 0 }); // warm-up, not kept
  core.processInput({ kind: 'done', choice: 1, ms: 40, now: 0 });
  core.processInput({ kind: 'done', choice: 0, ms: 90, now: 0 });
  core.processInput({ kind: 'done', choice: 0, ms: 90, now: 0 });
  const picked = Array.from({ length: 12 }, (_, i) => {
    const { decision } = slot(core, i * 33, i * 33 + 33, [90, 10, 2, 0]);
    return decision.kind === 'render' ? `${decision.choice}${decision.probe ? 'p' : ''}${decision.reason ? '' : '!'}` : '';
  });
  // blend renders while fast's estimate is 40. Both are due on the 4th slot: quality, the more wanted, is
  // probed first (late: its interval doubles to 8), fast on the next (a fallback still: reason set); it fits,
  // asks for another, and once fast samples are the majority fast renders on its own until quality's next probe.
  // (n: synthesizer n; p: a probe; !: no reason, i.e. the wanted model's own slot)
  assert.deepEqual(picked, ['2', '2', '2', '0p!', '1p', '1p', '1', '1', '1', '1', '1', '0p!'], picked.join(' '));
});
