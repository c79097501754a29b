import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { type RtmpPublish, RtmpServer, type RtmpServerOptions } from '../../../src/protocols/rtmp/rtmp-server.js';
import { probe, tempDir } from '../../helpers.js';
import { type CapturedLog, captureLog, collect, ffmpegPublish } from './rtmp-helpers.js';

type TestContext = Parameters<typeof tempDir>[0];

async function startServer(t: TestContext, options: RtmpServerOptions = {}): Promise<{ server: RtmpServer; url: (path: string) => string; log: CapturedLog }> {
  const log = captureLog();
  const server = new RtmpServer({ logger: log, ...options });
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  return { server, url: (path) => `rtmp://127.0.0.1:${port}/${path}`, log };
}

interface Received {
  publish: RtmpPublish;
  flv: Promise<Buffer>;
  ended: Promise<string>;
}

/** Every publish the server announces, with its FLV being read as it arrives. */
function receiveAll(server: RtmpServer): Received[] {
  const received: Received[] = [];
  server.on('publish', (publish) => {
    received.push({ publish, flv: collect(publish.flv), ended: once(publish, 'end').then(([reason]) => reason as string) });
  });
  return received;
}

/** Writes `flv` to a file and has ffprobe decode every frame of it. */
function probeFlv(t: TestContext, flv: Buffer): { video: number; videoCodec?: string; audioCodec?: string; width?: number } {
  const file = join(tempDir(t), 'received.flv');
  writeFileSync(file, flv);
  const { streams } = probe(file);
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  return { video: Number(video?.nb_read_frames ?? 0), videoCodec: video?.codec_name, audioCodec: audio?.codec_name, width: video?.width };
}

test('an FFmpeg publish to live/<key> becomes FLV that decodes to 60 H.264 frames plus AAC', async (t) => {
  const { server, url } = await startServer(t);
  const received = receiveAll(server);
  const result = await ffmpegPublish(url('live/test'));
  assert.equal(result.code, 0, result.stderr);
  assert.equal(received.length, 1);
  const [{ publish, flv, ended }] = received as [Received];
  assert.deepEqual([publish.app, publish.key, publish.remoteAddress], ['live', 'test', '127.0.0.1']);
  assert.equal(await ended, 'unpublished');
  assert.deepEqual(probeFlv(t, await flv), { video: 60, videoCodec: 'h264', audioCodec: 'aac', width: 320 });
});

test('two publishers on different keys at the same time both succeed', async (t) => {
  const { server, url } = await startServer(t);
  const received = receiveAll(server);
  const results = await Promise.all([ffmpegPublish(url('live/one'), 1), ffmpegPublish(url('live/two'), 1)]);
  for (const result of results) assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(received.map((r) => r.publish.key).sort(), ['one', 'two']);
  for (const { flv } of received) assert.equal(probeFlv(t, await flv).video, 30);
});

test('a second publisher on a live key is refused while the first completes', async (t) => {
  const { server, url, log } = await startServer(t);
  const received = receiveAll(server);
  const first = ffmpegPublish(url('live/same'));
  await once(server, 'publish');
  const second = await ffmpegPublish(url('live/same'));
  assert.notEqual(second.code, 0, 'the second publisher must be refused');
  assert.match(log.lines.join('\n'), /already live/);
  assert.equal((await first).code, 0);
  assert.equal(received.length, 1);
  assert.equal(probeFlv(t, await received[0]!.flv).video, 60);
  // Once the first has left, the key is free again.
  assert.equal((await ffmpegPublish(url('live/same'), 0.2)).code, 0);
});

