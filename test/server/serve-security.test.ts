import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { publish, startServer, until } from '../live-helpers.js';
import { makeOffer, postOffer } from '../webrtc-helpers.js';

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

test('limits: behind a trusted proxy the rate limit counts each client X-Forwarded-For names; from anyone else the header is ignored', async (t) => {
  const limits = { requestsPerSecond: 0.5, requestBurst: 2 };
  const statuses = async (http: string, clients: string[]) => {
    const out: number[] = [];
    for (const client of clients) {
      const res = await fetch(`${http}/api/streams`, { headers: { 'X-Forwarded-For': `198.51.100.99, ${client}` } });
      out.push(res.status);
      await res.arrayBuffer();
    }
    return out;
  };
  const behindProxy = await startServer(t, { limits, trustedProxies: ['127.0.0.1'] });
  assert.deepEqual(await statuses(behindProxy.http, ['203.0.113.1', '203.0.113.1', '203.0.113.1', '203.0.113.2', '203.0.113.2']), [200, 200, 429, 200, 200]);
  // Not trusted: one client, however it labels its requests.
  const direct = await startServer(t, { limits });
  assert.deepEqual(await statuses(direct.http, ['203.0.113.1', '203.0.113.2', '203.0.113.3']), [200, 200, 429]);
});

test('HLS of a key with a view token needs it too: as a bearer header, or in the playlist URL, whose segment URLs then carry it (ffprobe plays it)', async (t) => {
  const { http, rtmp, streams } = await startServer(t, { viewToken: 'v1ew-t0ken' });
  const publisher = publish(rtmp('cam'), testSignal(8));
  t.after(() => publisher.child.kill('SIGKILL'));
  const playlist = `${http}/hls/cam/index.m3u8`;
  const bearer = { headers: { Authorization: 'Bearer v1ew-t0ken' } };
  await until('cam has segments', 20_000, async () => ((await streams()).some((s) => s.key === 'cam' && s.state === 'live') && (await (await fetch(playlist, bearer)).text()).includes('.ts') ? true : undefined));
  for (const url of [playlist, `${playlist}?token=wrong`, `${http}/hls/cam/seg00000.ts`]) {
    const res = await fetch(url);
    assert.equal(res.status, 401, url);
    assert.match(((await res.json()) as { error: string }).error, /needs its view token/);
  }
  const withHeader = await (await fetch(playlist, bearer)).text();
  const segment = withHeader.split('\n').find((line) => line.endsWith('.ts'))!;
  assert.equal((await fetch(`${http}/hls/cam/${segment}`, bearer)).status, 200);
  const withQuery = await (await fetch(`${playlist}?token=v1ew-t0ken`)).text();
  const segments = withQuery.split('\n').filter((line) => line.includes('.ts'));
  assert.ok(segments.length > 0 && segments.every((line) => line.endsWith('.ts?token=v1ew-t0ken')), withQuery);
  assert.equal((await fetch(new URL(segments[0]!, playlist))).status, 200);
  // Not spawnSync: the server answering ffprobe runs in this process.
  const probed = await promisify(execFile)('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', `${playlist}?token=v1ew-t0ken`], { timeout: 20_000 });
  assert.match(probed.stdout, /^h264$/m, probed.stderr);
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
  // A stream's badged frames are admin API too: with the token, an unknown key is a 404, not a 401.
  assert.equal((await fetch(`${http}/api/streams/cam/frames`)).status, 401);
  assert.equal((await fetch(`${http}/api/streams/cam/frames`, { headers: { Authorization: 'Bearer adm1n-t0ken' } })).status, 404);
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
  assert.equal((await fetch(`${http}/api/streams/cam/frames`)).status, 404);
  assert.match(((await (await fetch(`${admin}/api/streams/cam/frames`)).json()) as { error: string }).error, /no such stream/);
  assert.equal((await fetch(`${admin}/metrics`)).status, 200);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  assert.equal((await fetch(`${admin}/`)).status, 404);
  assert.equal((await fetch(`${admin}/whip/cam`, sdp())).status, 404);
});

