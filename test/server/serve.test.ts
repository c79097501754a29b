import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import type { ProbedStream } from '../helpers.js';
import { BIRDS, BIRDS_LOOPED_FRAMES, publish, startServer, until } from '../live-helpers.js';

const birds = () => ['-stream_loop', '1', '-i', BIRDS, '-vf', 'scale=320:180'];
const testSignal = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];

const stream = (list: LiveStreamStats[], key: string) => list.find((s) => s.key === key);

/** ffprobe, decoding every frame, run without blocking the event loop (the server under test is in this process). */
async function probeUrl(url: string): Promise<ProbedStream[]> {
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', url]);
  return (JSON.parse(stdout) as { streams: ProbedStream[] }).streams;
}

/** A raw GET: unlike fetch(), node:http sends the path as written, without resolving `..`. */
function rawGet(base: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('two live publishers become 60 fps HLS; killing one ends only that stream', async (t) => {
  const { http, rtmp, streams } = await startServer(t);
  const a = publish(rtmp('a'), birds());
  const b = publish(rtmp('b'), testSignal(20));

  // While a runs: listed, live, producing twice the frames it takes in. Early
  // on the rates include the burst that probing releases, so only the ratio is checked.
  const liveA = await until('a live with rates', 15_000, async () => {
    const sa = stream(await streams(), 'a');
    return sa?.state === 'live' && sa.framesIn >= 40 && sa.inputFps > 0 && sa.outputFps > 0 ? sa : undefined;
  });
  const ratio = liveA.outputFps / liveA.inputFps;
  assert.ok(ratio > 1.6 && ratio < 2.4, `output ${liveA.outputFps} fps for input ${liveA.inputFps} fps`);
  assert.deepEqual([liveA.width, liveA.height, liveA.codec, liveA.audio, liveA.interpolator], [320, 180, 'h264', 'copy', 'blend']);
  // encoderPreset auto (the default): a small output fits veryfast unless the machine is nearly saturated, and the reason says what was measured.
  assert.ok(['ultrafast', 'superfast', 'veryfast'].includes(liveA.encoderPreset!), `encoderPreset ${liveA.encoderPreset}`);
  assert.match(liveA.encoderPresetReason ?? '', /cores of the [\d.]+ allowed \(33 % of [\d.]+ idle\)/);

  // a plays out to the end; b keeps running.
  const resultA = await a.done;
  assert.equal(resultA.code, 0, resultA.stderr);
  const finalA = await until('a to end', 10_000, async () => {
    const sa = stream(await streams(), 'a');
    return sa?.state === 'ended' ? sa : undefined;
  });
  assert.match(await (await fetch(`${http}/hls/a/index.m3u8`)).text(), /#EXT-X-ENDLIST/);

  // Once past its start, b runs at the publisher's 30 fps in and 60 out. The rates are 2 s windows, so one
  // sample can catch a catch-up burst after a stall of a loaded machine: the median of three, 0.6 s apart.
  await until('b steady', 10_000, async () => {
    const sb = stream(await streams(), 'b');
    return sb?.state === 'live' && sb.uptimeSeconds >= 3.2 ? sb : undefined;
  });
  const samples: LiveStreamStats[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 600));
    samples.push(stream(await streams(), 'b')!);
  }
  const median = (pick: (s: LiveStreamStats) => number) => samples.map(pick).sort((x, y) => x - y)[1]!;
  const steadyB = { inputFps: median((s) => s.inputFps), outputFps: median((s) => s.outputFps) };
  assert.ok(Math.abs(steadyB.inputFps - 30) <= 3 && Math.abs(steadyB.outputFps - 60) <= 6, `b: ${samples.map((s) => `${s.inputFps} → ${s.outputFps}`).join(', ')} fps`);

  // b's publisher vanishes without a word: b ends cleanly, the server still answers.
  b.child.kill('SIGKILL');
  assert.equal((await b.done).signal, 'SIGKILL');
  const endedB = await until('b to end', 10_000, async () => {
    const sb = stream(await streams(), 'b');
    return sb?.state === 'ended' || sb?.state === 'failed' ? sb : undefined;
  });
  assert.equal(endedB.state, 'ended', endedB.error);
  assert.match(await (await fetch(`${http}/hls/b/index.m3u8`)).text(), /#EXT-X-ENDLIST/);
  assert.deepEqual((await streams()).map((s) => [s.key, s.state]).sort(), [['a', 'ended'], ['b', 'ended']]);

  const probed = await probeUrl(`${http}/hls/a/index.m3u8`);
  const video = probed.find((s) => s.codec_type === 'video')!;
  const audio = probed.find((s) => s.codec_type === 'audio');
  assert.equal(video.r_frame_rate, '60/1');
  assert.deepEqual([video.codec_name, video.width, video.height], ['h264', 320, 180]);
  assert.equal(audio?.codec_name, 'aac', 'audio is copied through');
  // Every frame the engine produced is in the HLS, and that is twice what the
  // publisher sent, less what a live start may cost: the ring drops frames
  // when probing releases its first half second at once. Tolerance: 4 input
  // frames, so 8 output frames.
  const frames = Number(video.nb_read_frames);
  t.diagnostic(
    `a: live ${liveA.inputFps} → ${liveA.outputFps} fps; ${finalA.framesIn} frames in (+${finalA.ringDrops} dropped), ` +
      `${finalA.framesOut} out (${finalA.interpolated} interpolated, ${finalA.repeated} repeated); HLS ${frames} frames at ${video.r_frame_rate}`,
  );
  assert.equal(frames, finalA.framesOut, 'HLS holds every output frame');
  assert.ok(frames <= 2 * BIRDS_LOOPED_FRAMES && frames >= 2 * BIRDS_LOOPED_FRAMES - 8, `${frames} frames for ${BIRDS_LOOPED_FRAMES} in`);
  assert.equal(finalA.framesIn + finalA.ringDrops, BIRDS_LOOPED_FRAMES, 'every published frame was decoded, then used or dropped');

  // b's HLS also decodes at 60 fps, up to where its publisher died.
  const videoB = (await probeUrl(`${http}/hls/b/index.m3u8`)).find((s) => s.codec_type === 'video')!;
  t.diagnostic(`b: steady ${steadyB.inputFps} → ${steadyB.outputFps} fps; killed after ${endedB.framesIn} frames in, ${endedB.framesOut} out; HLS ${videoB.nb_read_frames} frames at ${videoB.r_frame_rate}`);
  assert.equal(videoB.r_frame_rate, '60/1');
  assert.equal(Number(videoB.nb_read_frames), endedB.framesOut);
});

test('HTTP: content types, CORS, 404 for traversal and unknown names, 405 for wrong methods', async (t) => {
  const { http, rtmp, streams } = await startServer(t);
  const p = publish(rtmp('cam'), testSignal(1));
  await until('a segment', 10_000, async () => ((await fetch(`${http}/hls/cam/index.m3u8`)).ok ? true : undefined));
  assert.equal((await p.done).code, 0);
  await until('the stream to end', 10_000, async () => (stream(await streams(), 'cam')?.state === 'ended' ? true : undefined));

  const playlist = await fetch(`${http}/hls/cam/index.m3u8`);
  assert.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  assert.equal(playlist.headers.get('access-control-allow-origin'), '*');
  const segment = /^seg\d+\.ts$/m.exec(await playlist.text())![0];
  const ts = await fetch(`${http}/hls/cam/${segment}`);
  assert.equal(ts.status, 200);
  assert.equal(ts.headers.get('content-type'), 'video/mp2t');
  assert.equal(Buffer.from(await ts.arrayBuffer())[0], 0x47, 'an MPEG-TS sync byte');

  const api = await fetch(`${http}/api/streams`);
  assert.equal(api.headers.get('content-type'), 'application/json');
  assert.equal(api.headers.get('access-control-allow-origin'), '*');

  for (const path of [
    '/hls/cam/../../etc/passwd',
    '/hls/cam/..%2f..%2f..%2fetc%2fpasswd',
    '/hls/cam/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/hls/%2e%2e/%2e%2e/etc/passwd',
    '/hls/cam/..%5c..%5cetc%5cpasswd',
    '/hls/cam/seg99999.ts',
    '/hls/nobody/index.m3u8',
    '/hls/cam/index.m3u8.tmp',
    '/index.html',
    '/etc/passwd',
  ]) {
    const res = await rawGet(http, path);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers['content-type'], 'application/json', path);
    assert.ok((JSON.parse(res.body) as { error: string }).error, path);
    assert.doesNotMatch(res.body, /root:/, path);
  }
  const post = await fetch(`${http}/api/streams`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('ended streams expire; a refused key, an audio-only publisher and a wrong key leave the server serving', async (t) => {
  const { http, rtmp, streams, log } = await startServer(t, { endedRetentionMs: 300, streamKey: 'only' });
  assert.notEqual((await publish(rtmp('other'), testSignal(0.5)).done).code, 0, 'a key other than --stream-key is refused');

  // Audio only: nothing to upconvert, so the stream fails, alone.
  const audioOnly = publish(rtmp('only'), ['-f', 'lavfi', '-i', 'sine=duration=1']);
  const failure = await until('the audio-only stream to fail', 10_000, async () => log.lines.find((line) => line.includes("stream 'only' failed")));
  assert.match(failure, /no usable video/);
  await audioOnly.done;

  // The same key publishes fine afterwards, and its HLS goes away once retention is over.
  assert.equal((await publish(rtmp('only'), testSignal(0.7)).done).code, 0);
  await until('the stream to end and expire', 10_000, async () => ((await streams()).length === 0 ? true : undefined));
  assert.equal((await fetch(`${http}/hls/only/index.m3u8`)).status, 404);
});

test('close() drops live publishers, ends their streams and deletes their files', async (t) => {
  const { server, http, rtmp, streams } = await startServer(t);
  const p = publish(rtmp('live1'), testSignal(20));
  await until('the stream to go live', 10_000, async () => (stream(await streams(), 'live1')?.state === 'live' ? true : undefined));
  const dir = server.hlsDir('live1')!;
  assert.ok(existsSync(dir));
  await server.close();
  assert.notEqual((await p.done).code, 0, 'the publisher was dropped');
  assert.equal(existsSync(dir), false, 'HLS files are deleted');
  await assert.rejects(fetch(`${http}/api/streams`), 'nothing listens any more');
});
