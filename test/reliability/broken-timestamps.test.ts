import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { assertHlsWhole, testSignal } from './reliability-helpers.js';
import { type FlvTag, RawRtmp, testFlv } from './rtmp-client.js';

/**
 * RTMP publishers whose timestamps are useless (issue #28): all 0,
 * decreasing, or random. Their frames arrive in real time (every 33 ms) but
 * say nothing of it; the stream must restamp them on the arrival clock
 * (every frame through, a warning, `timestamps: "arrival"` in the stats).
 * FFmpeg writes timestamps all 0 (`setts`), not decreasing ones (it clamps
 * them), so those come from the bare client.
 */
const BROKEN: Record<string, (tag: FlvTag, i: number) => number> = {
  zero: () => 0,
  decreasing: (_tag, i) => 100_000 - 40 * i,
  random: (_tag, i) => Math.floor(Math.abs(Math.sin(i * 12.9898) * 43758.5453) % 1 * 20_000),
};

test('RTMP timestamps all 0 (FFmpeg, with audio), decreasing or random: every frame goes through restamped on the arrival clock, with a warning; HLS has no holes', async (t) => {
  const dir = tempDir(t);
  const { http, rtmp, streams, log } = await startServer(t);
  const port = Number(new URL(rtmp('x')).port);
  const tags = testFlv(dir, 'broken', { seconds: 6 });
  const frames = tags.filter((tag) => tag.kind === 9).length - 1; // less the sequence header
  const byFfmpeg = async () => {
    const args = ['-v', 'error', '-re', ...testSignal(6), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac'];
    const child = spawn('ffmpeg', [...args, '-bsf:v', 'setts=ts=0', '-bsf:a', 'setts=ts=0', '-f', 'flv', rtmp('ffmpeg')], { stdio: 'ignore' });
    t.after(() => child.kill('SIGKILL'));
    const live = await until('ffmpeg live', 10_000, async () => (await streams()).find((s) => s.key === 'ffmpeg' && s.state === 'live'));
    await new Promise((resolve) => child.on('close', resolve));
    const over = await until(`ffmpeg to end`, 15_000, async () => {
      const s = (await streams()).find((x) => x.key === 'ffmpeg');
      return s && (s.state === 'ended' || s.state === 'failed') ? s : undefined;
    });
    return { key: 'ffmpeg', live, over };
  };
  const results = await Promise.all([
    byFfmpeg(),
    ...Object.entries(BROKEN).map(async ([key, stamp]) => {
      const client = await RawRtmp.open(port);
      t.after(() => client.destroy());
      await client.publish(key);
      let media = 0;
      // Sent in real time by the original timestamps; stamped with the broken ones.
      await client.sendTags(tags.map((tag) => ({ tag, at: tag.timestamp, timestamp: tag.kind === 18 ? 0 : stamp(tag, media++) })));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const live = (await streams()).find((s) => s.key === key)!;
      client.end();
      const over = await until(`${key} to end`, 15_000, async () => {
        const s = (await streams()).find((x) => x.key === key);
        return s && (s.state === 'ended' || s.state === 'failed') ? s : undefined;
      });
      return { key, live, over };
    }),
  ]);
  for (const { key, live, over } of results) {
    t.diagnostic(`${key}: ${over.state} ${over.error ?? ''}: ${over.framesIn} in (+${over.ringDrops} dropped) of ${frames}, ${over.framesOut} out; timestamps ${JSON.stringify(live.timestamps)} when live, ${JSON.stringify(over.timestamps)} at the end`);
  }
  for (const { key, over } of results) {
    assert.equal(over.state, 'ended', `${key}: ${over.error}`);
    // At the end: FFmpeg's stream can be polled live before its third bad step switched it.
    assert.equal(over.timestamps, 'arrival', `${key}: restamped`);
    assert.ok(over.framesIn + over.ringDrops >= frames - 2, `${key}: ${over.framesIn} + ${over.ringDrops} of ${frames} frames in`);
    assert.ok(over.framesOut >= 2 * over.framesIn - 4, `${key}: ${over.framesOut} out for ${over.framesIn} in`);
    assert.ok(log.lines.some((line) => line.startsWith('warn') && line.includes(`'${key}'`) && /timestamps are unusable/.test(line)), `${key}: a warning`);
    await assertHlsWhole(http, key, dir);
  }
  // FFmpeg's audio, stamped 0 too, is restamped with its video: its HLS packets move forward.
  const audio = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', join(dir, 'ffmpeg.ts')], { encoding: 'utf8' });
  const times = audio.stdout.split('\n').filter(Boolean).map(Number);
  assert.ok(times.length > 50, `${times.length} audio packets in ffmpeg's HLS`);
  assert.deepEqual(times.slice(1).filter((time, i) => time <= times[i]!), [], 'audio times increase');
});
