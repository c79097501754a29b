import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { test } from 'node:test';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { hlsFps, startServer, until } from '../live-helpers.js';
import { receivedFps, watch } from '../reliability/werift-viewer.js';

/**
 * `frc serve --srt-port`: the ffmpeg CLI publishes as OBS's SRT output does
 * (MPEG-TS over SRT, caller mode, `streamid=publish:<key>`), on real sockets
 * on 127.0.0.1; the output is checked with ffprobe on the stream's HLS.
 */

interface Sender {
  done: Promise<{ code: number | null; ms: number; stderr: string }>;
  kill(): void;
}

function send(args: string[]): Sender {
  const started = performance.now();
  const child = spawn('ffmpeg', ['-hide_banner', '-v', 'error', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; ms: number; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: performance.now() - started, stderr });
    }),
  );
  return { done, kill: () => child.kill('SIGKILL') };
}

/** `seconds` of testsrc2 at 30 fps as OBS sends it over SRT: H.264, keyframe every second, no B-frames. */
function publishSrt(url: string, seconds: number): Sender {
  return send(['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30', '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-bf', '0', '-f', 'mpegts', url]);
}

/** Random bytes over SRT, about 1 MB/s for `seconds`: a caller that passes the handshake and then sends no MPEG-TS at all. */
function garbageSrt(url: string, seconds: number): Sender {
  return send(['-re', '-f', 'u8', '-ar', '1000000', '-ac', '1', '-i', '/dev/urandom', '-t', String(seconds), '-c', 'copy', '-f', 'u8', url]);
}

const find = (streams: LiveStreamStats[], key: string) => streams.find((s) => s.key === key);

test('an SRT publisher runs at twice its rate out, a second one on its key is refused, and its leaving ends the stream', async (t) => {
  const { streams, server, srt, log, http } = await startServer(t, { srtPort: 0, token: 's3cret' });
  const publisher = publishSrt(srt('publish:cam?key=s3cret'), 12);
  t.after(() => publisher.kill());
  const cam = await until('the SRT stream to be live for 3 s', 20_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.state === 'live' && s.framesIn >= 90 ? s : undefined;
  });
  assert.equal(cam.protocol, 'srt');
  const fps = await hlsFps(server.hlsDir('cam')!);
  assert.ok(fps > 55 && fps < 65, `HLS out at ${fps.toFixed(1)} fps, want 60`);
  // WebRTC too: the upconverted stream, and the publisher's H.264 relayed as it came.
  const [viewer, original] = await Promise.all([watch(http, 'cam'), watch(http, 'cam/original')]);
  t.after(() => Promise.all([viewer.close(), original.close()]));
  await until('both viewers to receive', 5000, async () => (viewer.frames() > 0 && original.frames() > 0 ? true : undefined));
  const [upFps, originalFps] = await Promise.all([receivedFps(viewer, 1000), receivedFps(original, 1000)]);
  assert.ok(upFps > 50 && upFps < 70, `WHEP out at ${upFps.toFixed(1)} fps, want 60`);
  assert.ok(originalFps > 24 && originalFps < 36, `the original at ${originalFps.toFixed(1)} fps, want 30`);

  // The key is live: a second publisher is refused in the handshake, and the first runs on.
  const second = await publishSrt(srt('publish:cam?key=s3cret'), 3).done;
  assert.notEqual(second.code, 0, 'the second publisher is refused');
  assert.ok(second.ms < 2500, `refused at once, not after ${second.ms.toFixed(0)} ms`);
  assert.ok(log.lines.some((line) => /refused SRT caller .*already live/.test(line)), 'the log says why');
  const still = find(await streams(), 'cam')!;
  assert.equal(still.state, 'live');
  assert.equal(still.id, cam.id, 'the stream live on the key is the first publisher\'s');

  // The publisher finishes and disconnects: its stream ends, and the key is free again.
  const first = await publisher.done;
  assert.equal(first.code, 0, `the publisher ran to its end: ${first.stderr}`);
  const ended = await until('the stream to end', 10_000, async () => {
    const s = find(await streams(), 'cam');
    return s?.state === 'ended' || s?.state === 'failed' ? s : undefined;
  });
  assert.equal(ended.state, 'ended', `ended cleanly, not: ${ended.error}`);
  assert.ok(ended.framesOut >= 2 * 300, `about twice the 360 frames in went out: ${ended.framesOut}`);
});

