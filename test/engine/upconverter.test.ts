import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import { BlendSynthesizer, DupSynthesizer, StillPairSynthesizer, type Synthesizer } from '../../src/engine/synthesis/synthesis.js';
import { type RenderedFrame, Upconverter } from '../../src/engine/upconverter.js';
import { DelayedSynthesizer, FakeClock } from './delayed-synthesizer.js';
import { flatFrame } from './flat-frame.js';

class FailingSynthesizer implements Synthesizer {
  readonly name = 'failing';
  async synthesize(): Promise<Frame> {
    throw new Error('inference session exploded');
  }
  async [Symbol.asyncDispose](): Promise<void> {}
  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

async function run(up: Upconverter, frames: { pts: bigint; luma: number; cut?: boolean }[]): Promise<{ pts: bigint; luma: number }[]> {
  const out: { pts: bigint; luma: number }[] = [];
  const take = (f: Frame) => {
    out.push({ pts: f.pts, luma: f.data![0]![10 * f.linesize[0]! + 10]! });
    f.free();
  };
  for (const { pts, luma, cut } of frames) for (const f of await up.push(flatFrame(pts, luma), cut)) take(f);
  for (const f of up.finish()) take(f);
  return out;
}

test('2x: originals pass through, the in-between frame is synthesized, the last frame is held', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  using up = new Upconverter({ synthesizer: blend, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });
  const out = await run(up, [
    { pts: 0n, luma: 50 },
    { pts: 1n, luma: 150 },
  ]);
  assert.deepEqual(
    out.map((o) => o.pts),
    [0n, 1n, 2n, 3n],
  );
  assert.deepEqual(up.outputTimeBase, { num: 1, den: 60 });
  assert.equal(out[0]!.luma, 50);
  assert.ok(Math.abs(out[1]!.luma - 100) <= 1, `midpoint luma ${out[1]!.luma}`);
  assert.equal(out[2]!.luma, 150);
  assert.equal(out[3]!.luma, 150);
  assert.deepEqual(up.stats, { framesIn: 2, framesOut: 4, originals: 1, interpolated: 1, fallbacks: 0, fallbackFrames: [], rungFrames: [{ rung: 'blend', frames: 1 }], warmUpMs: 0, late: 0, repeated: 2, dropped: 0 });
});

test('a failing model hands its slots to the fallback, counted, and the stream goes on', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  using up = new Upconverter({ synthesizer: new FailingSynthesizer(), fallback: blend, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });
  const out = await run(up, [
    { pts: 0n, luma: 40 },
    { pts: 1n, luma: 80 },
    { pts: 2n, luma: 120 },
  ]);
  assert.equal(out.length, 6);
  assert.equal(up.stats.fallbacks, 2);
  assert.equal(up.stats.interpolated, 0);
  assert.match(String(up.firstFailure), /exploded/);
  assert.ok(Math.abs(out[3]!.luma - 100) <= 1);
});

test('live: a deadline fallback model that fails hands its slots to the fallback on error too; the stream goes on', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const clock = new FakeClock();
  // quality too slow for any slot, its `fast` fallback broken: the slots `fast` would render go to blend, counted as errors.
  const model = new DelayedSynthesizer(blend, 40, clock.advance, 'quality');
  const fast = new FailingSynthesizer();
  using up = new Upconverter({ synthesizer: model, fallback: blend, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, deadline: { fallbacks: [fast, blend, new DupSynthesizer()] }, now: clock.now });
  const out: RenderedFrame[] = [];
  for (let i = 0; i < 12; i++) {
    clock.time = Math.max(clock.time, (i * 1000) / 30);
    out.push(...(await up.pushTimed(flatFrame(BigInt(i), 40 + i), false, { arrival: (i * 1000) / 30 })));
  }
  out.push(...up.finishTimed());
  for (const r of out) r.frame.free();
  assert.equal(out.length, 24, 'every slot went out');
  const errors = up.stats.fallbackFrames.find((f) => f.reason === 'error');
  assert.ok(errors && errors.synthesizer === 'blend' && errors.frames >= 1, JSON.stringify(up.stats.fallbackFrames));
  assert.equal(up.stats.fallbackFrames.filter((f) => f.synthesizer === 'failing').length, 0);
});

