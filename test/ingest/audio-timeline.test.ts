import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudioTimeline } from '../../src/ingest/audio-timeline.js';

const packet = (ts: number, duration = 1024) => ({ pts: BigInt(ts), dts: BigInt(ts), duration: BigInt(duration) });

test('audio that starts over (a loop, a reconnection) continues one packet after the last', () => {
  const timeline = new AudioTimeline({ num: 1, den: 48000 });
  const out = [0, 1024, 2048, 0, 1024, 500_000_000].map((ts) => {
    const p = packet(ts);
    timeline.fold(p);
    return [Number(p.pts), Number(p.dts)];
  });
  assert.deepEqual(out, [
    [0, 0],
    [1024, 1024],
    [2048, 2048],
    [3072, 3072],
    [4096, 4096],
    [5120, 5120],
  ]);
});

test('small forward steps (a lost packet) are kept, and pts keeps its distance from dts', () => {
  const timeline = new AudioTimeline({ num: 1, den: 90000 });
  const a = { pts: 93000n, dts: 90000n, duration: 1920n };
  const b = { pts: 100_000n, dts: 97000n, duration: 1920n };
  const c = { pts: 3000n, dts: 0n, duration: 1920n };
  for (const p of [a, b, c]) timeline.fold(p);
  assert.deepEqual([b.pts, b.dts], [100_000n, 97000n]);
  assert.deepEqual([c.pts, c.dts], [101_920n, 98_920n]);
});
