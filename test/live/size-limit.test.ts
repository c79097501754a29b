import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SizeLimit } from '../../src/live/size-limit.js';

test('a frame within the limit passes, the limit itself included', () => {
  const limit = new SizeLimit(1280, 720);
  assert.equal(limit.check(1280, 720), undefined);
  assert.equal(limit.check(640, 360), undefined);
  assert.equal(limit.check(1, 1), undefined);
});

test('a frame over either side is refused with its size and the limit', () => {
  const limit = new SizeLimit(640, 480);
  assert.equal(limit.check(800, 600), "the video is 800x600, over this server's limit of 640x480");
  assert.equal(limit.check(641, 100), "the video is 641x100, over this server's limit of 640x480");
  assert.equal(limit.check(100, 481), "the video is 100x481, over this server's limit of 640x480");
});

test('an unset side has no limit, and says so', () => {
  assert.equal(new SizeLimit().check(7680, 4320), undefined);
  assert.equal(new SizeLimit(undefined, 200).check(10_000, 200), undefined);
  assert.equal(new SizeLimit(undefined, 200).check(320, 240), "the video is 320x240, over this server's limit of ∞x200");
});
