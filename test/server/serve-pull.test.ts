import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { ffmpeg, tempDir } from '../helpers.js';
import { hlsFps, hlsFpsHere, hlsPacketTimes, hlsSegments, startServer, until } from '../live-helpers.js';
import { receivedFps, watch } from '../reliability/werift-viewer.js';

/**
 * `frc serve --pull`: the ffmpeg CLI is the source a camera or encoder would
 * be (MPEG-TS over UDP), a file is played in real time, and the output is
 * checked with ffprobe on the stream's HLS.
 */

/** A free port on 127.0.0.1 (UDP shares TCP's numbers closely enough for a test: asked of the kernel, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `seconds` of testsrc2 at 30 fps, H.264 (no B-frames; or `codec`) in MPEG-TS, sent in real time to `url` as a camera or an encoder would. */
function sendMpegTs(url: string, seconds: number, codec = ['-c:v', 'libx264', '-preset', 'ultrafast']) {
  const args = ['-v', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=320x180:rate=30`, '-t', String(seconds), ...codec, '-g', '30', '-bf', '0', '-f', 'mpegts', url];
  const child = spawn('ffmpeg', args, { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, done };
}

const udp = (port: number) => `udp://127.0.0.1:${port}?pkt_size=1316`;

function find(streams: LiveStreamStats[], key: string): LiveStreamStats | undefined {
  return streams.find((s) => s.key === key);
}

/** Waits until the pull `key` is live and has taken 3 s of input (90 frames at 30 fps). */
function liveFor3s(streams: () => Promise<LiveStreamStats[]>, key: string, what: string, timeoutMs: number): Promise<LiveStreamStats> {
  return until(`the ${what} pull to be live for 3 s`, timeoutMs, async () => {
    const s = find(await streams(), key);
    return s?.state === 'live' && s.pull === 'live' && s.framesIn >= 90 ? s : undefined;
  });
}

test('a UDP MPEG-TS pull runs at twice its rate out, and an unreachable one retries without touching it', async (t) => {
  const port = await freePort();
  const closed = await freePort();
  const quiet = await freePort();
  // `quiet` has nobody sending: its open waits out the 8 s timeout, which closing the server does not wait for.
  const pull = { cam: `udp://127.0.0.1:${port}`, dead: `rtsp://127.0.0.1:${closed}/cam`, quiet: `udp://127.0.0.1:${quiet}` };
  const { streams, server, http } = await startServer(t, { pull, pullStallMs: 8000 });
  const sender = sendMpegTs(udp(port), 10);
  t.after(() => sender.child.kill('SIGKILL'));
  const dead = await until('the unreachable pull to retry', 10_000, async () => {
    const s = find(await streams(), 'dead');
    return s?.pull?.startsWith('retrying:') ? s : undefined;
  });
  assert.match(dead.pull!, /retrying: .*Connection refused/);
  assert.equal(dead.protocol, 'rtsp');
  const cam = await liveFor3s(streams, 'cam', 'UDP', 15_000);
  assert.equal(cam.protocol, 'udp');
  const fps = await hlsFps(server.hlsDir('cam')!);
  assert.ok(fps > 55 && fps < 65, `HLS out at ${fps.toFixed(1)} fps, want 60`);
  // WebRTC too: the upconverted stream, and the source's H.264 relayed as it came.
  const [viewer, original] = await Promise.all([watch(http, 'cam'), watch(http, 'cam/original')]);
  t.after(() => Promise.all([viewer.close(), original.close()]));
  await until('both viewers to receive', 5000, async () => (viewer.frames() > 0 && original.frames() > 0 ? true : undefined));
  const [upFps, originalFps] = await Promise.all([receivedFps(viewer, 1000), receivedFps(original, 1000)]);
  assert.ok(upFps > 50 && upFps < 70, `WHEP out at ${upFps.toFixed(1)} fps, want 60`);
  assert.ok(originalFps > 24 && originalFps < 36, `the original at ${originalFps.toFixed(1)} fps, want 30`);
  assert.ok(find(await streams(), 'dead')?.pull?.startsWith('retrying:'), 'the unreachable pull still retries');
  assert.equal(find(await streams(), 'quiet')?.pull, 'connecting');
  const started = performance.now();
  await server.close();
  const closing = performance.now() - started;
  assert.ok(closing < 1500, `closing the server stops the pulls at once: ${closing.toFixed(0)} ms`);
});

test('a UDP pull whose source is killed retries, and is live again on the same stream when the source comes back', async (t) => {
  const port = await freePort();
  const { streams, http } = await startServer(t, { pull: { cam: udp(port) }, pullStallMs: 1000 });
  const first = sendMpegTs(udp(port), 30);
  t.after(() => first.child.kill('SIGKILL'));
  const before = await until('the pull to be live', 15_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.pull === 'live' && s.framesIn >= 15 ? s : undefined;
  });
  const viewer = await watch(http, 'cam');
  t.after(() => viewer.close());
  await until('the viewer to receive', 5000, async () => (viewer.frames() > 0 ? true : undefined));
  first.child.kill('SIGKILL');
  const dropped = await until('the pull to notice the drop', 10_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.pull?.startsWith('retrying:') ? s : undefined;
  });
  assert.equal(dropped.pull, 'retrying: no data for 1 s');
  assert.equal(dropped.state, 'live', 'the stream waits for its source, it does not end');
  const second = sendMpegTs(udp(port), 4);
  t.after(() => second.child.kill('SIGKILL'));
  const after = await until('the pull to be live again', 15_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.pull === 'live' && s.framesIn >= dropped.framesIn + 30 ? s : undefined;
  });
  assert.equal(after.id, before.id, 'the same stream goes on');
  const fps = await receivedFps(viewer, 1000);
  assert.ok(fps > 50 && fps < 70, `the WebRTC viewer stayed through it, and gets ${fps.toFixed(1)} fps`);
  assert.ok(after.framesOut >= 2 * after.framesIn - 4, `2x out after the reconnection: ${after.framesIn} in, ${after.framesOut} out`);
});

