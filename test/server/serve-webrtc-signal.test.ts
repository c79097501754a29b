import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publish, startServer, until } from '../live-helpers.js';
import { makeOffer, postOffer } from '../webrtc-helpers.js';

const testSignal = (seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=30:duration=${seconds}`, '-f', 'lavfi', '-i', `sine=duration=${seconds}`];

test('WHIP: 201 with an answer and a Location; DELETE ends the session and its stream; OPTIONS and CORS for browsers', async (t) => {
  const { http, streams } = await startServer(t);
  const { pc, sdp } = await makeOffer('sendonly');
  t.after(() => pc.close());

  const preflight = await fetch(`${http}/whip/cam`, { method: 'OPTIONS' });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  assert.match(preflight.headers.get('access-control-allow-methods')!, /POST/);
  assert.match(preflight.headers.get('access-control-allow-headers')!, /Authorization/);
  assert.equal(preflight.headers.get('accept-post'), 'application/sdp');

  const res = await postOffer(`${http}/whip/cam`, sdp);
  assert.equal(res.status, 201, res.error);
  assert.equal(res.headers.get('content-type'), 'application/sdp');
  assert.match(res.headers.get('access-control-expose-headers')!, /Location/);
  const location = res.headers.get('location')!;
  assert.match(location, /^\/whip\/cam\/[0-9a-f-]{36}$/);
  assert.match(res.text, /^v=0\r?\n/);
  assert.match(res.text, /a=rtpmap:\d+ VP8\/90000/);
  assert.match(res.text, /a=candidate:.* 127\.0\.0\.1 /, 'the answer carries its candidates (no trickle)');
  assert.doesNotMatch(res.text, /transport-wide-cc/);
  assert.equal((await streams()).find((s) => s.key === 'cam')?.protocol, 'whip');

  assert.equal((await fetch(`${http}${location}`, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=end-of-candidates' })).status, 405);
  assert.equal((await fetch(`${http}/whip/cam/00000000-0000-0000-0000-000000000000`, { method: 'DELETE' })).status, 404);
  assert.equal((await fetch(`${http}/whip/other${location.slice('/whip/cam'.length)}`, { method: 'DELETE' })).status, 404, 'the session belongs to its key');
  assert.equal((await fetch(`${http}${location}`, { method: 'DELETE' })).status, 200);
  const ended = await until('cam to end', 10_000, async () => {
    const s = (await streams()).find((x) => x.key === 'cam');
    return s?.state === 'ended' || s?.state === 'failed' ? s : undefined;
  });
  assert.equal(ended.state, 'ended', ended.error);
  assert.equal((await fetch(`${http}${location}`, { method: 'DELETE' })).status, 404, 'a session ends once');

  // The key is free again.
  const again = await makeOffer('sendonly');
  t.after(() => again.pc.close());
  assert.equal((await postOffer(`${http}/whip/cam`, again.sdp)).status, 201);
});

test('WHIP refuses bad offers with a reason: 400 malformed, 415 wrong type, 406 no usable codec, 409 key live', async (t) => {
  const { http, rtmp, streams } = await startServer(t);
  const { pc, sdp } = await makeOffer('sendonly');
  t.after(() => pc.close());

  for (const [body, pattern] of [
    ['', /empty body/],
    ['hello', /must start with "v=0"/],
    ['v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n', /no media section/],
    [sdp.replace(/a=ice-ufrag:.*\r\n/g, ''), /no ICE credentials/],
    [sdp.replace(/a=fingerprint:.*\r\n/g, ''), /no DTLS fingerprint/],
    [sdp.replace(/m=video (\d+) UDP\/TLS\/RTP\/SAVPF/, 'm=video $1 RTP/AVP'), /UDP\/TLS\/RTP\/SAVPF/],
    [sdp.replace(/a=rtpmap:.*\r\n/g, ''), /no rtpmap/],
    [sdp.replace('a=sendonly', 'a=recvonly'), /must be sendonly/],
    ['v=0\r\n\u0000\u0001garbage', /malformed SDP line/],
  ] as const) {
    const res = await postOffer(`${http}/whip/bad`, body);
    assert.equal(res.status, 400, `${body.slice(0, 40)}: ${res.status} ${res.error}`);
    assert.match(res.error ?? '', pattern);
  }

  const text = await fetch(`${http}/whip/bad`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: sdp });
  assert.equal(text.status, 415);
  assert.match(((await text.json()) as { error: string }).error, /application\/sdp/);

  const vp9 = await makeOffer('sendonly', [{ mimeType: 'video/VP9' }, { mimeType: 'video/AV1X' }]);
  t.after(() => vp9.pc.close());
  const unsupported = await postOffer(`${http}/whip/bad`, vp9.sdp);
  assert.equal(unsupported.status, 406);
  assert.match(unsupported.error!, /offered VP9, AV1X; this server takes H264 or VP8/);

  const big = await postOffer(`${http}/whip/bad`, `v=0\r\n${'a=x\r\n'.repeat(20_000)}`);
  assert.equal(big.status, 413);
  assert.equal((await postOffer(`${http}/whip/bad%2f..`, sdp)).status, 404);
  assert.equal((await fetch(`${http}/whip/bad`)).status, 405);
  assert.deepEqual(await streams(), [], 'no refused offer left a stream behind');

  // A key live over RTMP: WHIP gets 409; the RTMP stream is undisturbed.
  const p = publish(rtmp('busy'), testSignal(6));
  await until('busy live', 10_000, async () => ((await streams()).find((s) => s.key === 'busy')?.state === 'live' ? true : undefined));
  const busy = await postOffer(`${http}/whip/busy`, sdp);
  assert.equal(busy.status, 409);
  assert.match(busy.error!, /already live/);
  // A key live over WHIP: a second WHIP publisher gets 409, and RTMP is refused.
  assert.equal((await postOffer(`${http}/whip/w`, sdp)).status, 201);
  const other = await makeOffer('sendonly');
  t.after(() => other.pc.close());
  const second = await postOffer(`${http}/whip/w`, other.sdp);
  assert.equal(second.status, 409);
  assert.match(second.error!, /already live/);
  assert.notEqual((await publish(rtmp('w'), testSignal(0.5)).done).code, 0, 'RTMP on a key live over WHIP is refused');
  assert.equal((await p.done).code, 0);
});

test('WHIP with a token: 401 without it or with a wrong one, 201 with it; DELETE needs it too', async (t) => {
  const { http } = await startServer(t, { token: 's3cret' });
  const { pc, sdp } = await makeOffer('sendonly');
  t.after(() => pc.close());
  for (const headers of [{} as Record<string, string>, { Authorization: 'Bearer wrong' }, { Authorization: 's3cret' }, { Authorization: 'Basic s3cret' }]) {
    const res = await postOffer(`${http}/whip/cam`, sdp, headers);
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.match(res.error!, /bearer token/);
  }
  const ok = await postOffer(`${http}/whip/cam`, sdp, { Authorization: 'Bearer s3cret' });
  assert.equal(ok.status, 201, ok.error);
  const location = ok.headers.get('location')!;
  assert.equal((await fetch(`${http}${location}`, { method: 'DELETE' })).status, 401);
  assert.equal((await fetch(`${http}${location}`, { method: 'DELETE', headers: { Authorization: 'Bearer s3cret' } })).status, 200);
});

test('WHEP refuses what it cannot serve: 404 no stream, 406 no H.264, 400 not receiving', async (t) => {
  const { http, rtmp, streams } = await startServer(t);
  const { pc, sdp } = await makeOffer('recvonly', [{ mimeType: 'video/H264', parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1' }]);
  t.after(() => pc.close());
  const none = await postOffer(`${http}/whep/nobody`, sdp);
  assert.equal(none.status, 404);
  assert.match(none.error!, /nothing is published/);

  const p = publish(rtmp('cam'), testSignal(4));
  await until('cam live', 10_000, async () => ((await streams()).find((s) => s.key === 'cam')?.state === 'live' ? true : undefined));
  const vp8 = await makeOffer('recvonly', [{ mimeType: 'video/VP8' }]);
  t.after(() => vp8.pc.close());
  const noH264 = await postOffer(`${http}/whep/cam`, vp8.sdp);
  assert.equal(noH264.status, 406);
  assert.match(noH264.error!, /this server takes H264/);
  const mode0 = await makeOffer('recvonly', [{ mimeType: 'video/H264', parameters: 'profile-level-id=42e01f;packetization-mode=0' }]);
  t.after(() => mode0.pc.close());
  assert.equal((await postOffer(`${http}/whep/cam`, mode0.sdp)).status, 406, 'FU-A needs packetization-mode=1');
  const sending = await makeOffer('sendonly', [{ mimeType: 'video/H264', parameters: 'profile-level-id=42e01f;packetization-mode=1' }]);
  t.after(() => sending.pc.close());
  assert.equal((await postOffer(`${http}/whep/cam`, sending.sdp)).status, 400);

  const ok = await postOffer(`${http}/whep/cam`, sdp);
  assert.equal(ok.status, 201, ok.error);
  assert.match(ok.headers.get('location')!, /^\/whep\/cam\/[0-9a-f-]{36}$/);
  assert.match(ok.text, /a=sendonly/);
  assert.match(ok.text, /a=rtpmap:\d+ H264\/90000/);
  assert.equal((await streams()).find((s) => s.key === 'cam')?.viewers, 1);
  assert.equal((await fetch(`${http}${ok.headers.get('location')}`, { method: 'DELETE' })).status, 200);
  await until('the viewer to leave', 5000, async () => ((await streams()).find((s) => s.key === 'cam')?.viewers === 0 ? true : undefined));
  assert.equal((await p.done).code, 0);
});
