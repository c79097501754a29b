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
interface Plane {
  luma: Uint8Array;
  width: number;
  height: number;
}
const { blockMotion, halfLuma } = (await page('motion.js')) as {
  blockMotion: (previous: Plane, current: Plane) => { x: number; y: number; dx: number; dy: number }[];
  halfLuma: (rgba: Uint8ClampedArray, width: number, height: number) => Plane;
};
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

/** A textured plane (no two blocks alike) with its content moved by (dx, dy). */
function texture(width: number, height: number, dx: number, dy: number): Plane {
  const luma = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x - dx;
      const v = y - dy;
      luma[y * width + x] = (((u * 37) ^ (v * 91)) + ((u * v) % 53)) & 0xff;
    }
  }
  return { luma, width, height };
}

test('the motion overlay finds how the blocks moved, and draws nothing for a still or flat picture', () => {
  const moved = blockMotion(texture(64, 48, 0, 0), texture(64, 48, 3, -2));
  assert.ok(moved.length >= 12, `${moved.length} blocks`);
  assert.deepEqual([...new Set(moved.map((v) => `${v.dx},${v.dy}`))], ['3,-2']);
  const still = blockMotion(texture(64, 48, 0, 0), texture(64, 48, 0, 0));
  assert.ok(still.length > 0 && still.every((v) => v.dx === 0 && v.dy === 0));
  const flat = { luma: new Uint8Array(64 * 48).fill(128), width: 64, height: 48 };
  assert.deepEqual(blockMotion(flat, flat), []);
});

test('luma is taken at half size from RGBA', () => {
  // 4x2 pixels: a white 2x2 square, then a black one.
  const rgba = new Uint8ClampedArray(4 * 2 * 4);
  for (const i of [0, 1, 4, 5]) rgba.set([255, 255, 255, 255], i * 4);
  const plane = halfLuma(rgba, 4, 2);
  assert.deepEqual([plane.width, plane.height, [...plane.luma]], [2, 1, [255, 0]]);
});
