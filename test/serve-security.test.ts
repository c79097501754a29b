import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { publish, startServer, until } from './live-helpers.js';
import { makeOffer, postOffer } from './webrtc-helpers.js';

const testSignal = (seconds: number, size = '320x240') => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];
const sdp = (body = 'v=0\r\n') => ({ method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body });
const withBearer = (token: string, body?: string) => ({ ...sdp(body), headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` } });
const H264 = [{ mimeType: 'video/H264', parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' }];
const SECRETS = ['global-pub-t0ken', 'cam-pub-t0ken', 'cam-view-t0ken', 'adm1n-t0ken'];

test('WHIP/WHEP bearer tokens per stream key: 401 missing or wrong (the global one does not open a key with its own), past it with the right one', async (t) => {
  const { http, log } = await startServer(t, {
    token: 'global-pub-t0ken',
    streams: { cam: { token: 'cam-pub-t0ken', viewToken: 'cam-view-t0ken' } },
  });
  const cases: [string, RequestInit, number][] = [
    ['/whip/cam', sdp(), 401],
    ['/whip/cam', withBearer('global-pub-t0ken'), 401],
    ['/whip/cam', withBearer('cam-pub-t0ken!'), 401],
    ['/whip/cam', withBearer('cam-pub-t0ke'), 401],
    ['/whip/cam', withBearer('cam-pub-t0ken'), 400], // past the token: the offer itself is malformed
    ['/whip/other', sdp(), 401],
    ['/whip/other', withBearer('global-pub-t0ken'), 400],
    ['/whep/cam', sdp(), 401],
    ['/whep/cam', withBearer('cam-pub-t0ken'), 401],
    ['/whep/cam', withBearer('cam-view-t0ken'), 400],
    ['/whep/other', sdp(), 400], // no view token for other keys
  ];
  for (const [path, init, status] of cases) {
    const res = await fetch(`${http}${path}`, init);
    assert.equal(res.status, status, `${path} ${JSON.stringify(init.headers)}`);
    if (status === 401) assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  }
  // DELETE on a session needs the key's token as well.
  const id = '0123abcd-0000-4000-8000-00000000abcd';
  assert.equal((await fetch(`${http}/whip/cam/${id}`, { method: 'DELETE' })).status, 401);
  assert.equal((await fetch(`${http}/whip/cam/${id}`, { method: 'DELETE', headers: { Authorization: 'Bearer cam-pub-t0ken' } })).status, 404);
  assert.equal((await fetch(`${http}/whep/cam/${id}`, { method: 'DELETE' })).status, 401);
  for (const secret of SECRETS) assert.ok(!log.lines.join('\n').includes(secret), secret);
});

test('RTMP keys per stream key: refused without or with a wrong ?key=, published with the right one, and the secret is never logged', async (t) => {
  const { rtmp, streams, log } = await startServer(t, { streams: { cam: { token: 'cam-pub-t0ken' } } });
  assert.notEqual((await publish(rtmp('cam'), testSignal(2)).done).code, 0);
  assert.notEqual((await publish(rtmp('cam?key=wrong'), testSignal(2)).done).code, 0);
  assert.equal((await streams()).length, 0);
  const ok = publish(rtmp('cam?key=cam-pub-t0ken'), testSignal(2));
  t.after(() => ok.child.kill('SIGKILL'));
  assert.equal((await ok.done).code, 0);
  const listed = await until('cam ended', 15_000, async () => (await streams()).find((s) => s.key === 'cam' && s.state === 'ended'));
  assert.ok(listed.framesIn > 30, `${listed.framesIn} frames`);
  assert.ok(log.lines.some((line) => line.includes('refused publish')), log.lines.join('\n'));
  assert.ok(!log.lines.join('\n').includes('cam-pub-t0ken'));
});

test('only listed keys may publish when openPublishing is off', async (t) => {
  const { http } = await startServer(t, { openPublishing: false, streams: { cam: {} } });
  const other = await fetch(`${http}/whip/other`, sdp());
  assert.equal(other.status, 403);
  assert.match(((await other.json()) as { error: string }).error, /may not publish/);
  assert.equal((await fetch(`${http}/whip/cam`, sdp())).status, 400);
});

test('limits: streams (WHIP 503, RTMP refused, /readyz full) and viewers per stream (503)', async (t) => {
  const { http, rtmp, streams } = await startServer(t, { testPattern: 'test', limits: { maxStreams: 1, maxViewersPerStream: 1 } });
  const full = await fetch(`${http}/whip/other`, sdp());
  assert.equal(full.status, 503);
  assert.match(((await full.json()) as { error: string }).error, /limit of 1 streams/);
  const ready = await fetch(`${http}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(((await ready.json()) as { reason: string }).reason, /full: 1 of 1 streams/);
  assert.notEqual((await publish(rtmp('other'), testSignal(2)).done).code, 0);
  assert.deepEqual((await streams()).map((s) => s.key), ['test']);

  await until('test pattern live', 20_000, async () => ((await streams()).find((s) => s.key === 'test' && s.state === 'live') ? true : undefined));
  const first = await makeOffer('recvonly', H264);
  t.after(() => first.pc.close());
  const viewer = await postOffer(`${http}/whep/test`, first.sdp);
  assert.equal(viewer.status, 201, viewer.error);
  const second = await makeOffer('recvonly', H264);
  t.after(() => second.pc.close());
  const refused = await postOffer(`${http}/whep/test`, second.sdp);
  assert.equal(refused.status, 503);
  assert.match(refused.error ?? '', /limit of 1 viewers/);
});