test('without a fallback, a failing model fails the job instead of writing wrong frames', async () => {
  using up = new Upconverter({ synthesizer: new FailingSynthesizer(), inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });
  await up.push(flatFrame(0n, 10));
  await assert.rejects(up.push(flatFrame(1n, 20)), /exploded/);
});

test('no morphing across a discontinuity or a long gap: the nearer frame is repeated', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  using up = new Upconverter({ synthesizer: blend, inputTimeBase: { num: 1, den: 10 }, target: { factor: 2 }, maxGapSeconds: 1 });
  const out = await run(up, [
    { pts: 0n, luma: 20 },
    { pts: 1n, luma: 60, cut: true }, // discontinuity
    { pts: 30n, luma: 200 }, // 2.9 s gap
  ]);
  assert.deepEqual(
    out.map((o) => o.luma),
    [20, 20, 60, 60, 200, 200],
  );
  assert.equal(up.stats.interpolated, 0);
  assert.equal(up.stats.repeated, 4);
});

test('frames with non-increasing timestamps are dropped and counted', async () => {
  using up = new Upconverter({ synthesizer: new DupSynthesizer(), inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });
  const out = await run(up, [
    { pts: 5n, luma: 1 },
    { pts: 5n, luma: 2 },
    { pts: 4n, luma: 3 },
    { pts: 6n, luma: 4 },
  ]);
  assert.equal(up.stats.dropped, 2);
  assert.deepEqual(
    out.map((o) => o.luma),
    [1, 1, 4, 4],
  );
});

test('live deadlines: a model too slow for its slots is replaced by blend, counted, and every slot still goes out on its grid', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const clock = new FakeClock();
  // The "model": blend taking 50 ms, against 33 ms per input frame at 30 fps.
  const model = new DelayedSynthesizer(blend, 50, clock.advance, 'model');
  const fallback = new DelayedSynthesizer(blend, 5, clock.advance, 'blend');
  const dup = new DupSynthesizer();
  using up = new Upconverter({ synthesizer: model, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, deadline: { fallbacks: [fallback, dup] }, now: clock.now });
  const out: RenderedFrame[] = [];
  for (let i = 0; i < 30; i++) {
    // Input frames arrive every 33.3 ms; the engine is idle until then.
    clock.time = Math.max(clock.time, (i * 1000) / 30);
    out.push(...(await up.pushTimed(flatFrame(BigInt(i), 40 + i), false, { arrival: (i * 1000) / 30 })));
  }
  out.push(...up.finishTimed());
  const pts = out.map((r) => r.frame.pts);
  for (const r of out) r.frame.free();

  // Never stalls, never drifts: one frame per output slot, exactly on the 60 fps grid.
  assert.deepEqual(pts, Array.from({ length: 60 }, (_, i) => BigInt(i)));
  const synthesized = out.filter((r) => r.kind === 'interpolated' || r.kind === 'fallback');
  assert.equal(synthesized.length, 29);
  // The first two slots find the model unmeasured (its first run is a warm-up, not a sample) and try
  // it, late; the slot after them has waited so long that only dup fits; from then on blend renders
  // instead, but for a probe now and then (every 30 skipped slots at most).
  assert.ok(up.stats.interpolated <= 4, `interpolated by the model: ${up.stats.interpolated}`);
  assert.deepEqual(synthesized.slice(0, 4).map((r) => r.synthesizer), ['model', 'model', 'dup', 'blend']);
  assert.equal(up.stats.fallbacks, 29 - up.stats.interpolated);
  assert.deepEqual(up.stats.fallbackFrames, [
    { reason: 'deadline', synthesizer: 'dup', frames: 1 },
    { reason: 'deadline', synthesizer: 'blend', frames: up.stats.fallbacks - 1 },
  ]);
  assert.ok(synthesized.filter((r) => r.kind === 'fallback').every((r) => r.reason === 'deadline'));
  assert.equal(up.stats.late, up.stats.interpolated);
  // With blend or dup as the fallback, every slot was ready within its input frame interval of its frame's arrival.
  for (const r of synthesized.filter((r) => r.kind === 'fallback')) assert.ok(r.timing.interpEnd! - r.timing.arrival <= 1000 / 30 + 1e-9, JSON.stringify(r.timing));
});

