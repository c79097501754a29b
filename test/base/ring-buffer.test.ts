import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingBuffer, RingBufferClosedError } from '../../src/base/ring-buffer.js';

test('delivers items in order and ends after close', async () => {
  const ring = new RingBuffer<number>({ capacity: 3, policy: 'wait' });
  await ring.push(1);
  await ring.push(2);
  ring.close();
  const seen: number[] = [];
  for await (const item of ring) seen.push(item);
  assert.deepEqual(seen, [1, 2]);
});

test("'wait' policy holds the producer until the consumer makes room", async () => {
  const ring = new RingBuffer<number>({ capacity: 2, policy: 'wait' });
  await ring.push(1);
  await ring.push(2);
  let third = false;
  const pushing = ring.push(3).then(() => (third = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(third, false, 'push into a full buffer must wait');
  assert.equal(ring.size, 2);
  assert.equal(await ring.shift(), 1);
  await pushing;
  assert.equal(third, true);
  assert.equal(ring.dropped, 0);
  assert.deepEqual([await ring.shift(), await ring.shift()], [2, 3]);
});

test("'drop-oldest' policy evicts, counts and hands back the oldest item", async () => {
  const freed: number[] = [];
  const ring = new RingBuffer<number>({ capacity: 3, policy: 'drop-oldest', onDrop: (x) => freed.push(x) });
  for (let i = 1; i <= 7; i++) await ring.push(i);
  assert.equal(ring.dropped, 4);
  assert.deepEqual(freed, [1, 2, 3, 4]);
  ring.close();
  const rest: number[] = [];
  for await (const item of ring) rest.push(item);
  assert.deepEqual(rest, [5, 6, 7]);
});

test('a waiting consumer wakes on push and on close', async () => {
  const ring = new RingBuffer<string>({ capacity: 1, policy: 'wait' });
  const first = ring.shift();
  await ring.push('a');
  assert.equal(await first, 'a');
  const second = ring.shift();
  ring.close();
  assert.equal(await second, undefined);
});

test('push after close fails; clear() releases everything and frees a blocked producer', async () => {
  const freed: number[] = [];
  const ring = new RingBuffer<number>({ capacity: 1, policy: 'wait', onDrop: (x) => freed.push(x) });
  await ring.push(1);
  const blocked = ring.push(2);
  ring.clear();
  await assert.rejects(blocked, RingBufferClosedError);
  assert.deepEqual(freed, [1]);
  assert.equal(ring.size, 0);
  await assert.rejects(ring.push(3), RingBufferClosedError);
});

test('wraps around its storage many times without losing order', async () => {
  const ring = new RingBuffer<number>({ capacity: 4, policy: 'wait' });
  const producer = (async () => {
    for (let i = 0; i < 1000; i++) await ring.push(i);
    ring.close();
  })();
  let expected = 0;
  for await (const item of ring) assert.equal(item, expected++);
  await producer;
  assert.equal(expected, 1000);
});

test('rejects a capacity that is not a positive integer', () => {
  assert.throws(() => new RingBuffer({ capacity: 0, policy: 'wait' }), RangeError);
  assert.throws(() => new RingBuffer({ capacity: 2.5, policy: 'wait' }), RangeError);
});
