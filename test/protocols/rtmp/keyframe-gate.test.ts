import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyframeGate } from '../../../src/protocols/rtmp/keyframe-gate.js';

test('a new connection gets nothing before a video keyframe, then everything', () => {
  const gate = new KeyframeGate();
  const passed = (
    [
      ['audio', true],
      ['video', false],
      ['video', true],
      ['audio', true],
      ['video', false],
    ] as const
  ).map(([kind, keyframe]) => gate.pass(kind, keyframe));
  assert.deepEqual(passed, [false, false, true, true, true]);
});

test('reconnecting closes the gate until the next keyframe', () => {
  const gate = new KeyframeGate();
  assert.equal(gate.pass('video', true), true);
  gate.reset();
  assert.equal(gate.pass('video', false), false, 'a delta frame cannot start a stream');
  assert.equal(gate.pass('audio', true), false, 'nor can audio');
  assert.equal(gate.pass('video', true), true);
});
