import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Server } from '../../src/server/serve.js';
import { publish, startServer, until } from '../live-helpers.js';
import { makeOffer, postOffer } from '../webrtc-helpers.js';

const testSignal = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];
const sdpPost = (url: string) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });

test('/healthz answers 200; /readyz is 200 once the engine is loaded', async (t) => {
  const { http, server } = await startServer(t);
  await server.engineChecked();
  const health = await fetch(`${http}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(`${http}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(ready.headers.get('cache-control'), 'no-store');
  assert.equal((await fetch(`${http}/readyz`, { method: 'POST' })).status, 405);
});

test('/readyz is 503 with the reason when the model cannot be loaded; /healthz stays 200', async (t) => {
  const { http, server } = await startServer(t, { kind: 'model', modelPath: '/nonexistent/model.onnx' });
  await server.engineChecked();
  const ready = await fetch(`${http}/readyz`);
  assert.equal(ready.status, 503);
  const body = (await ready.json()) as { status: string; reason: string };
  assert.match(body.reason, /the model failed to load/);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
});

test('drain: new publishers and viewers get 503, the live stream plays out, then the server closes', async (t) => {
  const { http, rtmp, server, streams } = await startServer(t);
  const publisher = publish(rtmp('d'), testSignal(5));
  t.after(() => publisher.child.kill('SIGKILL'));
  await until('d live with a playlist', 15_000, async () => ((await fetch(`${http}/hls/d/index.m3u8`)).status === 200 ? true : undefined));

  const drained = server.drain(30_000);
  const ready = await fetch(`${http}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(((await ready.json()) as { reason: string }).reason, /draining/);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
  for (const path of ['/whip/other', '/whep/d']) {
    const res = await sdpPost(`${http}${path}`);
    assert.equal(res.status, 503, path);
    assert.match(((await res.json()) as { error: string }).error, /shutting down/);
  }
  // A new RTMP publisher is refused at once (ffmpeg gives up with an error)…
  const late = await publish(rtmp('late'), testSignal(5)).done;
  assert.notEqual(late.code, 0);
  // …while the live stream runs on and its HLS is still served.
  const during = (await streams()).find((s) => s.key === 'd');
  assert.equal(during?.state, 'live');
  assert.equal((await fetch(`${http}/hls/d/index.m3u8`)).status, 200);

  assert.equal((await publisher.done).code, 0);
  assert.deepEqual(await drained, { closedStreams: 0 });
  await assert.rejects(fetch(`${http}/healthz`), 'the server stopped listening');
});

test('drain: streams still live when the drain time is up are closed', async (t) => {
  const { http, rtmp, server, streams } = await startServer(t);
  const publisher = publish(rtmp('long'), testSignal(25));
  t.after(() => publisher.child.kill('SIGKILL'));
  await until('long live', 15_000, async () => ((await streams()).find((s) => s.key === 'long' && s.state === 'live') ? true : undefined));
  const started = Date.now();
  assert.deepEqual(await server.drain(1500), { closedStreams: 1 });
  const took = Date.now() - started;
  assert.ok(took >= 1400 && took < 10_000, `drain took ${took} ms`);
  // The publisher was dropped, long before its 25 s were up.
  const result = await publisher.done;
  assert.ok(result.code !== 0 || result.signal !== null || Date.now() - started < 15_000);
  await assert.rejects(fetch(`${http}/healthz`));
});

test('with pino, every line about a stream carries its key and id (the id /api/streams shows)', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const server = new Server({ kind: 'blend', httpPort: 0, rtmpPort: 0, logger });
  const { httpPort, rtmpPort } = await server.listen();
  t.after(() => server.close());
  const publisher = publish(`rtmp://127.0.0.1:${rtmpPort}/live/logged`, testSignal(2));
  assert.equal((await publisher.done).code, 0);
  const listed = await until('stream ended', 15_000, async () => {
    const res = (await (await fetch(`http://127.0.0.1:${httpPort}/api/streams`)).json()) as { streams: { key: string; id?: string; state: string }[] };
    return res.streams.find((s) => s.key === 'logged' && s.state === 'ended');
  });
  assert.match(listed.id ?? '', /^[0-9a-f]{8}$/);
  const about = lines.filter((line) => String(line.msg).includes("stream 'logged'"));
  assert.ok(about.length >= 3, `lines about the stream: ${JSON.stringify(about)}`);
  for (const line of about) {
    assert.equal(line.stream, 'logged', JSON.stringify(line));
    assert.equal(line.streamId, listed.id, JSON.stringify(line));
  }
});

test('with publicUrl, a session Location names this instance, so a DELETE behind a load balancer reaches it', async (t) => {
  const { http } = await startServer(t, { publicUrl: 'https://frc-0.frc.example.com/' });
  const { pc, sdp } = await makeOffer('sendonly');
  t.after(() => pc.close());
  const created = await postOffer(`${http}/whip/pub`, sdp);
  assert.equal(created.status, 201, created.error);
  const location = created.headers.get('location') ?? '';
  assert.match(location, /^https:\/\/frc-0\.frc\.example\.com\/whip\/pub\/[0-9a-f-]{36}$/);
  assert.equal((await fetch(`${http}${new URL(location).pathname}`, { method: 'DELETE' })).status, 200);
});