test('live deadlines: a budget of 1.5 gaps gives a model slower than the input interval the slots it can catch up on, where one gap gives them all to blend', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const kindsFor = async (budgetGaps?: number) => {
    const clock = new FakeClock();
    // 40 ms per slot against 33.3 ms between input frames.
    const model = new DelayedSynthesizer(blend, 40, clock.advance, 'model');
    const fallback = new DelayedSynthesizer(blend, 5, clock.advance, 'blend');
    using up = new Upconverter({ synthesizer: model, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, deadline: { fallbacks: [fallback, new DupSynthesizer()], ...(budgetGaps ? { budgetGaps } : {}) }, now: clock.now });
    const kinds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const arrival = (i * 1000) / 30;
      clock.time = Math.max(clock.time, arrival);
      for (const r of await up.pushTimed(flatFrame(BigInt(i), 60), false, { arrival })) {
        if (r.kind !== 'original') kinds.push(r.kind === 'fallback' ? r.synthesizer! : 'model');
        r.frame.free();
      }
    }
    return kinds;
  };
  const count = (kinds: string[], kind: string) => kinds.filter((k) => k === kind).length;
  const oneGap = await kindsFor();
  const oneAndAHalf = await kindsFor(1.5);
  // One gap: the warm-up run and one measured run, then blend (the next probe would come after 30 slots).
  assert.equal(count(oneGap, 'model'), 2, oneGap.join(' '));
  // One and a half: two slots of three by the model, a blend now and then to catch up; never a dup.
  assert.ok(count(oneAndAHalf, 'model') >= 12 && count(oneAndAHalf, 'dup') === 0, oneAndAHalf.join(' '));
});

test('live deadlines: a stream that reaches the engine late gets dup until it has caught up, then the model again', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const clock = new FakeClock();
  const model = new DelayedSynthesizer(blend, 10, clock.advance, 'model');
  const fallback = new DelayedSynthesizer(blend, 5, clock.advance, 'blend');
  using up = new Upconverter({ synthesizer: model, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, deadline: { fallbacks: [fallback, new DupSynthesizer()] }, now: clock.now });
  const kinds: string[] = [];
  /** Frame i arrives at `arrival` and reaches the engine at `at` (or when the engine is free). */
  const push = async (i: number, arrival: number, at = arrival) => {
    clock.time = Math.max(clock.time, at);
    for (const r of await up.pushTimed(flatFrame(BigInt(i), 100), false, { arrival })) {
      if (r.kind !== 'original') kinds.push(r.kind === 'fallback' ? r.synthesizer! : 'model');
      r.frame.free();
    }
  };
  for (let i = 0; i < 5; i++) await push(i, (i * 1000) / 30);
  // A stall downstream: frames 5..9 reach the engine only at 400 ms, all at once.
  for (let i = 5; i < 10; i++) await push(i, (i * 1000) / 30, 400);
  // Then on time again.
  for (let i = 10; i < 15; i++) await push(i, (i * 1000) / 30 + 100);
  assert.deepEqual(kinds, ['model', 'model', 'model', 'model', 'dup', 'dup', 'dup', 'dup', 'dup', 'model', 'model', 'model', 'model', 'model']);
  assert.deepEqual(up.stats.fallbackFrames, [{ reason: 'deadline', synthesizer: 'dup', frames: 5 }]);
});