test('an external auth hook decides every WHIP/WHEP/RTMP client after the token checks: 403 refused, 503 when it is down; RTMP waits for its answer', async (t) => {
  const asked: { action: string; protocol: string; key: string; token?: string; ip?: string }[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const query = JSON.parse(body) as (typeof asked)[number];
      asked.push(query);
      // The allowed keys answer late, so an RTMP publisher really waits for the verdict.
      const allowed = query.token === 'h00k-t0ken' || query.key === 'open';
      setTimeout(() => res.writeHead(allowed ? 200 : 403).end(), allowed ? 300 : 0);
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => hook.close(resolve)));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/auth`;
  const { http, rtmp, streams, log } = await startServer(t, { authHook: { url: hookUrl }, streams: { cam: { token: 'cam-pub-t0ken' } } });

  assert.equal((await fetch(`${http}/whip/any`, sdp())).status, 403);
  assert.equal((await fetch(`${http}/whip/any`, withBearer('h00k-t0ken'))).status, 400); // past the hook: the offer is malformed
  assert.equal((await fetch(`${http}/whep/any`, withBearer('wrong'))).status, 403);
  assert.equal((await fetch(`${http}/whep/open`, sdp())).status, 400);
  // The key's own token is checked first: the hook is not even asked without it.
  const before = asked.length;
  assert.equal((await fetch(`${http}/whip/cam`, withBearer('h00k-t0ken'))).status, 401);
  assert.equal(asked.length, before);
  assert.deepEqual(asked[1], { action: 'publish', protocol: 'whip', key: 'any', token: 'h00k-t0ken', ip: '127.0.0.1' });
  assert.equal(asked[2]!.action, 'read');

  assert.notEqual((await publish(rtmp('any?key=wrong'), testSignal(1)).done).code, 0);
  const ok = publish(rtmp('any?key=h00k-t0ken'), testSignal(2));
  t.after(() => ok.child.kill('SIGKILL'));
  assert.equal((await ok.done).code, 0);
  const listed = await until('any ended', 15_000, async () => (await streams()).find((s) => s.key === 'any' && s.state === 'ended'));
  assert.ok(listed.framesIn > 50, `${listed.framesIn} of 60 frames went through`);
  assert.ok(asked.some((q) => q.protocol === 'rtmp' && q.token === 'h00k-t0ken' && q.action === 'publish'));

  // The hook goes away: everyone is refused, as unavailable.
  await new Promise((resolve) => hook.close(resolve));
  hook.closeAllConnections();
  const down = await fetch(`${http}/whip/open`, sdp());
  assert.equal(down.status, 503);
  assert.match(((await down.json()) as { error: string }).error, /authentication service is unavailable/);
  assert.notEqual((await publish(rtmp('open'), testSignal(1)).done).code, 0);
  assert.ok(!log.lines.join('\n').includes('h00k-t0ken'));
});

test('limits: a publisher over the bitrate limit (5 s average) ends its stream with the reason; one under it, and a key allowed more, go on', async (t) => {
  const { rtmp, streams } = await startServer(t, { limits: { maxBitrateKbps: 3000 }, streams: { roomy: { maxBitrateKbps: 20_000 } } });
  // Noise does not compress: about 9.5 Mbit/s at 320x240; the plain test signal is under 1 Mbit/s.
  const noisy = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds},noise=alls=40:allf=t`];
  const fat = publish(rtmp('fat'), noisy(6));
  const roomy = publish(rtmp('roomy'), noisy(3));
  const fine = publish(rtmp('fine'), testSignal(3));
  t.after(() => [fat, roomy, fine].forEach((p) => p.child.kill('SIGKILL')));
  const failed = await until('fat to fail', 20_000, async () => (await streams()).find((s) => s.key === 'fat' && s.state === 'failed'));
  assert.match(failed.error ?? '', /sends \d+\.\d Mbit\/s \(5 s average\), over this stream's limit of 3 Mbit\/s/);
  assert.notEqual((await fat.done).code, 0, 'the publisher was dropped');
  for (const [key, publisher] of [['roomy', roomy], ['fine', fine]] as const) {
    assert.equal((await publisher.done).code, 0);
    const done = await until(`${key} to end`, 15_000, async () => (await streams()).find((s) => s.key === key && (s.state === 'ended' || s.state === 'failed')));
    assert.equal(done.state, 'ended', done.error);
    assert.ok(done.framesIn > 80, `${key}: ${done.framesIn} frames`);
  }
});
