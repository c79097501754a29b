import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO } from '../helpers.js';

/** The page's pure parts, run here as the browser runs them: the same files, no build step. */

interface ServerFrame {
  time: number;
  rtp?: number;
  badge: string;
  rung?: string;
}
type Matched = (ServerFrame & { index: number }) | undefined;
interface Stats {
  startedAt?: string;
  rungFrames?: { rung: string; frames: number }[];
  repeated?: number;
}

const page = (file: string) => import(pathToFileURL(join(REPO, 'web', file)).href);
const { matchFrames } = (await page('inspector.js')) as { matchFrames: (captured: (number | undefined)[], frames: ServerFrame[]) => Matched[] };
const { slotRates } = (await page('charts.js')) as { slotRates: (previous: Stats | undefined, current: Stats, seconds: number) => Record<string, number> | undefined };

test("the inspector matches captured frames to the server's on the nearest RTP timestamp, within half a frame", () => {
  // 8000 and 16000 lie more than half a frame outside the server's list: frames it no longer holds, or not yet.
  const frames = [0, 1, 2, 3].map((i) => ({ time: i / 60, rtp: 10_000 + 1500 * i, badge: i % 2 ? 'blend' : 'original', ...(i % 2 ? { rung: 'blend' } : {}) }));
  const matched = matchFrames([10_000, 11_501, 14_400, 8_000, 16_000, undefined], frames);
  assert.deepEqual(
    matched.map((m) => m && [m.index, m.badge]),
    [[0, 'original'], [1, 'blend'], [3, 'blend'], undefined, undefined, undefined],
  );
  assert.equal(matched[1]!.rung, 'blend');
});

test('RTP timestamps wrap at 32 bits: frames either side of the wrap still match', () => {
  const frames = [0, 1, 2].map((i) => ({ time: i / 60, rtp: (2 ** 32 - 1500 + 1500 * i) % 2 ** 32, badge: 'original' }));
  assert.deepEqual(
    matchFrames([2 ** 32 - 1500, 0, 1500], frames).map((m) => m?.index),
    [0, 1, 2],
  );
  // A frame with no timestamp on the server (no viewer then) is never matched.
  assert.deepEqual(matchFrames([5], [{ time: 0, badge: 'original' }]), [undefined]);
});

test('the chart counts slots per second by rung, repeats as dup, and nothing across a restart', () => {
  const before = { rungFrames: [{ rung: 'frc-ifnet-fast', frames: 100 }, { rung: 'blend', frames: 10 }], repeated: 1 };
  const after = { rungFrames: [{ rung: 'frc-ifnet-fast', frames: 156 }, { rung: 'blend', frames: 12 }, { rung: 'dup', frames: 1 }], repeated: 2 };
  assert.deepEqual(slotRates(before, after, 2), { 'frc-ifnet-fast': 28, blend: 1, dup: 1 });
  assert.equal(slotRates(undefined, after, 1), undefined, 'no rate from one sample');
  assert.equal(slotRates(after, before, 1), undefined, 'counters that went back are a new stream');
});
