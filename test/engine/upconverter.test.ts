import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import { createBlendSynthesizer, DupSynthesizer, type Synthesizer } from '../../src/engine/synthesis.js';
import { Upconverter } from '../../src/engine/upconverter.js';

/** A 64x32 yuv420p frame filled with one luma value. */
function flatFrame(pts: bigint, luma: number): Frame {
  const f = new Frame();
  f.alloc();
  f.width = 64;
  f.height = 32;
  f.format = AV_PIX_FMT_YUV420P;
  f.allocBuffer();
  f.data![0]!.fill(luma);
  f.data![1]!.fill(128);
  f.data![2]!.fill(128);
  f.pts = pts;
  return f;
}

class FailingSynthesizer implements Synthesizer {
  readonly name = 'failing';
  async synthesize(): Promise<Frame> {
    throw new Error('inference session exploded');
  }
  async close(): Promise<void> {}
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
  const blend = await createBlendSynthesizer();
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
  assert.deepEqual(up.stats, { framesIn: 2, framesOut: 4, originals: 1, interpolated: 1, fallbacks: 0, repeated: 2, dropped: 0 });
});

test('a failing model hands its slots to the fallback, counted, and the stream goes on', async (t) => {
  const blend = await createBlendSynthesizer();
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

test('without a fallback, a failing model fails the job instead of writing wrong frames', async () => {
  using up = new Upconverter({ synthesizer: new FailingSynthesizer(), inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });
  await up.push(flatFrame(0n, 10));
  await assert.rejects(up.push(flatFrame(1n, 20)), /exploded/);
});

test('no morphing across a discontinuity or a long gap: the nearer frame is repeated', async (t) => {
  const blend = await createBlendSynthesizer();
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
