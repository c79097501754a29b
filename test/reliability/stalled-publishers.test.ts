import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { assertKeepsRate, steadyStream } from './reliability-helpers.js';
import { RawRtmp, readFlvTags, rtmpMessage } from './rtmp-client.js';

/** RTMP publishers that publish and then send no video (issue #28, case 5): each must give its stream slot back. */

test('publishers that send only Window-Acks, or only audio stamped 0, fail after the start-up timeout and are dropped; their keys and slots are free again', async (t) => {
  const dir = tempDir(t);
  const { http, rtmp, streams } = await startServer(t, { startTimeoutMs: 2000, limits: { maxStreams: 3 } });
  await steadyStream(t, rtmp, streams, 'steady', 30);
  const port = Number(new URL(rtmp('x')).port);
  const flv = join(dir, 'audio.flv');
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=20', '-c:a', 'aac', '-f', 'flv', flv]);
  const audio = readFlvTags(readFileSync(flv)).filter((tag) => tag.kind === 8);

  const ackOnly = await RawRtmp.open(port);
  await ackOnly.publish('ack');
  const muted = await RawRtmp.open(port);
  await muted.publish('mute');
  t.after(() => [ackOnly, muted].forEach((c) => c.destroy()));
  const size = Buffer.alloc(4);
  size.writeUInt32BE(2_500_000);
  let sent = 0;
  const keepAlive = setInterval(() => {
    ackOnly.write(rtmpMessage(2, 3, 0, 0, size, 128)); // Window Acknowledgement Size, nothing else
    for (let i = 0; i < 5; i++) muted.write(rtmpMessage(4, 8, 1, 0, audio[sent++ % audio.length]!.body)); // every tag stamped 0
  }, 100);
  t.after(() => clearInterval(keepAlive));
  // Both hold a slot: the server is full meanwhile.
  assert.equal((await fetch(`${http}/readyz`)).status, 503);

  const started = Date.now();
  const failed = await until('both stalled streams to fail', 10_000, async () => {
    const list = (await streams()).filter((s) => s.key === 'ack' || s.key === 'mute');
    return list.length === 2 && list.every((s) => s.state === 'failed') ? list : undefined;
  });
  const after = Date.now() - started;
  await Promise.race([Promise.all([ackOnly.closed, muted.closed]), new Promise((resolve) => setTimeout(resolve, 5000))]);
  clearInterval(keepAlive);
  t.diagnostic(`${failed.map((s) => `${s.key}: ${s.state}: ${s.error}`).join('; ')}; after ${after} ms; sockets closed: ${ackOnly.socket.destroyed}, ${muted.socket.destroyed}`);
  for (const s of failed) assert.match(s.error ?? '', /no video .* within 2 s/);
  assert.ok(ackOnly.socket.destroyed && muted.socket.destroyed, 'the publishers were dropped');
  // Their slots and keys are free again.
  await until('/readyz ready', 5000, async () => ((await fetch(`${http}/readyz`)).status === 200 ? true : undefined));
  for (const key of ['ack', 'mute']) {
    const again = await RawRtmp.open(port);
    await again.publish(key); // throws unless Publish.Start
    again.destroy();
  }
  await assertKeepsRate(streams);
});
