import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudioGate } from '../../src/live/audio-gate.js';

test('audio waits for the video of its time, then leaves in order', () => {
  const gate = new AudioGate<string>();
  // Before any video has gone out, everything waits.
  assert.deepEqual(gate.push(0.0, 'a0'), []);
  assert.deepEqual(gate.push(0.02, 'a1'), []);
  assert.deepEqual(gate.push(0.04, 'a2'), []);
  assert.deepEqual(gate.videoSent(0.0), ['a0']);
  assert.deepEqual(gate.videoSent(0.0333), ['a1']);
  // Video runs ahead: audio up to its time follows at once.
  assert.deepEqual(gate.videoSent(0.05), ['a2']);
  assert.deepEqual(gate.push(0.045, 'late'), ['late'], 'audio whose video already went out is not held');
  assert.deepEqual(gate.push(0.06, 'a3'), []);
  // Time never goes back: an older video time releases nothing new.
  assert.deepEqual(gate.videoSent(0.01), []);
  assert.equal(gate.size, 1);
  assert.deepEqual(gate.drain(), ['a3']);
  assert.equal(gate.size, 0);
});

test('a stalled video holds at most maxHeld items: the oldest go out anyway, and are counted', () => {
  const gate = new AudioGate<number>({ maxHeld: 3 });
  const out = [0, 1, 2, 3, 4].flatMap((i) => gate.push(i * 0.02, i));
  assert.deepEqual(out, [0, 1]);
  assert.equal(gate.overflowed, 2);
  assert.deepEqual(gate.videoSent(10), [2, 3, 4]);
});