test('limits: a publisher over the maximum resolution ends its stream with the reason; others are untouched', async (t) => {
  const { rtmp, streams } = await startServer(t, { limits: { maxWidth: 640, maxHeight: 480 }, streams: { small: { maxWidth: 200, maxHeight: 200 } } });
  const big = publish(rtmp('big'), testSignal(4, '800x600'));
  const small = publish(rtmp('small'), testSignal(4, '320x240'));
  const fine = publish(rtmp('fine'), testSignal(3, '320x240'));
  t.after(() => [big, small, fine].forEach((p) => p.child.kill('SIGKILL')));
  const failed = await until('big and small to fail', 20_000, async () => {
    const list = await streams();
    const b = list.find((s) => s.key === 'big');
    const s = list.find((x) => x.key === 'small');
    return b?.state === 'failed' && s?.state === 'failed' ? { b, s } : undefined;
  });
  assert.match(failed.b.error ?? '', /800x600, over this server's limit of 640x480/);
  assert.match(failed.s.error ?? '', /320x240, over this server's limit of 200x200/);
  assert.equal((await fine.done).code, 0);
  const done = await until('fine to end', 15_000, async () => (await streams()).find((s) => s.key === 'fine' && (s.state === 'ended' || s.state === 'failed')));
  assert.equal(done.state, 'ended', done.error);
});

test('limits: request body size (413) and request rate per client IP (429 with Retry-After; health checks exempt)', async (t) => {
  const { http } = await startServer(t, { limits: { maxBodyBytes: 1024, requestsPerSecond: 0.5, requestBurst: 4 } });
  const big = await fetch(`${http}/whip/cam`, sdp('v=0\r\n' + 'a=x\r\n'.repeat(400)));
  assert.equal(big.status, 413);
  assert.match(((await big.json()) as { error: string }).error, /larger than 1024 bytes/);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${http}/api/streams`);
    statuses.push(res.status);
    if (res.status === 429) retryAfter = res.headers.get('retry-after');
    await res.arrayBuffer();
  }
  // The 413 took one of the 4; three more pass, the rest wait.
  assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 2, `Retry-After ${retryAfter}`);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
  assert.equal((await fetch(`${http}/readyz`)).status, 200);
});

test('admin API behind its own token: /api/streams, /metrics and the WebSocket feed are 401 without it', async (t) => {
  const { http, log } = await startServer(t, { admin: { token: 'adm1n-t0ken' } });
  for (const path of ['/api/streams', '/metrics']) {
    assert.equal((await fetch(`${http}${path}`)).status, 401, path);
    assert.equal((await fetch(`${http}${path}`, { headers: { Authorization: 'Bearer nope' } })).status, 401, path);
    assert.equal((await fetch(`${http}${path}`, { headers: { Authorization: 'Bearer adm1n-t0ken' } })).status, 200, path);
  }
  // The public side stays open.
  assert.equal((await fetch(`${http}/`)).status, 200);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
  const ws = `${http.replace('http', 'ws')}/api/ws`;
  const refused = await new Promise<number>((resolve) => new WebSocket(ws).on('unexpected-response', (_req, res) => resolve(res.statusCode!)).on('error', () => {}));
  assert.equal(refused, 401);
  const opened = new WebSocket(ws, { headers: { Authorization: 'Bearer adm1n-t0ken' } });
  t.after(() => opened.terminate());
  const first = await new Promise<string>((resolve, reject) => opened.on('message', (data) => resolve(String(data))).on('error', reject));
  assert.ok(Array.isArray((JSON.parse(first) as { streams: unknown[] }).streams));
  assert.ok(!log.lines.join('\n').includes('adm1n-t0ken'));
});

test('admin API on its own port: the public port does not serve it, the admin port serves only it and the health checks', async (t) => {
  const { http, server } = await startServer(t, { admin: { port: 0 } });
  const address = server.address;
  assert.ok(address?.adminPort);
  const admin = `http://127.0.0.1:${address.adminPort}`;
  assert.equal((await fetch(`${http}/api/streams`)).status, 404);
  assert.equal((await fetch(`${http}/metrics`)).status, 404);
  assert.equal((await fetch(`${http}/whip/cam`, sdp())).status, 400);
  assert.equal((await fetch(`${admin}/api/streams`)).status, 200);
  assert.equal((await fetch(`${admin}/metrics`)).status, 200);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  assert.equal((await fetch(`${admin}/`)).status, 404);
  assert.equal((await fetch(`${admin}/whip/cam`, sdp())).status, 404);
});
