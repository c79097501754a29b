import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionCap } from '../../../src/protocols/rtmp/connection-cap.js';

test('ConnectionCap counts per address and gives slots back on release', () => {
  const cap = new ConnectionCap(2);
  assert.deepEqual(cap.take('a', 0), { ok: true });
  assert.deepEqual(cap.take('a', 0), { ok: true });
  assert.equal(cap.take('a', 0).ok, false);
  assert.deepEqual(cap.take('b', 0), { ok: true }, 'another address has its own count');
  cap.release('a');
  assert.equal(cap.count('a'), 1);
  assert.deepEqual(cap.take('a', 0), { ok: true });
  for (const address of ['a', 'a', 'b']) cap.release(address);
  assert.equal(cap.count('a'), 0);
  assert.equal(cap.count('b'), 0);
});

test('ConnectionCap logs refusals at most once per interval per address, with the count since the last line', () => {
  const cap = new ConnectionCap(1, 10_000);
  cap.take('a', 0);
  const first = cap.take('a', 0);
  assert.ok(!first.ok && first.log?.startsWith('refused 1 connection(s) from a: it has 1 open'));
  for (let i = 0; i < 5; i++) assert.deepEqual(cap.take('a', 5000), { ok: false });
  const later = cap.take('a', 10_000);
  assert.ok(!later.ok && later.log?.startsWith('refused 6 connection(s) from a'));
  const other = cap.take('b', 10_000);
  assert.deepEqual(other, { ok: true });
});
