import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { RtmpServer, type RtmpPublish } from '../../src/protocols/rtmp/rtmp-server.js';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { pushUrl } from '../../src/server/stream-naming.js';
import { type ProbedStream, tempDir } from '../helpers.js';
import { captureLog } from '../protocols/rtmp/rtmp-helpers.js';
import { BIRDS, BIRDS_LOOPED_FRAMES, publish, startServer, until } from '../live-helpers.js';

async function probe(url: string): Promise<ProbedStream[]> {
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', url]);
  return (JSON.parse(stdout) as { streams: ProbedStream[] }).streams;
}

const rate = (text = '0/1') => {
  const [num, den] = text.split('/').map(Number) as [number, number];
  return den ? num / den : 0;
};

const stream = (list: LiveStreamStats[], key: string) => list.find((s) => s.key === key);

/** A port nothing listens on: bound for a moment, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('pushUrl puts the stream key into the template', () => {
  assert.equal(pushUrl('rtmp://h:1935/app/{key}', 'cam_1'), 'rtmp://h:1935/app/cam_1');
  assert.equal(pushUrl('rtmp://h/app/{key}?k={key}', 'a'), 'rtmp://h/app/a?k=a');
  assert.equal(pushUrl('rtmp://h/app/fixed', 'a'), 'rtmp://h/app/fixed');
});

test('the upconverted stream is pushed over RTMP: 60 fps H.264 + AAC, twice the frames, HLS alongside', async (t) => {
  // The push target: a second RTMP server that saves what it receives.
  const dir = tempDir(t);
  const received = join(dir, 'received.flv');
  const target = new RtmpServer({ logger: captureLog() });
  const saved = new Promise<{ key: string; done: Promise<void> }>((resolve) =>
    target.on('publish', (p: RtmpPublish) => resolve({ key: p.key, done: pipeline(p.flv, createWriteStream(received)) })),
  );
  const targetPort = await target.listen(0, '127.0.0.1');
  t.after(() => target.close());

  const { http, rtmp, streams } = await startServer(t, { push: `rtmp://127.0.0.1:${targetPort}/live/up-{key}` });
  const p = publish(rtmp('birds'), ['-stream_loop', '1', '-i', BIRDS, '-vf', 'scale=320:180']);
  const live = await until('the push to run', 15_000, async () => {
    const s = stream(await streams(), 'birds');
    return s?.state === 'live' && s.push === 'live' ? s : undefined;
  });
  assert.equal((await p.done).code, 0);
  const final = await until('the stream to end', 10_000, async () => {
    const s = stream(await streams(), 'birds');
    return s?.state === 'ended' ? s : undefined;
  });
  assert.equal(final.push, 'ended', 'the push hung up cleanly');
  const { key, done } = await saved;
  assert.equal(key, 'up-birds', '{key} became the stream key');
  await done;

  const probed = await probe(received);
  const video = probed.find((s) => s.codec_type === 'video')!;
  const audio = probed.find((s) => s.codec_type === 'audio');
  const frames = Number(video.nb_read_frames);
  t.diagnostic(
    `live ${live.inputFps} → ${live.outputFps} fps; ${final.framesIn} frames in (+${final.ringDrops} dropped), ${final.framesOut} out; ` +
      `pushed FLV: ${frames} frames, r ${video.r_frame_rate}, avg ${video.avg_frame_rate}, audio ${audio?.codec_name}`,
  );
  assert.deepEqual([video.codec_name, video.width, video.height], ['h264', 320, 180]);
  assert.equal(audio?.codec_name, 'aac', 'audio is copied to the push');
  assert.ok(Math.abs(rate(video.r_frame_rate) - 60) < 1, `r_frame_rate ${video.r_frame_rate}`);
  assert.ok(Math.abs(rate(video.avg_frame_rate) - 60) < 1, `avg_frame_rate ${video.avg_frame_rate}`);
  // The same encoder feeds both outputs, so the push holds every output frame, as HLS does.
  assert.equal(frames, final.framesOut, 'every output frame was pushed');
  assert.ok(frames <= 2 * BIRDS_LOOPED_FRAMES && frames >= 2 * BIRDS_LOOPED_FRAMES - 8, `${frames} frames for ${BIRDS_LOOPED_FRAMES} in`);

  const hls = (await probe(`${http}/hls/birds/index.m3u8`)).find((s) => s.codec_type === 'video')!;
  assert.equal(Number(hls.nb_read_frames), final.framesOut, 'HLS holds every output frame too');
});

test('a push target that refuses the connection leaves the push retrying: HLS goes on', async (t) => {
  const port = await closedPort();
  const { http, rtmp, streams, log } = await startServer(t, { push: `rtmp://127.0.0.1:${port}/live/{key}` });
  const p = publish(rtmp('cam'), ['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=2', '-f', 'lavfi', '-i', 'sine=duration=2']);
  const live = await until('the stream live with the push retrying', 10_000, async () => {
    const s = stream(await streams(), 'cam');
    return s?.state === 'live' && s.push?.startsWith('retrying') ? s : undefined;
  });
  assert.match(live.push!, /^retrying: cannot connect/);
  assert.ok(log.lines.some((line) => line.includes("stream 'cam': push: cannot connect")), 'the failure is logged');
  assert.doesNotMatch(log.lines.join('\n'), /live\/cam/, 'the stream key stays out of the log');
  assert.equal((await p.done).code, 0);
  const final = await until('the stream to end', 10_000, async () => {
    const s = stream(await streams(), 'cam');
    return s?.state === 'ended' ? s : undefined;
  });
  assert.match(await (await fetch(`${http}/hls/cam/index.m3u8`)).text(), /#EXT-X-ENDLIST/);
  const hls = (await probe(`${http}/hls/cam/index.m3u8`)).find((s) => s.codec_type === 'video')!;
  assert.equal(final.push, 'ended', 'closing the stream stops the retries');
  t.diagnostic(`push ${final.push}; HLS ${hls.nb_read_frames} frames at ${hls.r_frame_rate} for ${final.framesIn} in`);
  assert.equal(hls.r_frame_rate, '60/1');
  assert.equal(Number(hls.nb_read_frames), final.framesOut);
});

test('a push target that drops the connection mid-stream is connected again: HLS keeps every frame', async (t) => {
  const target = new RtmpServer({ logger: captureLog() });
  let publishes = 0;
  // Hangs up on the push half a second into it, every time.
  target.on('publish', (p: RtmpPublish) => {
    publishes++;
    p.flv.resume();
    setTimeout(() => p.close(), 500);
  });
  const targetPort = await target.listen(0, '127.0.0.1');
  t.after(() => target.close());

  const { http, rtmp, streams } = await startServer(t, { push: `rtmp://127.0.0.1:${targetPort}/live/{key}` });
  const p = publish(rtmp('cam'), ['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=4', '-f', 'lavfi', '-i', 'sine=duration=4']);
  const dropped = await until('the push to retry', 10_000, async () => {
    const s = stream(await streams(), 'cam');
    return s?.push?.startsWith('retrying') ? s : undefined;
  });
  assert.equal(dropped.state, 'live', 'the stream goes on');
  await until('the push to connect again', 10_000, async () => (publishes >= 2 ? true : undefined));
  assert.equal((await p.done).code, 0);
  const final = await until('the stream to end', 10_000, async () => {
    const s = stream(await streams(), 'cam');
    return s?.state === 'ended' ? s : undefined;
  });
  const hls = (await probe(`${http}/hls/cam/index.m3u8`)).find((s) => s.codec_type === 'video')!;
  t.diagnostic(`push ${final.push}; HLS ${hls.nb_read_frames} frames at ${hls.r_frame_rate} for ${final.framesIn} in`);
  assert.equal(Number(hls.nb_read_frames), final.framesOut);
  assert.ok(final.framesOut >= 2 * 90 - 8, `${final.framesOut} frames out`);
});

/** An `ffmpeg -listen` RTMP server on `port` that saves what one publisher sends to `file`, as a push target would take it. */
function ffmpegReceiver(port: number, file: string) {
  const child = spawn('ffmpeg', ['-v', 'error', '-listen', '1', '-timeout', '20', '-i', `rtmp://127.0.0.1:${port}/live/cam`, '-c', 'copy', '-f', 'flv', '-y', file], { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, done };
}

test('a push whose server is killed mid-stream goes retrying, then live again on a new server from a keyframe', async (t) => {
  const dir = tempDir(t);
  const port = await closedPort();
  const first = ffmpegReceiver(port, join(dir, 'first.flv'));
  t.after(() => first.child.kill('SIGKILL'));
  const { http, rtmp, streams, log } = await startServer(t, { push: `rtmp://127.0.0.1:${port}/live/{key}` });
  t.after(() => t.diagnostic(log.lines.filter((line) => line.includes('push')).join('\n')));
  const p = publish(rtmp('cam'), ['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=9', '-f', 'lavfi', '-i', 'sine=duration=9']);
  t.after(() => p.child.kill('SIGKILL'));
  const states: string[] = [];
  const pushState = async () => {
    const push = stream(await streams(), 'cam')?.push;
    if (push !== undefined && states.at(-1) !== push) states.push(push);
    return push;
  };
  await until('the push to go live', 15_000, async () => ((await pushState()) === 'live' ? true : undefined));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  first.child.kill('SIGKILL');
  await first.done;
  await until('the push to retry', 10_000, async () => ((await pushState())?.startsWith('retrying') ? true : undefined));
  const second = ffmpegReceiver(port, join(dir, 'second.flv'));
  t.after(() => second.child.kill('SIGKILL'));
  await until('the push live again', 15_000, async () => ((await pushState()) === 'live' ? true : undefined));
  const during = stream(await streams(), 'cam')!;
  assert.equal(during.state, 'live', 'the stream went on throughout');
  assert.equal((await p.done).code, 0);
  const final = await until('the stream to end', 10_000, async () => {
    const s = stream(await streams(), 'cam');
    return s?.state === 'ended' ? s : undefined;
  });
  await pushState();
  // The push's end reaches the server: it finishes its file by itself.
  const hungUp = await Promise.race([second.done.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000))]);
  if (!hungUp) second.child.kill('SIGKILL');
  assert.ok(hungUp, 'the server saw the push end');
  t.diagnostic(`push states: ${states.join(' → ')}`);
  // Retries may fail with other reasons (refused before the new server listens): one phase.
  const phases = states.map((state) => state.replace(/:.*/, '')).filter((phase, i, all) => phase !== all[i - 1] && phase !== 'connecting');
  assert.deepEqual(phases, ['live', 'retrying', 'live', 'ended']);
  assert.ok(log.lines.some((line) => line.includes("stream 'cam': push live again")), 'the reconnection is logged');
  const probed = await probe(join(dir, 'second.flv'));
  const video = probed.find((s) => s.codec_type === 'video')!;
  const frames = Number(video.nb_read_frames);
  t.diagnostic(`second server: ${frames} frames, r ${video.r_frame_rate}, avg ${video.avg_frame_rate}, audio ${probed.find((s) => s.codec_type === 'audio')?.codec_name}`);
  assert.deepEqual([video.codec_name, video.width, video.height], ['h264', 320, 180], 'a fresh FLV header and sequence header: the second server can decode');
  assert.ok(frames >= 60, `${frames} frames reached the second server`);
  const { stdout: firstPacket } = await promisify(execFile)('ffprobe', ['-v', 'error', '-select_streams', 'v', '-read_intervals', '%+#1', '-show_entries', 'packet=flags', '-of', 'csv=p=0', join(dir, 'second.flv')]);
  assert.match(firstPacket.trim(), /^K/, "the second server's stream starts at a keyframe");
  assert.ok(Math.abs(rate(video.r_frame_rate) - 60) < 1, `r_frame_rate ${video.r_frame_rate}`);
  // The stream never noticed: every input frame was upconverted, and HLS ran to its end.
  t.diagnostic(`stream: ${final.framesIn} frames in, ${final.framesOut} out`);
  assert.ok(final.framesIn >= 260 && final.framesOut >= 2 * final.framesIn - 8, `${final.framesIn} in, ${final.framesOut} out`);
  assert.match(await (await fetch(`${http}/hls/cam/index.m3u8`)).text(), /#EXT-X-ENDLIST/);
});
