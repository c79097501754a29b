// First: node-av needs it before it loads.
import '../../src/base/polyfills.js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { captureFfmpegLog } from '../../src/base/ffmpeg-log.js';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { Server } from '../../src/server/serve.js';
import { captureLog } from '../protocols/rtmp/rtmp-helpers.js';

captureFfmpegLog();

interface StreamsMessage {
  type: string;
  streams: LiveStreamStats[];
}

/** Publishes `seconds` of 320x180 test signal with a tone, in real time. */
function publish(url: string, seconds: number): Promise<number | null> {
  const input = ['-f', 'lavfi', '-i', `testsrc2=size=320x180:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];
  const child = spawn('ffmpeg', ['-v', 'error', '-re', ...input, '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-f', 'flv', url], {
    stdio: 'ignore',
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Connects and records every message with its arrival time. */
function connect(url: string) {
  const ws = new WebSocket(url);
  const messages: { at: number; data: StreamsMessage }[] = [];
  ws.on('message', (data) => messages.push({ at: performance.now(), data: JSON.parse(String(data)) as StreamsMessage }));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return { ws, messages, opened, closed };
}

async function until<T>(what: string, ms: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('GET /api/ws streams the stream list every second while a stream is live; close() closes the clients', async (t) => {
  const server = new Server({ kind: 'blend', httpPort: 0, rtmpPort: 0, endedRetentionMs: 60_000, logger: captureLog() });
  const { httpPort, rtmpPort } = await server.listen();
  t.after(() => server.close());

  const client = connect(`ws://127.0.0.1:${httpPort}/api/ws`);
  await client.opened;
  // The list comes at once on connect, before anything is published.
  const first = await until('the first message', 2_000, () => client.messages[0]);
  assert.deepEqual(first.data, { type: 'streams', streams: [] });

  const published = publish(`rtmp://127.0.0.1:${rtmpPort}/live/cam`, 4);
  // Two consecutive updates that both show the stream live and producing.
  const liveUpdates = (i: number) => {
    const m = client.messages[i]?.data.streams.find((s) => s.key === 'cam');
    return m?.state === 'live' && m.outputFps > 0 ? m : undefined;
  };
  const pair = await until('two live updates in a row', 15_000, () => {
    for (let i = 1; i < client.messages.length; i++) if (liveUpdates(i - 1) && liveUpdates(i)) return [client.messages[i - 1]!, client.messages[i]!];
    return undefined;
  });
  const gap = pair[1].at - pair[0].at;
  const stats = pair[1].data.streams[0]!;
  t.diagnostic(`updates ${gap.toFixed(0)} ms apart; cam ${stats.inputFps} → ${stats.outputFps} fps, ${stats.framesOut} frames out`);
  assert.equal(pair[1].data.type, 'streams');
  assert.ok(gap > 800 && gap < 1_500, `updates ${gap} ms apart`);
  // The same objects as GET /api/streams.
  const api = ((await (await fetch(`http://127.0.0.1:${httpPort}/api/streams`)).json()) as { streams: LiveStreamStats[] }).streams;
  assert.deepEqual(Object.keys(api[0]!).sort(), Object.keys(stats).sort());

  // A client that leaves is dropped; the others keep getting updates.
  const leaver = connect(`ws://127.0.0.1:${httpPort}/api/ws`);
  await leaver.opened;
  leaver.ws.terminate();
  await leaver.closed;
  const count = client.messages.length;
  await until('another update', 3_000, () => (client.messages.length > count ? true : undefined));

  assert.equal(await published, 0);
  await server.close();
  assert.equal(await client.closed, 1001, 'closed as going away');
});

test('upgrades elsewhere get a 404 and are hung up; a plain GET /api/ws gets 426', async (t) => {
  const server = new Server({ kind: 'blend', httpPort: 0, rtmpPort: 0, logger: captureLog() });
  const { httpPort } = await server.listen();
  t.after(() => server.close());
  for (const path of ['/api/streams', '/hls/a/index.m3u8', '/nope', '/api/ws/../streams']) {
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}${path}`);
    const status = await new Promise<number>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode!));
      });
      ws.once('open', () => reject(new Error(`${path} was upgraded`)));
    });
    assert.equal(status, 404, path);
  }
  const plain = await fetch(`http://127.0.0.1:${httpPort}/api/ws`);
  assert.equal(plain.status, 426);
  assert.equal(plain.headers.get('upgrade'), 'websocket');
  // The server is fine afterwards.
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/api/streams`)).status, 200);
});
