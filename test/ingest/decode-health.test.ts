import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeHealth } from '../../src/ingest/decode-health.js';

function feed(health: DecodeHealth, packets: number, frames: number): void {
  for (let i = 0; i < packets; i++) health.packet();
  for (let i = 0; i < frames; i++) health.frame();
}

test('video that stops decoding while its packets keep coming is noticed after one window', () => {
  const health = new DecodeHealth();
  feed(health, 30, 30);
  assert.equal(health.check(0, 1000), undefined, 'the window opens');
  feed(health, 30, 29);
  assert.equal(health.check(1000, 1000), undefined, 'decoding: every packet a frame, less the decoder delay');
  feed(health, 30, 2);
  assert.equal(health.check(1500, 1000), undefined, 'not before the window is over');
  assert.equal(health.check(2000, 1000), 'the video no longer decodes (30 packets, 2 frames in 1 s)');
});

test('before its first frame, and with few packets, nothing counts', () => {
  const health = new DecodeHealth();
  feed(health, 300, 0);
  assert.equal(health.check(0, 1000), undefined);
  assert.equal(health.check(5000, 1000), undefined, 'joined mid-GOP: waiting for a keyframe');
  feed(health, 1, 1);
  health.check(6000, 1000);
  feed(health, 5, 0);
  assert.equal(health.check(7000, 1000), undefined, 'a trickle of packets is no evidence');
});
