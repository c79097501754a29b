import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { tempDir } from '../helpers.js';
import { publish, startServer, until } from '../live-helpers.js';
import { chromiumMissing, fakeCameraClip, launchChromium } from '../browser/chromium.js';

const missing = chromiumMissing();
const stream = (list: LiveStreamStats[], key: string) => list.find((s) => s.key === key);

/** Decoded video frames of one of the viewer page's peers, and its audio, as the browser reports them. */
async function received(page: Page, peer: 'viewer' | 'original') {
  return page.evaluate(`(async () => {
    const result = { frames: 0, at: performance.now(), audioPackets: 0, audioEnergy: 0 };
    const report = await window.frc.${peer}.getStats();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') Object.assign(result, { frames: s.framesDecoded ?? 0, codec: s.codecId ? report.get(s.codecId)?.mimeType : undefined });
      if (s.kind === 'audio') Object.assign(result, { audioPackets: s.packetsReceived ?? 0, audioEnergy: s.totalAudioEnergy ?? 0, audioCodec: s.codecId ? report.get(s.codecId)?.mimeType : undefined });
    });
    return result;
  })()`) as Promise<{ frames: number; at: number; codec?: string; audioPackets: number; audioEnergy: number; audioCodec?: string }>;
}

test('an RTMP publish (H.264 + AAC) plays on the page: the original relayed at 30 fps, upconverted at 60 fps, its AAC as Opus', { skip: missing }, async (t) => {
  const dir = tempDir(t);
  const browser = await launchChromium(fakeCameraClip(dir));
  t.after(() => browser.close());
  const { http, rtmp, streams } = await startServer(t);
  const seconds = 25;
  const publisher = publish(rtmp('rtmpcam'), ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`]);
  t.after(() => publisher.child.kill('SIGKILL'));
  await until('rtmpcam live', 15_000, async () => (stream(await streams(), 'rtmpcam')?.state === 'live' ? true : undefined));

  const viewer = await browser.newPage();
  await viewer.goto(`${http}/?key=rtmpcam`);
  await viewer.click('#watch');
  await viewer.waitForFunction(`/^Watching/.test(document.getElementById('status').textContent)`, undefined, { timeout: 15_000 });
  // RTMP keyframes come every GOP (1 s here): the original starts at the next one.
  await until('both decoding', 10_000, async () => ((await received(viewer, 'original')).frames > 15 && (await received(viewer, 'viewer')).frames > 30 ? true : undefined));

  const before = { up: await received(viewer, 'viewer'), original: await received(viewer, 'original') };
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const after = { up: await received(viewer, 'viewer'), original: await received(viewer, 'original') };
  const server = stream(await streams(), 'rtmpcam')!;
  const fps = (a: { frames: number; at: number }, b: { frames: number; at: number }) => ((b.frames - a.frames) * 1000) / (b.at - a.at);
  const upFps = fps(before.up, after.up);
  const originalFps = fps(before.original, after.original);
  const audioPackets = after.up.audioPackets - before.up.audioPackets;
  t.diagnostic(
    `original ${originalFps.toFixed(1)} fps (${after.original.codec}), upconverted ${upFps.toFixed(1)} fps (${after.up.codec}); ` +
      `audio ${audioPackets} packets in 5 s (${after.up.audioCodec}), energy ${after.up.audioEnergy.toFixed(3)}; original peer audio packets ${after.original.audioPackets}; ` +
      `server: ${server.webrtcAudio} to WebRTC, held ${server.audioHoldMs} ms, video latency ${server.latencyMs} ms, ${server.viewers} + ${server.originalViewers} viewers`,
  );
  assert.equal(after.original.codec, 'video/H264');
  assert.ok(originalFps >= 25 && originalFps <= 35, `original at ${originalFps.toFixed(1)} fps`);
  assert.ok(upFps >= 55, `upconverted at ${upFps.toFixed(1)} fps`);
  assert.equal(server.webrtcAudio, 'transcode');
  assert.equal(after.up.audioCodec, 'audio/opus');
  assert.ok(audioPackets >= 200, `${audioPackets} Opus packets in 5 s`);
  assert.ok(after.up.audioEnergy > 0, 'the sine was heard');
  assert.equal(server.viewers, 1);
  assert.equal(server.originalViewers, 1);
});
