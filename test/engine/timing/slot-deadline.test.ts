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
  // blend renders while fast's estimate is 40. fast, the rung just above blend, is due on the 4th slot: it
  // fits, asks for another, and once fast samples are the majority fast renders on its own. Quality, the rung
  // above fast, is probed only after 4 slots rendered by fast: the ladder climbs one rung at a time.
  // (n: synthesizer n; p: a probe; !: no reason, i.e. the wanted model's own slot)
  assert.deepEqual(picked, ['2', '2', '2', '1p', '1p', '1', '1', '1', '0p!', '1', '1', '1'], picked.join(' '));
});

/**
 * A six-rung ladder under a load that comes and goes: model, three cheaper rungs of it, blend, dup. `load`
 * multiplies every rung's cost but dup's; one slot per 33 ms with its whole interval as budget.
 */
function ladderRun(core: SlotDeadline, costs: number[], loads: number[], start = 0): { picked: string[]; late: number } {
  let late = 0;
  const picked = loads.map((load, i) => {
    const now = start + i * 33;
    const r = slot(core, now, now + 33, costs.map((c, k) => (k === costs.length - 1 ? c : c * load)));
    late += r.done.filter((d) => d.kind === 'late').length;
    return r.decision.kind === 'render' ? `${r.decision.choice}${r.decision.probe ? 'p' : ''}` : '';
  });
  return { picked, late };
}

test('a six-rung ladder: walks down one rung at a time as the load grows, to blend only when the cheapest motion-compensated rung cannot make it', () => {
  const core = new SlotDeadline({ synthesizers: 6 });
  // model 24 ms, bilinear 18, no lkFine 14, reused field 8, blend 3, dup 0 (quiet machine).
  const costs = [24, 18, 14, 8, 3, 0];
  const steady = (load: number, n: number) => Array.from({ length: n }, () => load);
  // Every rung runs once first (its warm-up run, not kept), so that each has an estimate.
  for (let k = 0; k < 5; k++) for (let i = 0; i < 2; i++) core.processInput({ kind: 'done', choice: k, ms: costs[k]!, now: 0 });
  const quiet = ladderRun(core, costs, steady(1, 20));
  assert.ok(quiet.picked.every((p) => p === '0'), quiet.picked.join(' '));
  // Load 1.5: the model takes 36 ms, bilinear 27: bilinear renders, after the slots it takes the window to see it.
  const mild = ladderRun(core, costs, steady(1.5, 30), 20 * 33);
  const mildRungs = new Set(mild.picked.slice(5).map((p) => p.replace('p', '')));
  assert.ok(mildRungs.has('1') && !mildRungs.has('2') && !mildRungs.has('3') && !mildRungs.has('4'), mild.picked.join(' '));
  // Load 3: only the reused field (24 ms) fits; no lkFine (42) and bilinear (54) do not. Never blend.
  const heavy = ladderRun(core, costs, steady(3, 60), 50 * 33);
  const heavyTail = heavy.picked.slice(10).filter((p) => !p.endsWith('p'));
  assert.ok(heavyTail.length > 40 && heavyTail.every((p) => p === '3'), heavy.picked.join(' '));
  assert.ok(!heavy.picked.includes('4') && !heavy.picked.includes('5'), heavy.picked.join(' '));
  // Its probes try the rung just above (no lkFine), never the model two rungs further up: at most one late slot each.
  assert.ok(heavy.picked.slice(10).filter((p) => p.endsWith('p')).every((p) => p === '2p'), heavy.picked.join(' '));
  // Load 5: even the reused field (40 ms) is late: blend takes the slots.
  const crushing = ladderRun(core, costs, steady(5, 30), 110 * 33);
  assert.ok(crushing.picked.slice(5).filter((p) => !p.endsWith('p')).every((p) => p === '4'), crushing.picked.join(' '));
});

