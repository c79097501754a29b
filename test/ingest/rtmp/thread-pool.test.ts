import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { rtmpCapacity, threadPoolSize } from '../../../src/ingest/rtmp/thread-pool.js';
import { CLI } from '../../helpers.js';
import { publish, until } from '../../live-helpers.js';
import { Server } from '../../../src/serve.js';

test('the pool size is read as libuv reads it', () => {
  assert.equal(threadPoolSize({}), 4);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '20' }), 20);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024);
  assert.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'lots' }), 4);
  assert.equal(rtmpCapacity(4), 3);
  assert.equal(rtmpCapacity(1), 1);
});

// Four RTMP publishers on libuv's default pool of four threads starved every stream (27 fps out of 60):
// each stream's FLV reader holds a pool thread. The server now takes as many as leave a thread for the work.
test('frc serve with the default thread pool takes three RTMP streams at full rate and refuses a fourth with the reason', async (t) => {
  const env = { ...process.env };
  delete env.UV_THREADPOOL_SIZE;
  const child = spawn(process.execPath, [CLI, 'serve', '--model', 'blend', '--http-port', '0', '--rtmp-port', '0', '--encoder-preset', 'ultrafast'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const { http, rtmp } = await until('the server', 20_000, async () => {
    const page = /open (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout)?.[1];
    const port = /rtmp:\/\/127\.0\.0\.1:(\d+)\/live/.exec(stderr)?.[1];
    return page && port ? { http: page, rtmp: (key: string) => `rtmp://127.0.0.1:${port}/live/${key}` } : undefined;
  });
  assert.match(stderr, /RTMP ingest takes 3 streams at once, fewer than limits\.maxStreams \(16\).*UV_THREADPOOL_SIZE=17/);

  const signal = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30:duration=14', '-an'];
  const publishers = ['a', 'b', 'c'].map((key) => publish(rtmp(key), signal));
  t.after(() => publishers.forEach((p) => p.child.kill('SIGKILL')));
  type Stats = { key: string; state: string; outputFps: number };
  const streams = async () => ((await (await fetch(`${http}/api/streams`)).json()) as { streams: Stats[] }).streams;
  await until('three live streams', 20_000, async () => ((await streams()).filter((s) => s.state === 'live').length === 3 ? true : undefined));

  const fourth = await publish(rtmp('d'), signal).done;
  assert.notEqual(fourth.code, 0, 'the fourth publisher is refused');
  assert.match(stderr, /RTMP ingest is at its limit of 3 streams/);
  // The three keep their full rate: the rate meter needs a few seconds of output.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const live = await streams();
  assert.deepEqual(live.map((s) => s.key).sort(), ['a', 'b', 'c']);
  for (const s of live) assert.ok(s.outputFps >= 50, `${s.key}: ${s.outputFps} fps out`);
});

test('the test pattern takes a pool thread from RTMP: its realtime filter waits in its reader', async (t) => {
  const before = process.env.UV_THREADPOOL_SIZE;
  t.after(() => (before === undefined ? delete process.env.UV_THREADPOOL_SIZE : (process.env.UV_THREADPOOL_SIZE = before)));
  // Only what the server computes from the variable: this process's pool was sized when it started.
  process.env.UV_THREADPOOL_SIZE = '6';
  assert.equal(new Server({ kind: 'blend' }).rtmpCapacity, 5);
  assert.equal(new Server({ kind: 'blend', testPattern: 'tp' }).rtmpCapacity, 4);
});
