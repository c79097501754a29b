import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import { ProviderFailover } from '../../../src/engine/synthesis/provider-failover.js';
import { BlendSynthesizer, type Synthesizer } from '../../../src/engine/synthesis/synthesis.js';
import { Upconverter } from '../../../src/engine/upconverter.js';
import { flatFrame } from '../flat-frame.js';

/** A model whose frames are flat at `luma`; after `works` calls every call fails, as a lost GPU's do. */
class FakeModel implements Synthesizer {
  calls = 0;
  disposed = false;

  constructor(
    readonly name: string,
    private readonly luma: number,
    private readonly works = Infinity,
    private readonly disposeFails = false,
  ) {}

  async synthesize(a: Frame): Promise<Frame> {
    if (++this.calls > this.works) throw new Error('device lost');
    const out = flatFrame(a.pts, this.luma);
    return out;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.disposed = true;
    if (this.disposeFails) throw new Error('the lost device cannot release its session');
  }

  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }
}

test('a model that fails on its GPU hands its slots to its CPU copy from then on: blend only for the failed slot and while the copy loads, each counted', async (t) => {
  const gpu = new FakeModel('frc-ifnet-fast', 200, 2, true);
  const cpu = new FakeModel('frc-ifnet-fast', 220);
  let loaded!: () => void;
  const loading = new Promise<void>((resolve) => (loaded = resolve));
  const heard: unknown[] = [];
  const failover = new ProviderFailover(gpu, async () => (await loading, cpu), (error) => heard.push(error));
  const blend = new BlendSynthesizer();
  t.after(() => blend.close());
  using up = new Upconverter({ synthesizer: failover, fallback: blend, inputTimeBase: { num: 1, den: 30 }, target: { factor: 2 } });

  const lumas: number[] = [];
  const push = async (pts: bigint) => {
    for (const f of await up.push(flatFrame(pts, 100))) lumas.push(f.data![0]![0]!), f.free();
  };
  // Gaps 0-1 and 1-2 on the GPU; 2-3 fails there; 3-4 while the copy loads.
  for (const pts of [0n, 1n, 2n, 3n, 4n]) await push(pts);
  assert.equal(failover.name, 'frc-ifnet-fast', 'the CPU copy has not loaded yet');
  loaded();
  await loading;
  // Then on the CPU copy.
  for (const pts of [5n, 6n]) await push(pts);

  assert.equal(heard.length, 1, 'the failover is heard once');
  assert.match(String(heard[0]), /device lost/);
  assert.equal(gpu.calls, 3, 'no slot goes back to the GPU once it failed');
  assert.equal(failover.name, 'frc-ifnet-fast/cpu');
  assert.deepEqual(up.stats.rungFrames, [
    { rung: 'frc-ifnet-fast', frames: 2 },
    { rung: 'blend', frames: 2 },
    { rung: 'frc-ifnet-fast/cpu', frames: 2 },
  ]);
  assert.deepEqual(up.stats.fallbackFrames, [{ reason: 'error', synthesizer: 'blend', frames: 2 }]);
  // In-between frames: GPU, GPU, blend, blend, CPU, CPU (originals at 100 between them).
  assert.deepEqual(lumas.filter((_, i) => i % 2 === 1), [200, 200, 100, 100, 220, 220]);

  // Closing closes both; the lost GPU's failure to release is not a new error.
  await failover.close();
  assert.ok(gpu.disposed && cpu.disposed);
});

test('when the CPU copy does not load either, the slots stay with the fallback on error, and the reason says so', async () => {
  const gpu = new FakeModel('frc-ifnet-fast', 200, 0);
  let heard: unknown;
  const failover = new ProviderFailover(gpu, () => Promise.reject(new Error('out of memory')), (error) => (heard = error));
  const a = flatFrame(0n, 10);
  const b = flatFrame(1n, 20);
  try {
    await assert.rejects(failover.synthesize(a, b, 0.5), /device lost/);
    // Let the failed load settle.
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(failover.synthesize(a, b, 0.5), /did not load on the CPU.*out of memory/);
    assert.equal(gpu.calls, 1);
    assert.match(String(heard), /device lost/);
  } finally {
    a.free();
    b.free();
    await failover.close();
  }
});
