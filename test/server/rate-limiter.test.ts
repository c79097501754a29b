import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../../src/server/rate-limiter.js';

test('a burst, then the sustained rate; clients are counted apart', () => {
  const limiter = new RateLimiter({ perSecond: 2, burst: 3 });
  const at = (ms: number, client = 'a') => limiter.take(client, ms);
  assert.deepEqual([at(0), at(0), at(0)].map((v) => v.ok), [true, true, true]);
  assert.deepEqual(at(0), { ok: false, retryAfterSeconds: 1 });
  assert.equal(at(0, 'b').ok, true, 'another client has its own bucket');
  assert.equal(at(400).ok, false, '0.8 of a token after 400 ms');
  assert.equal(at(500).ok, true, 'one token after 500 ms');
  assert.equal(at(500).ok, false);
  assert.equal(at(10_000).ok, true, 'refilled, but never past the burst');
  assert.equal(at(10_000).ok, true);
  assert.equal(at(10_000).ok, true);
  assert.equal(at(10_000).ok, false);
});

test('Retry-After says when the next token comes, in whole seconds', () => {
  const limiter = new RateLimiter({ perSecond: 0.25, burst: 1 });
  assert.equal(limiter.take('a', 0).ok, true);
  assert.deepEqual(limiter.take('a', 0), { ok: false, retryAfterSeconds: 4 });
  assert.deepEqual(limiter.take('a', 3000), { ok: false, retryAfterSeconds: 1 });
});

test('memory is bounded: idle clients are forgotten first, then the oldest', () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 2, maxClients: 3 });
  limiter.take('busy', 0);
  limiter.take('busy', 0);
  limiter.take('idle1', 0);
  limiter.take('idle2', 0);
  assert.equal(limiter.clients, 3);
  // At 5 s the idle ones have refilled and go; 'busy' has too, so all three go before the newcomer.
  limiter.take('new', 5000);
  assert.equal(limiter.clients, 1);
  // Nobody has refilled at once: the oldest make room.
  for (const c of ['x', 'y']) limiter.take(c, 5000);
  limiter.take('z', 5000);
  assert.equal(limiter.clients, 3);
  assert.equal(limiter.take('new', 5000).ok, true, 'the oldest ("new") was forgotten, so it starts full again');
});
