import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlotDeadline, type DeadlineOutput } from '../../src/engine/slot-deadline.js';

/** Runs one slot through the core: decides at `now`, "renders" for the chosen rung's cost, reports done. */
function slot(core: SlotDeadline, now: number, deadline: number, cost: number[]): { decision: DeadlineOutput; done: DeadlineOutput[]; end: number } {
  const [decision] = core.processInput({ kind: 'slot', now, deadline });
  assert.ok(decision?.kind === 'render');
  const end = now + cost[decision.rung]!;
  return { decision, done: core.processInput({ kind: 'done', rung: decision.rung, ms: cost[decision.rung]!, now: end }), end };
}

test('the wanted synthesizer renders while it fits; a cheaper one stands in when it would be late', () => {
  const core = new SlotDeadline({ rungs: 3 });
  // model 10 ms, blend 5 ms, dup 0; 33 ms budget: the model always fits.
  for (let i = 0; i < 10; i++) assert.deepEqual(slot(core, i * 33, i * 33 + 33, [10, 5, 0]).decision, { kind: 'render', rung: 0 });
  // The model slows to 40 ms: the first slow slot is late (it was predicted to fit), then blend takes over.
  const first = slot(core, 330, 363, [40, 5, 0]);
  assert.equal(first.decision.kind === 'render' && first.decision.rung, 0);
  assert.deepEqual(first.done, [{ kind: 'late', lateMs: 7 }]);
  const second = slot(core, 363, 396, [40, 5, 0]);
  assert.equal(second.decision.kind === 'render' && second.decision.rung, 0, 'one slow sample is not enough to give up (second largest of the recent ones)');
  const third = slot(core, 396, 429, [40, 5, 0]);
  assert.deepEqual(third.decision, { kind: 'render', rung: 1, reason: 'deadline' });
  assert.deepEqual(third.done, []);
  assert.equal(core.estimate(0), 40);
});

test('when even blend would be late, dup renders; a stream that fell behind catches up on cheap slots', () => {
  const core = new SlotDeadline({ rungs: 3 });
  const cost = [20, 8, 0];
  slot(core, 0, 33, cost);
  slot(core, 33, 66, cost);
  // 12 ms left: blend fits, the model does not (measured twice, so blend is too).
  assert.deepEqual(slot(core, 54, 66, cost).decision, { kind: 'render', rung: 1, reason: 'deadline' });
  assert.deepEqual(slot(core, 87, 99, cost).decision, { kind: 'render', rung: 1, reason: 'deadline' });
  // The slot reaches the engine 30 ms after its frame arrived: 3 ms left, blend (8 ms) would be late too.
  assert.deepEqual(slot(core, 129, 132, cost).decision, { kind: 'render', rung: 2, reason: 'deadline' });
  // Already past its deadline: still rendered (by the cheapest rung), never skipped.
  assert.deepEqual(slot(core, 170, 165, cost).decision, { kind: 'render', rung: 2, reason: 'deadline' });
  // Back on time: the model again.
  assert.deepEqual(slot(core, 200, 233, cost).decision, { kind: 'render', rung: 0 });
});

test('a skipped model is probed again; slow probes back off, a fast one brings it back', () => {
  const core = new SlotDeadline({ rungs: 2, probeInterval: 4, maxProbeInterval: 16 });
  let now = 0;
  const run = (cost: number[]) => {
    const r = slot(core, now, now + 33, cost);
    now += 33;
    return r.decision.kind === 'render' ? (r.decision.probe ? 'probe' : r.decision.rung) : 'none';
  };
  // Make the model slow (one sample), then count how it is tried.
  run([50, 0]);
  const slow = Array.from({ length: 4 + 8 + 1 }, () => run([50, 0]));
  // Skipped 3 times, probed on the 4th; the slow probe doubles the interval to 8.
  assert.deepEqual(slow, [1, 1, 1, 'probe', 1, 1, 1, 1, 1, 1, 1, 'probe', 1]);
  // The model is fast again: the next probe fits, and probing continues every slot until the estimate recovers.
  const recovered = Array.from({ length: 22 }, () => run([10, 0]));
  const firstProbe = recovered.indexOf('probe');
  assert.ok(firstProbe >= 0 && firstProbe <= 16, `probed at ${firstProbe}: ${recovered.join(' ')}`);
  // Probes follow each other until the slow samples have left the window (4 fast of 5), then the model is chosen again.
  assert.deepEqual(recovered.slice(firstProbe, firstProbe + 5), ['probe', 'probe', 'probe', 'probe', 0], recovered.join(' '));
});

test('a one-rung ladder always renders with it (nothing cheaper to stand in)', () => {
  const core = new SlotDeadline({ rungs: 1 });
  assert.deepEqual(slot(core, 0, 33, [100]).decision, { kind: 'render', rung: 0 });
  assert.deepEqual(slot(core, 100, 66, [100]).decision, { kind: 'render', rung: 0 });
  assert.throws(() => new SlotDeadline({ rungs: 0 }), /at least one rung/);
});

test('bad measurements are ignored', () => {
  const core = new SlotDeadline({ rungs: 2 });
  assert.deepEqual(core.processInput({ kind: 'done', rung: 5, ms: 3, now: 0 }), []);
  assert.deepEqual(core.processInput({ kind: 'done', rung: 0, ms: Number.NaN, now: 0 }), []);
  assert.equal(core.estimate(0), 0);
});
