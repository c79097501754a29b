import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitrateGuard } from '../../src/live/bitrate-guard.js';

/** Feeds `kbps` of media for `seconds` in 33 ms steps starting at `from` bytes/ms; returns the first rate reported over the limit and when. */
function feed(guard: BitrateGuard, state: { bytes: number; now: number }, kbps: number, seconds: number, burstBytes = 0) {
  const end = state.now + seconds * 1000;
  state.bytes += burstBytes;
  while (state.now < end) {
    state.now += 33;
    state.bytes += (kbps * 1000 * 0.033) / 8;
    const over = guard.check(state.bytes, state.now);
    if (over !== undefined) return { over, at: state.now };
  }
  return undefined;
}

test('a steady publisher under the limit is never flagged, with a big first keyframe and bursts', () => {
  const guard = new BitrateGuard(2_000_000, 0);
  const state = { bytes: 0, now: 0 };
  // A 100 KB first keyframe adds 160 kbit/s to the first 5 s average.
  assert.equal(feed(guard, state, 1000, 3, 100_000), undefined);
  assert.equal(feed(guard, state, 1000, 60), undefined);
  assert.equal(feed(guard, state, 1000, 1, 100_000), undefined);
});

test('a publisher over the limit is flagged once the 5 s average is over, with that average', () => {
  const guard = new BitrateGuard(2_000_000, 0);
  const state = { bytes: 0, now: 0 };
  assert.equal(feed(guard, state, 1500, 10), undefined);
  const flagged = feed(guard, state, 4000, 10);
  assert.ok(flagged, 'flagged');
  // From 1.5 to 4 Mbit/s: the 5 s average passes 2 Mbit/s a fifth of the way into the window.
  assert.ok(flagged.at > 10_000 + 900 && flagged.at < 10_000 + 1300, `at ${flagged.at}`);
  assert.ok(flagged.over > 2_000_000 && flagged.over < 2_100_000, `${flagged.over}`);
});

test('a flood from the start is flagged within the first window', () => {
  const guard = new BitrateGuard(1_000_000, 0);
  const flagged = feed(guard, { bytes: 0, now: 0 }, 10_000, 5);
  assert.ok(flagged && flagged.at < 700, JSON.stringify(flagged));
});

test('the reason names the average and the limit as people say them', () => {
  const state = { bytes: 0, now: 0 };
  const guard = new BitrateGuard(3_000_000, 0);
  assert.equal(guard.exceeded(0, 0), undefined);
  // 10 Mbit/s for a whole window.
  state.now = 5000;
  state.bytes = (10_000_000 * 5) / 8;
  assert.equal(guard.exceeded(state.bytes, state.now), "the publisher sends 10.0 Mbit/s (5 s average), over this stream's limit of 3 Mbit/s");
  assert.match(new BitrateGuard(800_000, 0).exceeded(1_000_000, 5000) ?? '', /sends 1\.6 Mbit\/s \(5 s average\), over this stream's limit of 800 kbit\/s$/);
  assert.equal(new BitrateGuard(800_000, 0).exceeded(400_000, 5000), undefined, '640 kbit/s is under 800');
});
