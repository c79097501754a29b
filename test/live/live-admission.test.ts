import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from 'node-av/lib';
import type { EncodedItem, LiveItem, LiveSource } from '../../src/ingest/live-source.js';
import { LiveAdmission } from '../../src/live/live-admission.js';

const MS = { num: 1, den: 1000 };

/** What `admit` reads and restamps of a node-av frame, and whether it was freed. */
function frame(ms: number, width = 64, height = 32) {
  return { width, height, pts: BigInt(ms), duration: 33n, timeBase: MS, freed: false, free() { this.freed = true; } };
}

test('with an announced rate, frames are restamped on its grid', () => {
  const admission = new LiveAdmission({ video: { timeBase: MS }, frameRate: { num: 30, den: 1 } }, {}, () => 0);
  assert.deepEqual(admission.timeBase, { num: 1, den: 30 });
  const f = frame(67);
  // No encoded form noted (a source that arrives decoded): no arrival, the pipeline takes "now".
  assert.deepEqual(admission.admit(f as unknown as Frame), { arrival: undefined, discontinuity: false });
  assert.deepEqual([f.pts, f.duration, f.timeBase], [2n, 0n, { num: 1, den: 30 }]);
  const unannounced = new LiveAdmission({ video: { timeBase: MS }, frameRate: undefined }, {}, () => 0);
  const g = frame(67);
  unannounced.admit(g as unknown as Frame);
  assert.deepEqual([unannounced.timeBase, g.pts, g.duration], [MS, 67n, 33n], 'without one (WebRTC), as they come');
});

test('encoded items go to the viewers of the original and start the timing of their decoded frame', async () => {
  let now = 0;
  const admission = new LiveAdmission({ video: { timeBase: MS }, frameRate: undefined }, {}, () => now);
  const items: LiveItem[] = [
    { kind: 'encoded', codec: 'H264', data: Buffer.alloc(0), keyframe: true, timestamp: 0 },
    { kind: 'encoded', codec: 'H264', data: Buffer.alloc(0), keyframe: false, timestamp: 2970 },
    { kind: 'video', frame: frame(0) as unknown as Frame },
    { kind: 'video', frame: frame(33) as unknown as Frame },
  ];
  const source = { mediaBytes: 0, read: async function* () { for (const item of items) { now += 10; yield item; } } } as unknown as LiveSource;
  const relayed: EncodedItem[] = [];
  const out = [];
  for await (const item of admission.items(source, (e) => relayed.push(e))) out.push(item);
  assert.deepEqual(relayed.map((e) => e.timestamp), [0, 2970]);
  assert.deepEqual(out.map((i) => i.kind), ['video', 'video'], 'only decoded video and audio go on');
  // Decoded later than they came in (no announced rate: timestamps used as they come).
  assert.deepEqual(admission.admit(out[0]!.kind === 'video' ? out[0].frame : (undefined as never)), { arrival: 10, discontinuity: false });
  assert.deepEqual(admission.admit(out[1]!.kind === 'video' ? out[1].frame : (undefined as never)), { arrival: 20, discontinuity: false });
});

test('a timeline reset is folded forward and marked as a discontinuity', () => {
  const admission = new LiveAdmission({ video: { timeBase: MS }, frameRate: undefined }, {}, () => 0);
  const stamps = [1000, 1033, 1067, 0, 33].map((ms) => {
    const f = frame(ms);
    const { discontinuity } = admission.admit(f as unknown as Frame);
    return [f.pts, discontinuity];
  });
  assert.deepEqual(stamps, [[1000n, false], [1033n, false], [1067n, false], [1101n, true], [1134n, false]]);
});

test('a frame over the size limit is refused with the reason', () => {
  const admission = new LiveAdmission({ video: { timeBase: MS }, frameRate: undefined }, { maxWidth: 640, maxHeight: 480 }, () => 0);
  assert.doesNotThrow(() => admission.admit(frame(0, 640, 480) as unknown as Frame));
  assert.throws(() => admission.admit(frame(33, 800, 600) as unknown as Frame), { message: "the video is 800x600, over this server's limit of 640x480" });
});

test('a publisher over the bitrate limit is dropped with the reason, and the item in hand freed', async () => {
  let now = 0;
  const admission = new LiveAdmission({ video: { timeBase: MS }, frameRate: undefined }, { maxBitrateKbps: 1000 }, () => now);
  const frames = Array.from({ length: 200 }, (_, i) => frame(i * 33));
  const source = {
    mediaBytes: 0,
    read: async function* () {
      for (const f of frames) {
        now += 33;
        source.mediaBytes += 25_000; // 6 Mbit/s
        yield { kind: 'video', frame: f as unknown as Frame } as LiveItem;
      }
    },
  };
  let passed = 0;
  await assert.rejects(
    async () => {
      for await (const item of admission.items(source as unknown as LiveSource, () => {})) if (item.kind === 'video') passed++;
    },
    { message: /^the publisher sends \d+\.\d Mbit\/s \(5 s average\), over this stream's limit of 1 Mbit\/s$/ },
  );
  assert.ok(passed > 0 && passed < 60, `${passed} frames passed before the 5 s average went over`);
  assert.ok(frames[passed]!.freed, 'the frame in hand was freed');
  assert.ok(!frames[passed - 1]!.freed, 'the frames passed on are the pipeline’s to free');
});