test('timing records: synthesized frames derive from the later input frame, originals from themselves', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const clock = new FakeClock();
  using up = new Upconverter({ synthesizer: new DelayedSynthesizer(blend, 7, clock.advance, 'model'), inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, now: clock.now });
  const out: RenderedFrame[] = [];
  clock.time = 100;
  out.push(...(await up.pushTimed(flatFrame(0n, 10), false, { arrival: 90, decoded: 95 })));
  clock.time = 140;
  out.push(...(await up.pushTimed(flatFrame(1n, 20), false, { arrival: 130, decoded: 138 })));
  for (const r of out) r.frame.free();
  assert.deepEqual(
    out.map((r) => [r.kind, r.timing]),
    [
      ['original', { arrival: 90, decoded: 95, interpStart: 140, interpEnd: 140 }],
      ['interpolated', { arrival: 130, decoded: 138, interpStart: 140, interpEnd: 147 }],
    ],
  );
});

/** A model whose first run allocates for the frame size: `firstMs` of the fake clock, then `ms`. It can warm up (or not). */
class AllocatingModel extends DelayedSynthesizer {
  warmUp?: (frame: Frame) => Promise<void>;

  constructor(inner: Synthesizer, clock: FakeClock, private readonly firstMs: number, readonly steadyMs: number, warm: boolean) {
    super(inner, firstMs, clock.advance, 'model');
    if (warm) {
      this.warmUp = async (frame) => {
        (await this.synthesize(frame, frame, 0.5)).free();
      };
    }
  }

  override async synthesize(a: Frame, b: Frame, t: number): Promise<Frame> {
    this.ms = this.calls === 0 ? this.firstMs : this.steadyMs;
    return super.synthesize(a, b, t);
  }
}

/** 30 fps in, 2x out, frames arriving on time; the engine idle until each arrives. */
async function live(up: Upconverter, clock: FakeClock, frames: number): Promise<RenderedFrame[]> {
  const out: RenderedFrame[] = [];
  for (let i = 0; i < frames; i++) {
    clock.time = Math.max(clock.time, (i * 1000) / 30);
    out.push(...(await up.pushTimed(flatFrame(BigInt(i), 40 + i), false, { arrival: (i * 1000) / 30 })));
  }
  out.push(...up.finishTimed());
  return out;
}

test('live: the synthesizers warm up on the first frame, before the first slot is due, so the first slots are by the model and on time', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const results: Record<string, { late: number; rungs: unknown; first: (string | undefined)[]; warmUpMs: number }> = {};
  for (const warm of [false, true]) {
    const clock = new FakeClock();
    // The first run takes 45 ms (allocation), later ones 15: 33 ms per input frame.
    const model = new AllocatingModel(blend, clock, 45, 15, warm);
    using up = new Upconverter({ synthesizer: model, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, deadline: { fallbacks: [blend, new DupSynthesizer()] }, now: clock.now });
    const out = await live(up, clock, 10);
    results[String(warm)] = { late: up.stats.late, rungs: up.stats.rungFrames, first: out.filter((r) => r.kind !== 'original' && r.kind !== 'repeated').slice(0, 3).map((r) => r.synthesizer), warmUpMs: up.stats.warmUpMs };
    for (const r of out) r.frame.free();
  }
  // Without a warm-up the first slot pays the allocation and is late.
  assert.equal(results.false!.late, 1, JSON.stringify(results));
  // With it: paid while the second frame was on its way; every slot by the model, none late.
  assert.equal(results.true!.late, 0, JSON.stringify(results));
  assert.equal(results.true!.warmUpMs, 45);
  assert.deepEqual(results.true!.first, ['model', 'model', 'model']);
  assert.deepEqual(results.true!.rungs, [{ rung: 'model', frames: 9 }]);
});

/** A rung that can render only where `can` says (the reused field's rung needs the gap before it rendered). */
class ConditionalRung extends DelayedSynthesizer {
  constructor(inner: Synthesizer, clock: FakeClock, ms: number, name: string, readonly can: () => boolean) {
    super(inner, ms, clock.advance, name);
  }

  canRender(): boolean {
    return this.can();
  }
}

