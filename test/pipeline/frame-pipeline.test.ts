import '../../src/base/polyfills.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import type { Synthesizer } from '../../src/engine/synthesis/synthesis.js';
import type { SourceItem } from '../../src/ingest/read-demuxed.js';
import { EngineParts } from '../../src/pipeline/engine-parts.js';
import { type FramePipelineOptions, type FrameSink, FramePipeline, type SentFrame } from '../../src/pipeline/frame-pipeline.js';
import { flatFrame as flat } from '../engine/flat-frame.js';

/** A 64x32 yuv420p frame of one luma value, stamped in 1/30 s ticks. */
const flatFrame = (pts: number, luma = 100): Frame => flat(BigInt(pts), luma);

async function* frames(count: number, pace = 0): AsyncGenerator<SourceItem> {
  for (let i = 0; i < count; i++) {
    yield { kind: 'video', frame: flatFrame(i, 16 + i * 10) };
    if (pace) await new Promise((resolve) => setTimeout(resolve, pace));
  }
}

/** Records the media times it is given; `delayMs` makes it a slow encoder. */
function recordingSink(delayMs = 0): FrameSink & { times: number[] } {
  const times: number[] = [];
  return {
    times,
    writeVideo: async (_frame, time) => {
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      times.push(time);
      const now = performance.now();
      return { encodeStart: now, encoded: now, sent: now };
    },
    writeAudio: async () => {},
  };
}

function options(overrides: Partial<FramePipelineOptions> = {}): FramePipelineOptions {
  return { engine: { kind: 'blend' }, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 }, inputPolicy: 'wait', bufferFrames: 2, clock: 'decoder', ...overrides };
}

test('a file pipeline waits: every input frame comes out at the factor, in order, with complete timing records', async () => {
  const sent: SentFrame[] = [];
  const decoded: number[] = [];
  await using pipeline = await FramePipeline.create(options({ onSent: (f) => sent.push(f), onDecoded: (t) => decoded.push(t.decoded!) }));
  const sink = recordingSink(2);
  await pipeline.run(frames(12), sink);
  assert.equal(pipeline.stats.framesIn, 12);
  assert.equal(pipeline.stats.framesOut, 24);
  assert.equal(pipeline.ringDrops, 0, 'a slow encoder makes the decoder wait, nothing is dropped');
  assert.deepEqual(sink.times, Array.from({ length: 24 }, (_, i) => i / 60));
  assert.deepEqual(
    sent.map((f) => f.kind),
    Array.from({ length: 24 }, (_, i) => (i >= 22 ? 'repeated' : i % 2 ? 'interpolated' : 'original')),
  );
  // Each sent frame says its media time (the sink's) and, when synthesized, by what: the page's frame inspector badges them so.
  assert.deepEqual(sent.map((f) => f.time), sink.times);
  assert.deepEqual(
    sent.map((f) => f.synthesizer),
    sent.map((f) => (f.kind === 'interpolated' ? 'blend' : undefined)),
  );
  assert.equal(decoded.length, 12);
  for (const { timing } of sent) {
    assert.ok(timing.arrival === timing.decodeStart && timing.decodeStart! <= timing.decoded! && timing.decoded! <= timing.interpStart! && timing.interpEnd! <= timing.encodeStart!, JSON.stringify(timing));
  }
  assert.deepEqual(pipeline.geometry && [pipeline.geometry.width, pipeline.geometry.height], [64, 32]);
  assert.equal(pipeline.interpolator, 'blend');
});

test('a live pipeline drops the oldest decoded frame when the engine side falls behind, and counts it', async () => {
  await using pipeline = await FramePipeline.create(options({ inputPolicy: 'drop-oldest', bufferFrames: 2, clock: 'arrival' }));
  const sink = recordingSink(15);
  await pipeline.run(frames(20), sink);
  assert.ok(pipeline.ringDrops > 0, 'some frames were dropped');
  assert.equal(pipeline.stats.framesIn + pipeline.ringDrops, 20, 'every frame was either dropped in the ring or taken by the engine');
  assert.equal(sink.times.length, pipeline.stats.framesOut);
  for (let i = 1; i < sink.times.length; i++) assert.ok(sink.times[i]! > sink.times[i - 1]!, 'output times keep increasing across the dropped frames');
});

