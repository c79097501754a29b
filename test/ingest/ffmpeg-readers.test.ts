import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { FfmpegReaderPool, ffmpegReaderCapacity, rtmpCapacity, threadPoolSize } from '../../src/ingest/ffmpeg-readers.js';
import { CLI, tempDir } from '../helpers.js';
import { publish, type TestContext, until } from '../live-helpers.js';
import { Server } from '../../src/server/serve.js';

test('the pool size is read as libuv reads it', () => {
  assert.equal(threadPoolSize({}), 4);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '20' }), 20);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'lots' }), 4);
  assert.equal(rtmpCapacity(4), 3);
  assert.equal(rtmpCapacity(1), 1);
  assert.equal(ffmpegReaderCapacity(0, 6), 5);
  assert.equal(ffmpegReaderCapacity(1, 6), 4);
  assert.equal(ffmpegReaderCapacity(1, 2), 1, 'always room for one');
});

test('FFmpeg readers are counted against the capacity: a full pool says why, a release makes room', () => {
  const pool = new FfmpegReaderPool(2);
  assert.equal(pool.acquire(), undefined);
  assert.equal(pool.acquire(), undefined);
  assert.equal(pool.inUse, 2);
  assert.match(pool.acquire() ?? '', /^all 2 of its readers are busy \(each holds a thread of libuv's pool of \d+; UV_THREADPOOL_SIZE raises it\)$/);
  assert.equal(pool.inUse, 2);
  pool.release();
  assert.equal(pool.acquire(), undefined);
  pool.release();
  pool.release();
  pool.release();
  assert.equal(pool.inUse, 0, 'never below zero');
});

/** `frc serve` on libuv's default pool of four threads, and where its pages and RTMP port are. */
async function serveOnDefaultPool(t: TestContext) {
  // Its HLS files under the test's own directory: the server is killed, not closed, so it cannot remove them.
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tempDir(t) };
  delete env.UV_THREADPOOL_SIZE;
  const child = spawn(process.execPath, [CLI, 'serve', '--model', 'blend', '--http-port', '0', '--rtmp-port', '0', '--encoder-preset', 'ultrafast'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  const out = { stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
  const { http, port } = await until('the server', 20_000, async () => {
    const page = /open (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout)?.[1];
    const rtmpPort = /rtmp:\/\/127\.0\.0\.1:(\d+)\/live/.exec(out.stderr)?.[1];
    return page && rtmpPort ? { http: page, port: rtmpPort } : undefined;
  });
  type Stats = { key: string; state: string; outputFps: number };
  const streams = async () => ((await (await fetch(`${http}/api/streams`)).json()) as { streams: Stats[] }).streams;
  return { out, rtmp: (key: string) => `rtmp://127.0.0.1:${port}/live/${key}`, streams };
}

// Four RTMP publishers on libuv's default pool of four threads once starved every stream (27 fps out of 60):
// FFmpeg's FLV reader holds a pool thread per stream. H.264 is now read without it.
test('frc serve with the default thread pool takes five H.264 RTMP streams, each at full rate', async (t) => {
  const { out, rtmp, streams } = await serveOnDefaultPool(t);
  const signal = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=14', '-an'];
  const keys = ['a', 'b', 'c', 'd', 'e'];
  const publishers = keys.map((key) => publish(rtmp(key), signal));
  t.after(() => publishers.forEach((p) => p.child.kill('SIGKILL')));
  await until('five live streams', 20_000, async () => ((await streams()).filter((s) => s.state === 'live').length === 5 ? true : undefined));
  // the rate meter needs a few seconds of output
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const live = await streams();
  assert.deepEqual(live.map((s) => s.key).sort(), keys, out.stderr);
  for (const s of live) assert.ok(s.outputFps >= 50, `${s.key}: ${s.outputFps} fps out`);
});

test('RTMP in other codecs goes to FFmpeg, whose readers the pool bounds: the fourth is ended with the reason, H.264 still comes in', async (t) => {
  const { out, rtmp, streams } = await serveOnDefaultPool(t);
  // Sorenson H.263 ("flv1"), which only FFmpeg's FLV demuxer reads here
  const flv1 = (key: string) => spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15:duration=20', '-an', '-c:v', 'flv', '-f', 'flv', rtmp(key)], { stdio: 'ignore' });
  const children = ['a', 'b', 'c'].map(flv1);
  t.after(() => children.forEach((c) => c.kill('SIGKILL')));
  await until('three flv1 streams live', 20_000, async () => ((await streams()).filter((s) => s.state === 'live').length === 3 ? true : undefined));
  const fourth = flv1('d');
  t.after(() => fourth.kill('SIGKILL'));
  await until('the fourth ended with its reason', 20_000, async () => (/stream 'd'.*its video is not H\.264 \(FLV codec 2\), so FFmpeg must read it, and all 3 of its readers are busy/.test(out.stderr) ? true : undefined));
  const h264 = publish(rtmp('e'), ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=8', '-an']);
  t.after(() => h264.child.kill('SIGKILL'));
  await until('the H.264 stream live beside them', 20_000, async () => ((await streams()).some((s) => s.key === 'e' && s.state === 'live') ? true : undefined));
  assert.deepEqual((await streams()).filter((s) => s.state === 'live').map((s) => s.key).sort(), ['a', 'b', 'c', 'e']);
});

test('the test pattern takes a pool thread from FFmpeg\'s FLV readers: its realtime filter waits in its reader', async (t) => {
  const before = process.env.UV_THREADPOOL_SIZE;
  t.after(() => (before === undefined ? delete process.env.UV_THREADPOOL_SIZE : (process.env.UV_THREADPOOL_SIZE = before)));
  // Only what the server computes from the variable: this process's pool was sized when it started.
  process.env.UV_THREADPOOL_SIZE = '6';
  assert.equal(new Server({ kind: "blend" }).ffmpegReaderCapacity, 5);
  assert.equal(new Server({ kind: "blend", testPattern: "tp" }).ffmpegReaderCapacity, 4);
});
