import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { LiveStreamStats } from '../src/live/live-stream.js';
import { tempDir } from './helpers.js';
import { startServer, until } from './live-helpers.js';
import { chromiumMissing, fakeCameraClip, launchChromium } from './browser/chromium.js';

const missing = chromiumMissing();
const stream = (list: LiveStreamStats[], key: string) => list.find((s) => s.key === key);

/** The viewer page's decoded-frame counter and the browser's timestamp for it (ms). */
async function decoded(page: Page): Promise<{ frames: number; at: number; width?: number; height?: number; codec?: string }> {
  // Runs in the page (as source text: the test build has no DOM types).
  return page.evaluate(`(async () => {
    let result = { frames: 0, at: performance.now() };
    const report = await window.frc.viewer.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        const codec = s.codecId ? report.get(s.codecId)?.mimeType : undefined;
        result = { frames: s.framesDecoded ?? 0, at: performance.now(), width: s.frameWidth, height: s.frameHeight, codec };
      }
    });
    return result;
  })()`);
}

/** Waits until the page's status line matches. */
async function statusSays(page: Page, pattern: RegExp, timeout = 15_000): Promise<void> {
  await page.waitForFunction(`${pattern}.test(document.getElementById('status').textContent)`, undefined, { timeout });
}

async function publishFromPage(page: Page, http: string, key: string): Promise<void> {
  await page.goto(http);
  await page.fill('#key', key);
  await page.click('#publish-camera');
  await statusSays(page, /^Publishing/);
}

test('the page publishes a 30 fps camera via WHIP; a second page plays it via WHEP at 60 fps; a vanished publisher ends only its stream', { skip: missing }, async (t) => {
  const dir = tempDir(t);
  const browser = await launchChromium(fakeCameraClip(dir));
  t.after(() => browser.close());
  const { http, streams } = await startServer(t, { whipIdleTimeoutMs: 2000 });

  const publisher = await browser.newPage();
  await publishFromPage(publisher, http, 'cam');
  await until('cam live', 20_000, async () => (stream(await streams(), 'cam')?.state === 'live' ? true : undefined));

  const viewer = await browser.newPage();
  await viewer.goto(http);
  await viewer.fill('#key', 'cam');
  await viewer.click('#watch');
  await statusSays(viewer, /^Watching/);
  // Let the first keyframe arrive and the jitter buffer settle.
  await until('frames decoded', 10_000, async () => ((await decoded(viewer)).frames > 30 ? true : undefined));

  const before = await decoded(viewer);
  const engineBefore = stream(await streams(), 'cam')!;
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const after = await decoded(viewer);
  const engineAfter = stream(await streams(), 'cam')!;
  const fps = ((after.frames - before.frames) * 1000) / (after.at - before.at);
  const interpolated = engineAfter.interpolated - engineBefore.interpolated;
  t.diagnostic(
    `viewer decoded ${after.frames - before.frames} frames in ${((after.at - before.at) / 1000).toFixed(2)} s = ${fps.toFixed(1)} fps (${after.codec} ${after.width}x${after.height}); ` +
      `server: ${engineAfter.protocol} ${engineAfter.codec} in ${engineAfter.inputFps} fps, out ${engineAfter.outputFps} fps, +${interpolated} interpolated, latency ${engineAfter.latencyMs} ms, ${engineAfter.viewers} viewer(s), ring drops ${engineAfter.ringDrops}`,
  );
  assert.ok(fps >= 55, `the viewer received ${fps.toFixed(1)} fps`);
  assert.equal(after.codec, 'video/H264');
  assert.deepEqual([after.width, after.height], [320, 240]);
  assert.equal(engineAfter.protocol, 'whip');
  assert.ok(engineAfter.inputFps >= 25 && engineAfter.inputFps <= 35, `input ${engineAfter.inputFps} fps`);
  // Every other output frame is made by the interpolator: about 30 a second.
  assert.ok(interpolated >= 250, `${interpolated} frames interpolated in 10 s`);
  assert.equal(engineAfter.viewers, 1);
  assert.ok(engineAfter.latencyMs !== undefined && engineAfter.latencyMs < 500, `latency ${engineAfter.latencyMs} ms`);

  // A second publisher on the same key is refused while the first is live.
  const second = await browser.newPage();
  await second.goto(http);
  await second.fill('#key', 'cam');
  await second.click('#publish-camera');
  await statusSays(second, /409: this stream key is already live/);

  // Another stream on another key: it must outlive cam's publisher.
  await publishFromPage(second, http, 'other');
  await until('other live', 20_000, async () => (stream(await streams(), 'other')?.state === 'live' ? true : undefined));

  // cam's publisher vanishes without a word (its page is gone): cam ends, its viewer is let go, other runs on.
  await publisher.close();
  const ended = await until('cam to end', 15_000, async () => {
    const s = stream(await streams(), 'cam');
    return s?.state === 'ended' || s?.state === 'failed' ? s : undefined;
  });
  assert.equal(ended.state, 'ended', ended.error);
  assert.equal(ended.viewers, 0, 'the viewer was closed with the stream');
  assert.match(await (await fetch(`${http}/hls/cam/index.m3u8`)).text(), /#EXT-X-ENDLIST/);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const other = stream(await streams(), 'other')!;
  assert.equal(other.state, 'live');
  assert.ok(other.outputFps > 40, `other still runs: ${other.outputFps} fps out`);
});
