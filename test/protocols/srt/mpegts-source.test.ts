import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import '../../../src/base/polyfills.js';
import { captureFfmpegLog } from '../../../src/base/ffmpeg-log.js';
import { MpegTsSource, mpegtsInput } from '../../../src/protocols/srt/mpegts-source.js';

captureFfmpegLog();

/** Two seconds of 30 fps H.264 in MPEG-TS, as an SRT publisher's payloads carry it. */
function twoSeconds(): Buffer {
  const args = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=30', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-bf', '0', '-f', 'mpegts', '-'];
  return execFileSync('ffmpeg', args, { maxBuffer: 64 << 20 });
}

/**
 * `ts` in SRT-sized pieces about as fast as a publisher sends them, pushed
 * as `SrtServer` pushes, then `after` (if any) for `afterMs`, then its end.
 */
function publisher(ts: Buffer, after?: () => Buffer, afterMs = 0): Readable {
  const out = new Readable({ read: () => {} });
  void (async () => {
    for (let at = 0; at < ts.length && !out.destroyed; at += 1316) {
      out.push(ts.subarray(at, at + 1316));
      await sleep(15);
    }
    const until = performance.now() + afterMs;
    while (after && performance.now() < until && !out.destroyed) {
      out.push(after());
      await sleep(5);
    }
    if (!out.destroyed) out.push(null);
  })();
  return out;
}

test('an MPEG-TS stream decodes to its frames and ends when its publisher does', async () => {
  const source = await MpegTsSource.open(publisher(twoSeconds()), { name: 'test' });
  assert.equal(source.videoCodec, 'h264');
  let frames = 0;
  let encoded = 0;
  for await (const item of source.read()) {
    if (item.kind === 'video') {
      frames++;
      item.frame.free();
    } else if (item.kind === 'encoded') encoded++;
  }
  await source[Symbol.asyncDispose]();
  // The last few may be lost with the end of the input (see `publisher`).
  assert.ok(frames >= 50 && frames <= 60, `${frames} frames of 60`);
  assert.equal(encoded, frames, 'each H.264 access unit also comes out as it came, for viewers of the original');
});

test('garbage after good video ends the stream with the reason, and drops the publisher', async () => {
  const ts = publisher(twoSeconds(), () => randomBytes(1316), 30_000);
  const source = await MpegTsSource.open(ts, { name: "stream 'junk'", stallMs: 1000 });
  let frames = 0;
  const started = performance.now();
  await assert.rejects(
    (async () => {
      for await (const item of source.read()) {
        if (item.kind === 'video') {
          frames++;
          item.frame.free();
        }
      }
    })(),
    /stream 'junk': (no video for 1 s|the video no longer decodes).*: dropped/,
  );
  const ms = performance.now() - started;
  await source[Symbol.asyncDispose]();
  assert.ok(frames >= 55, `the good part decoded: ${frames} frames`);
  assert.ok(ms < 8000, `ended within seconds of the garbage, not ${ms.toFixed(0)} ms`);
  assert.ok(ts.destroyed, 'the publisher is dropped');
});

test('a stream that is garbage from the start fails to open, and its publisher is dropped', async () => {
  const ts = publisher(randomBytes(188 * 700));
  await assert.rejects(mpegtsInput(ts, { name: "stream 'junk'" }).open(), /stream 'junk'/);
  assert.ok(ts.destroyed);
});
