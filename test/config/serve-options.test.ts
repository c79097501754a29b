import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIMITS, recordsAny, streamSettingsFor } from '../../src/config/serve-options.js';

test('a key\'s settings: its streams entry over the server-wide options and limits', () => {
  const options = { factor: 3, semantic: true, record: false, encoderPreset: 'superfast' as const, streams: { cam: { model: 'blend', factor: 2, maxWidth: 640, record: true, encoderPreset: 'auto' as const }, fast: { model: 'fast' } } };
  const limits = { ...DEFAULT_LIMITS, maxHeight: 720 };
  assert.deepEqual(streamSettingsFor(options, limits, 'cam'), {
    kind: 'blend',
    factor: 2,
    maxWidth: 640,
    maxHeight: 720,
    maxBitrateKbps: DEFAULT_LIMITS.maxBitrateKbps,
    semantic: true,
    encoderPreset: 'auto',
    record: true,
  });
  const other = streamSettingsFor(options, limits, 'other');
  assert.deepEqual([other.factor, other.maxWidth, other.record, other.encoderPreset, 'kind' in other], [3, DEFAULT_LIMITS.maxWidth, false, 'superfast', false]);
  assert.equal(streamSettingsFor({}, limits, 'other').encoderPreset, 'auto', 'auto unless configured');
  // A stream's `fast` unsets a server-wide model choice.
  const fast = streamSettingsFor({ kind: 'blend', streams: { fast: { model: 'fast' } } }, limits, 'fast');
  assert.ok('kind' in fast && fast.kind === undefined);
});

test('recordDir is needed when the server or any one key records', () => {
  assert.equal(recordsAny({}), false);
  assert.equal(recordsAny({ record: true }), true);
  assert.equal(recordsAny({ streams: { a: {}, b: { record: true } } }), true);
  assert.equal(recordsAny({ streams: { a: { record: false } } }), false);
});