test('a file pull plays in real time, loops with ?loop (audio included), and without it ends', async (t) => {
  const dir = tempDir(t);
  const clip = join(dir, 'clip.mp4');
  // One second: 30 frames of 320x180 and a tone.
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=1', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-c:a', 'aac', '-shortest', clip);
  const { streams, server } = await startServer(t, { pull: { loop: `${clip}?loop`, once: clip } });
  const once = await until('the file without loop to end', 15_000, async () => {
    const s = find(await streams(), 'once');
    return s?.state === 'ended' ? s : undefined;
  });
  assert.equal(once.pull, 'ended');
  assert.equal(once.framesIn, 30);
  const looped = await until('the looped file to play more than twice', 15_000, async () => {
    const s = find(await streams(), 'loop');
    return s && s.framesIn > 75 ? s : undefined;
  });
  assert.equal(looped.state, 'live');
  assert.equal(looped.pull, 'live');
  assert.equal(looped.protocol, 'file');
  assert.equal(looped.audio, 'copy');
  assert.ok(looped.uptimeSeconds >= 2.3, `played in real time: ${looped.framesIn} frames took ${looped.uptimeSeconds} s`);
  assert.ok(looped.inputFps > 24 && looped.inputFps < 36, `input at ${looped.inputFps} fps, the file's 30`);
  assert.ok(looped.framesOut >= 2 * looped.framesIn - 4, `2x out across the loops: ${looped.framesIn} in, ${looped.framesOut} out`);
  // The HLS output goes on through the loops, its audio too (each pass starts the file's timestamps over).
  const hls = server.hlsDir('loop')!;
  const fps = await hlsFps(hls);
  assert.ok(fps > 55 && fps < 65, `HLS out at ${fps.toFixed(1)} fps, want 60`);
  const segments = hlsSegments(hls);
  const video = await hlsPacketTimes(segments, 'v:0');
  const audio = await hlsPacketTimes(segments, 'a:0');
  assert.ok(video.at(-1)! - video[0]! > 1.5, `video over ${video[0]}..${video.at(-1)} s`);
  assert.ok(audio.at(-1)! - audio[0]! > 1.5, `audio over ${audio[0]}..${audio.at(-1)} s`);
  assert.ok(audio.every((t, i) => i === 0 || t > audio[i - 1]!), 'audio timestamps always move forward');
});

