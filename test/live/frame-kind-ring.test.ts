import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameKindRing, frameBadge } from '../../src/live/frame-kind-ring.js';

test('each way the engine makes a frame has its badge: originals, model rungs, still pairs, blend, dup and repeats', () => {
  assert.equal(frameBadge('original'), 'original');
  assert.equal(frameBadge('interpolated', 'frc-ifnet-fast'), 'model');
  assert.equal(frameBadge('fallback', 'frc-ifnet-fast/reuse'), 'model');
  assert.equal(frameBadge('interpolated', 'still'), 'still');
  assert.equal(frameBadge('interpolated', 'blend'), 'blend');
  assert.equal(frameBadge('fallback', 'blend'), 'blend');
  assert.equal(frameBadge('fallback', 'dup'), 'dup');
  // A repeated input frame (a cut, a long gap) is what dup makes, whatever ran before.
  assert.equal(frameBadge('repeated'), 'dup');
});

test('the ring keeps the last frames in order, with their RTP timestamps and rungs', () => {
  const ring = new FrameKindRing(4);
  assert.deepEqual(ring.list(), []);
  ring.record({ time: 0, rtp: 1000, badge: 'original', rung: 'ignored on an original' });
  ring.record({ time: 1 / 60, rtp: 2500, badge: 'model', rung: 'frc-ifnet-fast' });
  assert.deepEqual(ring.list(), [
    { time: 0, rtp: 1000, badge: 'original' },
    { time: 1 / 60, rtp: 2500, badge: 'model', rung: 'frc-ifnet-fast' },
  ]);
  for (let i = 2; i < 7; i++) ring.record({ time: i / 60, ...(i % 2 ? { rtp: 1000 + 1500 * i } : {}), badge: i % 3 === 0 ? 'blend' : 'dup', ...(i % 3 === 0 ? { rung: 'blend' } : {}) });
  assert.equal(ring.recorded, 7);
  // Only the last four are left, oldest first; a frame no viewer got has no timestamp.
  assert.deepEqual(ring.list(), [
    { time: 3 / 60, rtp: 5500, badge: 'blend', rung: 'blend' },
    { time: 4 / 60, badge: 'dup' },
    { time: 5 / 60, rtp: 8500, badge: 'dup' },
    { time: 6 / 60, badge: 'blend', rung: 'blend' },
  ]);
});

test('RTP timestamps keep their full 32 bits, and rung names are bounded', () => {
  const ring = new FrameKindRing(100);
  ring.record({ time: 1, rtp: 0xffffffff, badge: 'model', rung: 'a' });
  assert.equal(ring.list()[0]!.rtp, 0xffffffff);
  // A synthesizer naming every frame anew cannot grow the table of names without bound: past it, frames lose the name, not the badge.
  for (let i = 0; i < 99; i++) ring.record({ time: 2 + i, badge: 'model', rung: `rung-${i}` });
  const listed = ring.list();
  assert.equal(listed.length, 100);
  assert.ok(listed.every((f) => f.badge === 'model'));
  assert.equal(new Set(listed.map((f) => f.rung).filter((r) => r !== undefined)).size, 64);
  assert.equal(listed.at(-1)!.rung, undefined);
});

test('a ring without room is refused', () => {
  assert.throws(() => new FrameKindRing(0), RangeError);
  assert.throws(() => new FrameKindRing(2.5), RangeError);
});