test('an input policy sees each frame first; when it refuses one, the run fails with its reason', async () => {
  let seen = 0;
  const sent: SentFrame[] = [];
  await using pipeline = await FramePipeline.create(
    options({
      clock: 'arrival',
      admit: (frame) => {
        if (++seen === 8) throw new Error(`frame ${frame.pts} refused`);
        return { arrival: 0, discontinuity: frame.pts === 2n };
      },
      onSent: (f) => sent.push(f),
    }),
  );
  await assert.rejects(pipeline.run(frames(20, 5), recordingSink()), { message: 'frame 7 refused' });
  assert.equal(seen, 8, 'nothing was read after the refusal');
  assert.ok(sent.every((f) => f.timing.arrival === 0 && f.timing.decodeStart === undefined), 'arrival clock: the policy says when');
  // Across the discontinuity before frame 2 the gap repeats a frame instead of morphing; the gaps around it morph.
  assert.deepEqual(sent.slice(0, 6).map((f) => f.kind), ['original', 'interpolated', 'original', 'repeated', 'original', 'interpolated']);
});

test('a sink that fails ends the run with its error and stops the decoder; the pipeline still disposes', async () => {
  let synthesized = 0;
  const counting = (inner: Synthesizer): Synthesizer => ({
    name: inner.name,
    synthesize: async (a, b, t) => {
      synthesized++;
      return inner.synthesize(a, b, t);
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  });
  const pipeline = await FramePipeline.create(options({ engine: { kind: 'blend', wrap: counting }, bufferFrames: 4 }));
  let writes = 0;
  const sink: FrameSink = {
    writeVideo: async () => {
      if (++writes === 3) throw new Error('disk full');
      const now = performance.now();
      return { encodeStart: now, encoded: now, sent: now };
    },
    writeAudio: async () => {},
  };
  await assert.rejects(pipeline.run(frames(30), sink), { message: 'disk full' });
  assert.ok(pipeline.stats.framesIn < 30, 'the decoder stopped reading');
  assert.ok(synthesized >= 1);
  await pipeline[Symbol.asyncDispose]();
});

test('engine parts: the fallback on error and the deadline fallbacks follow the synthesizer', async () => {
  {
    await using blend = await EngineParts.create({ kind: 'blend', deadlineFallbacks: true });
    assert.equal(blend.fallback, undefined, 'blend needs no fallback');
    assert.deepEqual(blend.deadlineFallbacks()?.map((s) => s.name), ['dup']);
  }
  {
    await using dup = await EngineParts.create({ kind: 'dup' });
    assert.equal(dup.deadlineFallbacks(), undefined, 'nothing is cheaper than dup');
  }
  const closed: string[] = [];
  const wrap = (inner: Synthesizer): Synthesizer => ({ name: 'wrapped', synthesize: (a, b, t) => inner.synthesize(a, b, t), close: async () => void closed.push('wrapped'), [Symbol.asyncDispose]: async () => void closed.push('wrapped') });
  const wrapped = await EngineParts.create({ kind: 'blend', wrap });
  assert.equal(wrapped.synthesizer.name, 'wrapped');
  assert.equal(wrapped.fallback?.name, 'blend', 'a wrapped synthesizer may fail where blend does not: blend backs it');
  assert.deepEqual(wrapped.deadlineFallbacks()?.map((s) => s.name), ['blend', 'dup']);
  await wrapped[Symbol.asyncDispose]();
  assert.deepEqual(closed, ['wrapped'], 'disposing the parts closes the synthesizer');
});
