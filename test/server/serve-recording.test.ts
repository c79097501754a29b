import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { probe, tempDir } from '../helpers.js';
import { publish, startServer, until } from '../live-helpers.js';

/** A publisher's input: FFmpeg's test pattern (30 fps, continuous timestamps) with a tone, for `seconds`. */
const signal = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x180:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];
import { recordingName } from '../../src/server/stream-naming.js';

/** The video packets' timestamps of a recording, in 90 kHz ticks (MPEG-TS's clock), in file order. */
function videoTicks(file: string): number[] {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  return out.split('\n').map((line) => line.replace(/,/g, '').trim()).filter((line) => line !== '').map(Number);
}

/** Every output slot is in the recording: timestamps step by exactly one output frame interval (60 fps: 1500 ticks), as the input's step by one of its own. */
function assertNoHoles(file: string): void {
  const ticks = videoTicks(file);
  const steps = new Set(ticks.slice(1).map((tick, i) => tick - ticks[i]!));
  assert.deepEqual([...steps], [1500], `steps between frames in ticks: ${[...steps].join(', ')}`);
}

test('recordingName: key, UTC start and stream id', () => {
  assert.equal(recordingName('cam', '1a2b3c4d', new Date('2026-11-21T10:45:07.123Z')), 'cam-20261121T104507-1a2b3c4d.ts');
});

test('a recorded key: its output (60 fps H.264 + AAC) is in one MPEG-TS file with every frame the engine took; other keys are not recorded', async (t) => {
  const dir = tempDir(t);
  const { rtmp, streams } = await startServer(t, { recordDir: dir, streams: { cam: { record: true } } });
  const cam = publish(rtmp('cam'), signal(3));
  const other = publish(rtmp('other'), signal(2));
  t.after(() => [cam, other].forEach((p) => p.child.kill('SIGKILL')));
  const live = await until('cam live', 15_000, async () => (await streams()).find((s) => s.key === 'cam' && s.state === 'live'));
  assert.equal(live.recording?.state, 'recording');
  assert.equal((await cam.done).code, 0);
  assert.equal((await other.done).code, 0);
  const ended = await until('both ended', 15_000, async () => {
    const list = await streams();
    return list.length === 2 && list.every((s) => s.state === 'ended') ? list : undefined;
  });
  const s = ended.find((x) => x.key === 'cam')!;
  assert.equal(ended.find((x) => x.key === 'other')!.recording, undefined);
  assert.deepEqual(readdirSync(dir), [s.recording!.file.slice(dir.length + 1)]);
  assert.equal(s.recording?.state, 'finished');
  assert.match(s.recording!.file, new RegExp(`^${dir}/cam-\\d{8}T\\d{6}-${s.id}\\.ts$`));

  const probed = probe(s.recording!.file);
  const video = probed.streams.find((x) => x.codec_type === 'video')!;
  t.diagnostic(`recorded ${video.nb_read_frames} frames of ${s.framesOut} sent out, ${s.framesIn} in of 90 published, ${s.ringDrops} dropped`);
  assert.equal(video.codec_name, 'h264');
  assert.equal(video.r_frame_rate, '60/1');
  assert.ok(probed.streams.some((x) => x.codec_type === 'audio' && x.codec_name === 'aac'), 'AAC audio');
  // Nothing accepted is lost: every published frame reached the engine, and every frame it put out is in the file.
  assert.equal(s.framesIn + s.ringDrops, 90);
  assert.equal(Number(video.nb_read_frames), s.framesOut);
  assertNoHoles(s.recording!.file);
});

test('a publisher killed mid-GOP: the recording is complete and playable up to the last frame the stream took', async (t) => {
  const dir = tempDir(t);
  const { rtmp, streams } = await startServer(t, { record: true, recordDir: join(dir, 'made/by/the/server') });
  const p = publish(rtmp('cam'), signal(10));
  t.after(() => p.child.kill('SIGKILL'));
  await until('45 frames in', 15_000, async () => ((await streams()).find((s) => s.key === 'cam' && s.framesIn >= 45) ? true : undefined));
  p.child.kill('SIGKILL'); // half-way into the second GOP, without a goodbye
  const s = await until('cam ended', 15_000, async () => (await streams()).find((x) => x.key === 'cam' && (x.state === 'ended' || x.state === 'failed')));
  assert.equal(s.state, 'ended', s.error);
  assert.equal(s.recording?.state, 'finished');
  assert.ok(existsSync(s.recording!.file));
  const video = probe(s.recording!.file).streams.find((x) => x.codec_type === 'video')!;
  t.diagnostic(`killed after ${s.framesIn} frames in: ${video.nb_read_frames} recorded of ${s.framesOut} out`);
  assert.equal(Number(video.nb_read_frames), s.framesOut);
  assert.ok(s.framesOut >= 2 * s.framesIn - 2);
  assertNoHoles(s.recording!.file);
});

test('a recordDir that cannot be made stops the server at start, naming it', async (t) => {
  const file = join(tempDir(t), 'a-file');
  writeFileSync(file, '');
  await assert.rejects(startServer(t, { record: true, recordDir: join(file, 'recordings') }), new RegExp(`recordDir ${file}/recordings: .*ENOTDIR`));
});