test('garbage and silent connections are dropped without disturbing a live publisher', async (t) => {
  const { server, url, log } = await startServer(t, { idleTimeoutMs: 1000 });
  const received = receiveAll(server);
  const publishing = ffmpegPublish(url('live/steady'), 1);
  await once(server, 'publish');

  const closed = (bytes: Buffer | undefined) => {
    const socket = connect(Number(new URL(url('')).port), '127.0.0.1', () => bytes && socket.write(bytes));
    socket.on('error', () => {});
    socket.resume(); // read what the server says (S0+S1+S2), or its close is never seen
    const start = Date.now();
    return once(socket, 'close').then(() => Date.now() - start);
  };
  const afterHandshake = Buffer.concat([Buffer.of(3), Buffer.alloc(3072), Buffer.alloc(64, 0xff)]);
  const [http, chunkGarbage, silent] = await Promise.all([closed(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), closed(afterHandshake), closed(undefined)]);
  assert.ok(http < 900 && chunkGarbage < 900, `garbage is dropped at once (${http}, ${chunkGarbage} ms)`);
  assert.ok(silent >= 900, `a silent connection is dropped after the idle timeout (${silent} ms)`);
  assert.match(log.lines.join('\n'), /not RTMP/);

  assert.equal((await publishing).code, 0);
  assert.equal(probeFlv(t, await received[0]!.flv).video, 30);
});

test('authorize refuses a wrong key and accepts the right one', async (t) => {
  const { server, url } = await startServer(t, { authorize: (key) => key === 'secret' });
  const received = receiveAll(server);
  assert.notEqual((await ffmpegPublish(url('live/guess'), 0.5)).code, 0);
  assert.equal((await ffmpegPublish(url('live/secret'), 0.5)).code, 0);
  assert.deepEqual(received.map((r) => r.publish.key), ['secret']);
});

test('other apps, and any publish when nobody listens, are refused', async (t) => {
  const { server, url, log } = await startServer(t);
  assert.notEqual((await ffmpegPublish(url('live/nobody'), 0.5)).code, 0);
  const received = receiveAll(server);
  assert.notEqual((await ffmpegPublish(url('vod/key'), 0.5)).code, 0);
  assert.equal(received.length, 0);
  assert.match(log.lines.join('\n'), /no consumer[\s\S]*unknown application 'vod'/);
});

test('a slow consumer pauses the publisher instead of buffering without bound, and loses nothing', async (t) => {
  const maxBufferedBytes = 32 * 1024;
  const { server, url } = await startServer(t, { maxBufferedBytes });
  const publishing = ffmpegPublish(url('live/slow'));
  const [publish] = (await once(server, 'publish')) as [RtmpPublish];
  // Read nothing for 1.5 s, several times the buffer's worth of stream.
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, publish.flv.readableLength)), 10);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  clearInterval(sampler);
  // The bound is the buffer plus at most one socket read (64 KiB) parsed before the pause.
  assert.ok(peak <= maxBufferedBytes + 64 * 1024, `buffered ${peak} bytes`);
  const flv = await collect(publish.flv);
  assert.ok(flv.length > 3 * maxBufferedBytes, `the stream (${flv.length} bytes) outgrew the buffer, so the pause was real`);
  assert.equal((await publishing).code, 0);
  assert.equal(probeFlv(t, flv).video, 60);
});

test('close() drops live publishers, ends their streams and stops listening', async (t) => {
  const { server, url } = await startServer(t);
  const received = receiveAll(server);
  const publishing = ffmpegPublish(url('live/closing'));
  await once(server, 'publish');
  await server.close();
  assert.equal(await received[0]!.ended, 'server closed');
  await received[0]!.flv; // ends normally, not with an error
  assert.notEqual((await publishing).code, 0);
  assert.notEqual((await ffmpegPublish(url('live/closing'), 0.2)).code, 0, 'nothing listens any more');
});

test('listeners that throw or reject are logged, never crash the server', async (t) => {
  const { server, url, log } = await startServer(t);
  const throwing = () => {
    throw new Error('consumer exploded');
  };
  server.on('publish', throwing);
  assert.notEqual((await ffmpegPublish(url('live/boom'), 0.5)).code, 0, 'a publish whose listener threw is dropped');
  server.off('publish', throwing);

  server.on('publish', async (publish) => {
    publish.on('end', () => {
      throw new Error('end listener exploded');
    });
    throw new Error('async consumer exploded');
  });
  const received = receiveAll(server);
  assert.equal((await ffmpegPublish(url('live/boom'), 0.5)).code, 0);
  assert.equal(await received[0]!.ended, 'unpublished');
  const lines = log.lines.join('\n');
  for (const message of ['consumer exploded', 'async consumer exploded', 'end listener exploded']) assert.ok(lines.includes(message), message);
});
