import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir } from '../helpers.js';
import { BIRDS, startServer, until } from '../live-helpers.js';
import { assertHlsWhole, assertKeepsRate, fillDisk, steadyStream, tinyDisk } from './reliability-helpers.js';

/** A disk that fills up under a live stream (issue #28, case 2), on a real tmpfs of 1 MiB. */

test('a recording whose disk fills up fails alone, with the reason and a warning; the stream, its HLS and the server go on', async (t) => {
  const dir = tempDir(t);
  const disk = tinyDisk(t, 1 << 20);
  if ('skip' in disk) return t.skip(disk.skip);
  fillDisk(disk.dir, 64 * 1024);
  mkdirSync(join(dir, 'hls'));
  const { http, rtmp, streams, log } = await startServer(t, { record: true, recordDir: disk.dir, hlsRoot: join(dir, 'hls') });
  await steadyStream(t, rtmp, streams, 'steady', 30);
  const failed = await until('the recording failed', 15_000, async () => {
    const s = (await streams()).find((x) => x.key === 'steady');
    return s?.recording?.state === 'failed' ? s : undefined;
  });
  t.diagnostic(`recording: ${failed.recording?.state}: ${failed.recording?.error}; stream ${failed.state}`);
  assert.match(failed.recording?.error ?? '', /No space left on device/);
  assert.ok(
    log.lines.some((line) => line.startsWith('warn:') && line.includes('the recording failed')),
    log.lines.filter((line) => line.startsWith('warn:')).join('\n'),
  );
  const s = await assertKeepsRate(streams);
  await assertHlsWhole(http, 'steady', dir);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
  t.diagnostic(`after: ${s.state}, ${s.measuredFps} fps out`);
});

test('an HLS directory whose disk fills up fails the stream with the reason, instead of listing truncated segments as live', async (t) => {
  const disk = tinyDisk(t, 1 << 20);
  if ('skip' in disk) return t.skip(disk.skip);
  const { http, rtmp, streams, log } = await startServer(t, { hlsRoot: disk.dir });
  await steadyStream(t, rtmp, streams, 'steady', 30);
  fillDisk(disk.dir, 16 * 1024);
  const ended = await until('the stream failed', 15_000, async () => {
    const s = (await streams()).find((x) => x.key === 'steady');
    return s && s.state !== 'live' ? s : undefined;
  });
  t.diagnostic(`stream: ${ended.state}: ${ended.error}`);
  assert.equal(ended.state, 'failed');
  assert.match(ended.error ?? '', /HLS.*No space left on device/);
  assert.ok(log.lines.some((line) => line.startsWith('warn:') && line.includes('No space left on device')), log.lines.join('\n'));
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
});

test('frc convert onto a disk that fills up stops with one line naming the cause, not a crash', async (t) => {
  const disk = tinyDisk(t, 200 * 1024);
  if ('skip' in disk) return t.skip(disk.skip);
  const run = await runCli(['convert', BIRDS, join(disk.dir, 'out.mp4'), '--interp', 'blend'], 120_000);
  t.diagnostic(`exit ${run.code}: ${run.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  assert.equal(run.code, 1);
  assert.equal(run.stderr.trim(), 'frc: error: Failed to write packet: No space left on device');
});