test('an SRT publisher with a wrong key or secret is refused in the handshake, and no stream appears', async (t) => {
  const { streams, srt, log } = await startServer(t, { srtPort: 0, token: 's3cret', streamKey: 'cam' });
  for (const streamId of ['publish:cam?key=wrong', 'publish:cam', 'publish:other?key=s3cret', 'read:cam', '']) {
    const sender = publishSrt(srt(streamId), 3);
    t.after(() => sender.kill());
    const result = await sender.done;
    assert.notEqual(result.code, 0, `'${streamId}' is refused`);
    assert.ok(result.ms < 2500, `'${streamId}' is refused at once, not after ${result.ms.toFixed(0)} ms`);
  }
  assert.deepEqual(await streams(), [], 'no stream appeared');
  const refusals = log.lines.filter((line) => /refused SRT caller/.test(line));
  assert.equal(refusals.length, 5, refusals.join('\n'));
  assert.ok(!log.lines.some((line) => line.includes('s3cret') || line.includes('key=wrong')), 'secrets stay out of the log');
});

test('the external auth hook is asked about an SRT publisher once it is connected: refused, it is dropped and no stream appears', async (t) => {
  const asked: { action: string; protocol: string; key: string; token?: string }[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const query = JSON.parse(body) as (typeof asked)[number];
      asked.push(query);
      res.writeHead(query.token === 'h00k-t0ken' ? 200 : 403).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => hook.close(resolve)));
  const { streams, srt, log } = await startServer(t, { srtPort: 0, authHook: { url: `http://127.0.0.1:${(hook.address() as { port: number }).port}/auth` } });
  const refused = publishSrt(srt('publish:cam?key=wrong'), 10);
  t.after(() => refused.kill());
  const result = await refused.done;
  assert.notEqual(result.code, 0, 'the refused publisher is dropped');
  assert.ok(result.ms < 5000, `dropped at once, not after ${result.ms.toFixed(0)} ms`);
  assert.deepEqual(asked[0], { action: 'publish', protocol: 'srt', key: 'cam', token: 'wrong', ip: '127.0.0.1' });
  assert.deepEqual(await streams(), [], 'no stream appeared');
  assert.ok(log.lines.some((line) => /refused SRT publish on 'cam'.*refused by the authentication service/.test(line)), log.lines.join('\n'));
  const allowed = publishSrt(srt('publish:cam?key=h00k-t0ken'), 3);
  t.after(() => allowed.kill());
  await until('the allowed stream to be live', 15_000, async () => (find(await streams(), 'cam')?.state === 'live' ? true : undefined));
});

test('garbage over SRT ends that stream alone; the server and another SRT stream run on', async (t) => {
  const { streams, srt } = await startServer(t, { srtPort: 0, startTimeoutMs: 6000 });
  const good = publishSrt(srt('publish:good'), 14);
  t.after(() => good.kill());
  await until('the good stream to be live', 20_000, async () => (find(await streams(), 'good')?.state === 'live' ? true : undefined));
  const garbage = garbageSrt(srt('publish:junk'), 20);
  t.after(() => garbage.kill());
  const junk = await until('the garbage stream to fail', 20_000, async () => {
    const s = find(await streams(), 'junk');
    return s?.state === 'failed' || s?.state === 'ended' ? s : undefined;
  });
  assert.equal(junk.state, 'failed', 'the garbage stream failed');
  assert.ok(junk.error, 'with a reason');
  // The garbage caller is dropped: its ffmpeg stops on a broken connection well before its 20 s are up.
  const dropped = await garbage.done;
  assert.notEqual(dropped.code, 0, 'the garbage sender was dropped');
  const other = find(await streams(), 'good')!;
  assert.equal(other.state, 'live', 'the good stream runs on');
  const framesIn = other.framesIn;
  await until('the good stream to keep taking frames', 5000, async () => ((find(await streams(), 'good')?.framesIn ?? 0) > framesIn + 30 ? true : undefined));
});