test('a six-rung ladder climbs back one rung at a time when the load goes; each probe tries only the rung just above', () => {
  const core = new SlotDeadline({ synthesizers: 6, probeInterval: 10, maxProbeInterval: 40 });
  const costs = [24, 18, 14, 8, 3, 0];
  // Heavy load first (x3, as above: the reused field renders), long enough for every estimate above it to be late.
  for (let k = 0; k < 5; k++) for (let i = 0; i < 6; i++) core.processInput({ kind: 'done', choice: k, ms: costs[k]! * 3, now: 0 });
  const heavy = ladderRun(core, costs, Array.from({ length: 40 }, () => 3));
  // Probes go to rung 2 only (the one above 3), never to the model or bilinear.
  const probed = new Set(heavy.picked.filter((p) => p.endsWith('p')));
  assert.deepEqual([...probed], ['2p'], heavy.picked.join(' '));
  // The load goes: the ladder climbs 3 → 2 → 1 → 0, each rung reached after the one below it renders.
  const back = ladderRun(core, costs, Array.from({ length: 150 }, () => 1), 40 * 33);
  const firstOf = (rung: string) => back.picked.findIndex((p) => p === rung);
  const [at2, at1, at0] = [firstOf('2'), firstOf('1'), firstOf('0')];
  assert.ok(at2 >= 0 && at1 > at2 && at0 > at1, back.picked.join(' '));
  // No probe skips a rung: before rung 2 has rendered, only rung 2 is probed; before rung 1 has, never the model.
  assert.ok(back.picked.slice(0, at2).every((p) => p === '3' || p === '2p'), back.picked.join(' '));
  assert.ok(back.picked.slice(0, at1).every((p) => p !== '0p' && p !== '1'), back.picked.join(' '));
  // Once back on top the model renders every slot, and nothing was late on the way (each rung fits once the load is gone).
  assert.ok(back.picked.slice(at0).every((p) => p === '0'), back.picked.join(' '));
  assert.equal(back.late, 0);
});

test('a rung that cannot render a slot (the reused field without a field before) is passed over; the rung above seeds it, as a probe', () => {
  const core = new SlotDeadline({ synthesizers: 4, probeInterval: 2 });
  // model too slow, reused field fits, blend, dup.
  for (let i = 0; i < 3; i++) {
    core.processInput({ kind: 'done', choice: 0, ms: 50, now: 0 });
    core.processInput({ kind: 'done', choice: 1, ms: 8, now: 0 });
  }
  const decide = (now: number, skip: number[]) => core.processInput({ kind: 'slot', now, deadline: now + 33, skip })[0];
  // The reused field would be in time but has no field: the model renders at once, a probe, to seed it.
  assert.deepEqual(decide(0, [1]), { kind: 'render', choice: 0, probe: true });
  // Late (50 ms for 33): its probe interval backs off, and so does seeding.
  assert.deepEqual(core.processInput({ kind: 'done', choice: 0, ms: 50, now: 50 }), [{ kind: 'late', lateMs: 17 }]);
  assert.deepEqual(decide(100, []), { kind: 'render', choice: 1, reason: 'deadline' });
  core.processInput({ kind: 'done', choice: 1, ms: 8, now: 108 });
  // The chain has run out again: blend, until the model is due (its interval backed off to 4 slots, the reused field's included).
  const picks = [];
  for (let i = 0; i < 3; i++) {
    const d = decide(200 + 40 * i, [1]);
    assert.ok(d?.kind === 'render');
    picks.push(`${d.choice}${d.probe ? 'p' : ''}`);
    core.processInput({ kind: 'done', choice: d.choice, ms: d.choice === 0 ? 20 : 3, now: 200 + 40 * i + (d.choice === 0 ? 20 : 3) });
  }
  assert.deepEqual(picks, ['2', '2', '0p']);
  // That probe was in time (20 ms): the next starved slot is seeded at once again.
  assert.deepEqual(decide(400, [1]), { kind: 'render', choice: 0, probe: true });
  // A rung that is passed over and would be late anyway starves nothing: with 2 ms left, dup, no probe.
  core.processInput({ kind: 'done', choice: 0, ms: 50, now: 450 });
  assert.deepEqual(decide(500, []), { kind: 'render', choice: 1, reason: 'deadline' });
  core.processInput({ kind: 'done', choice: 1, ms: 8, now: 508 });
  assert.deepEqual(core.processInput({ kind: 'slot', now: 600, deadline: 602, skip: [1] }), [{ kind: 'render', choice: 3, reason: 'deadline' }]);
  // dup, the last, cannot be skipped.
  assert.deepEqual(new SlotDeadline({ synthesizers: 2 }).processInput({ kind: 'slot', now: 100, deadline: 0, skip: [0, 1] }), [{ kind: 'render', choice: 1, reason: 'deadline' }]);
});