test('a source that sends garbage, or a looped file with nothing to play, retries with the reason shown', async (t) => {
  const port = await freePort();
  // An MP4 whose samples are noise: it opens (the header is intact), and no frame decodes.
  const bad = join(tempDir(t), 'noise.mp4');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-movflags', '+faststart', bad);
  const bytes = readFileSync(bad);
  for (let i = bytes.indexOf('mdat') + 4; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(bad, bytes);
  const { streams } = await startServer(t, { pull: { junk: `udp://127.0.0.1:${port}`, noise: `${bad}?loop` }, pullStallMs: 1000 });
  const socket = createSocket('udp4');
  t.after(() => socket.close());
  const noise = Buffer.alloc(1316);
  const timer = setInterval(() => {
    for (let i = 0; i < noise.length; i++) noise[i] = (Math.random() * 256) | 0;
    socket.send(noise, port, '127.0.0.1');
  }, 5);
  t.after(() => clearInterval(timer));
  const junk = await until('the garbage to be refused', 15_000, async () => {
    const s = find(await streams(), 'junk');
    return s?.pull?.startsWith('retrying:') ? s : undefined;
  });
  assert.equal(junk.state, 'starting');
  assert.match(junk.pull!, /^retrying: cannot open udp:\/\/127\.0\.0\.1:\d+: .*Invalid data/);
  // Starting it over at once would spin; it waits its backoff like any failure.
  assert.equal(find(await streams(), 'noise')?.pull, 'retrying: the file ended before its first frame');
});

test('a source whose codec changes mid-stream recovers, with the reason shown', async (t) => {
  const port = await freePort();
  const { streams } = await startServer(t, { pull: { cam: udp(port) }, pullStallMs: 1000 });
  const h264 = sendMpegTs(udp(port), 30);
  t.after(() => h264.child.kill('SIGKILL'));
  await until('the H.264 to be live', 15_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.pull === 'live' && s.framesIn >= 15 ? s : undefined;
  });
  // The encoder restarts in another codec on the same address: FFmpeg's demuxer keeps the stream and feeds MPEG-2 to the H.264 decoder.
  h264.child.kill('SIGKILL');
  const mpeg2 = sendMpegTs(udp(port), 30, ['-c:v', 'mpeg2video']);
  t.after(() => mpeg2.child.kill('SIGKILL'));
  const noticed = await until('the change to be noticed', 15_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.pull?.startsWith('retrying:') ? s : undefined;
  });
  assert.match(noticed.pull!, /^retrying: the video no longer decodes \(\d+ packets, \d+ frames in 1 s\)$/);
  const back = await until('the MPEG-2 to be live', 15_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.pull === 'live' && s.framesIn >= noticed.framesIn + 30 ? s : undefined;
  });
  assert.equal(back.codec, 'mpeg2video');
  assert.equal(back.state, 'live');
});

test('an HLS pull over HTTP runs at twice its rate out, and retries when its playlist stops growing', async (t) => {
  // Another server's HLS: the ffmpeg CLI writes a live playlist, a plain HTTP server on 127.0.0.1 serves it.
  const dir = tempDir(t);
  const files = createHttpServer((request, response) => {
    const file = join(dir, new URL(request.url!, 'http://x').pathname.slice(1));
    if (!existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  t.after(() => files.close());
  const args = ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-t', '30', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-bf', '0', '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4', join(dir, 'index.m3u8')];
  const encoder = spawn('ffmpeg', args, { stdio: 'ignore' });
  t.after(() => encoder.kill('SIGKILL'));
  await until('the first segments', 10_000, async () => (existsSync(join(dir, 'index.m3u8')) ? true : undefined));
  const url = `http://127.0.0.1:${(files.address() as { port: number }).port}/index.m3u8`;
  const { streams, server } = await startServer(t, { pull: { relay: url }, pullStallMs: 2000 });
  const relay = await until('the HLS pull to be live for 2 s', 20_000, async () => {
    const s = find(await streams(), 'relay');
    return s?.state === 'live' && s.pull === 'live' && s.framesIn >= 60 ? s : undefined;
  });
  assert.equal(relay.protocol, 'http');
  const fps = await hlsFps(server.hlsDir('relay')!);
  assert.ok(fps > 55 && fps < 65, `HLS out at ${fps.toFixed(1)} fps, want 60`);
  // The encoder stops; its playlist stays, without an end (FFmpeg's HLS reader alone would wait on it for good, and ignore being interrupted).
  encoder.kill('SIGKILL');
  const stopped = await until('the pull to notice', 15_000, async () => {
    const s = find(await streams(), 'relay');
    return s?.pull?.startsWith('retrying:') ? s : undefined;
  });
  assert.match(stopped.pull!, /^retrying: (the source ended|no data for 2 s)$/);
  // Closing while the next try reads the stale playlist must not free what FFmpeg still reads (it crashed the process).
  await server.close();
});

// Last in this file on purpose: once a pull has used SRT in this process, the libsrt bundled with node-av (1.5.5)
// has a fork handler that can deadlock the child of any later spawn on a lock another SRT thread held at the fork,
// while the spawning thread waits for the child's exec (Haivision/srt#3326, fixed upstream after 1.5.5). The server
// spawns nothing; this test process does, so nothing is spawned once the pull has started (the HLS is read here).
test('an SRT pull (frc calling an encoder that listens) runs at twice its rate out', async (t) => {
  const port = await freePort();
  // The ffmpeg CLI as an SRT encoder in listener mode, as OBS or a hardware encoder can be.
  const encoder = sendMpegTs(`srt://127.0.0.1:${port}?mode=listener&pkt_size=1316`, 20);
  t.after(() => encoder.child.kill('SIGKILL'));
  const { streams, server } = await startServer(t, { pull: { enc: `srt://127.0.0.1:${port}` } });
  const enc = await liveFor3s(streams, 'enc', 'SRT', 20_000);
  assert.equal(enc.protocol, 'srt');
  const fps = await hlsFpsHere(server.hlsDir('enc')!);
  assert.ok(fps > 55 && fps < 65, `HLS out at ${fps.toFixed(1)} fps, want 60`);
});