test('live: slots are counted by the rung that rendered them, the top rung included; a rung that cannot render a slot is passed over', async (t) => {
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  const clock = new FakeClock();
  // The model takes 50 ms (too slow for 33), the bilinear rung 40 (too slow), the reused field 10 but only on
  // every other gap (as if the gap before had no field), blend 3.
  const model = new DelayedSynthesizer(blend, 50, clock.advance, 'model');
  const bilinear = new DelayedSynthesizer(blend, 40, clock.advance, 'model/bilinear');
  let gap = 0;
  const reuse = new ConditionalRung(blend, clock, 10, 'model/reuse', () => gap % 2 === 0);
  const cheap = new DelayedSynthesizer(blend, 3, clock.advance, 'blend');
  using up = new Upconverter({ synthesizer: model, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, deadline: { fallbacks: [bilinear, reuse, cheap, new DupSynthesizer()] }, now: clock.now });
  const out: RenderedFrame[] = [];
  for (let i = 0; i < 40; i++) {
    gap = i;
    clock.time = Math.max(clock.time, (i * 1000) / 30);
    out.push(...(await up.pushTimed(flatFrame(BigInt(i), 40 + i), false, { arrival: (i * 1000) / 30 })));
  }
  for (const r of out) r.frame.free();
  const by = Object.fromEntries(up.stats.rungFrames.map((r) => [r.rung, r.frames]));
  // Every synthesized slot is counted once, by its rung; the model's own slots too.
  assert.equal(up.stats.rungFrames.reduce((s, r) => s + r.frames, 0), up.stats.interpolated + up.stats.fallbacks);
  assert.equal(by.model, up.stats.interpolated);
  // The reused field renders every gap it can (those closed by an even frame), blend the others.
  assert.ok(by['model/reuse']! >= 15 && by.blend! >= 15, JSON.stringify(up.stats.rungFrames));
  assert.ok(reuse.calls === by['model/reuse'], 'never asked to render a slot it cannot');
  for (const entry of up.stats.fallbackFrames) assert.equal(entry.frames, by[entry.synthesizer], JSON.stringify(up.stats));
});

test('a still gap (no sample differs by more than 2 levels) is rendered by the still-pair path, not the model; one sample that moves more sends the gap to the model', async (t) => {
  const blend = new BlendSynthesizer();
  const still = new StillPairSynthesizer();
  t.after(async () => {
    await blend.close();
    await still.close();
  });
  let modelRuns = 0;
  const model: Synthesizer = { name: 'model', synthesize: (a, b, time) => (modelRuns++, blend.synthesize(a, b, time)), [Symbol.asyncDispose]: async () => {}, close: async () => {} };
  using up = new Upconverter({ synthesizer: model, still, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });
  const kinds: string[] = [];
  const lumas: number[] = [];
  const push = async (frame: Frame) => {
    for (const r of await up.pushTimed(frame)) {
      if (r.kind !== 'original') kinds.push(`${r.kind}:${r.synthesizer}`), lumas.push(r.frame.data![0]![0]!);
      r.frame.free();
    }
  };
  await push(flatFrame(0n, 50));
  await push(flatFrame(1n, 52)); // still: every sample within 2
  const moved = flatFrame(2n, 52);
  moved.data![2]![5] = 131; // one chroma sample 3 levels off: not still
  await push(moved);
  await push(flatFrame(3n, 52)); // back to the earlier picture but for that sample: not still either
  await push(flatFrame(4n, 52)); // identical: still
  for (const f of up.finish()) f.free();
  assert.deepEqual(kinds, ['interpolated:still', 'interpolated:model', 'interpolated:model', 'interpolated:still']);
  assert.equal(modelRuns, 2);
  assert.equal(lumas[0], 51, 'the still pair\'s in-between frame is its blend');
  assert.deepEqual(up.stats.rungFrames, [
    { rung: 'still', frames: 2 },
    { rung: 'model', frames: 2 },
  ]);
  assert.equal(up.stats.interpolated, 4);
});
