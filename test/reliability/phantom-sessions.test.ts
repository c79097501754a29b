import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { startServer, until } from '../live-helpers.js';
import { makeOffer, postOffer } from '../webrtc-helpers.js';
import { assertKeepsRate, steadyStream } from './reliability-helpers.js';
import { RawRtmp } from './rtmp-client.js';
import { H264, receivedFps, watch } from './werift-viewer.js';

/** Sessions that could never be cleaned up (issue #28, cases 3 and 4): each must give back its key, stream slot and viewer slot. */

const withoutIcePwd = (sdp: string) => sdp.replace(/a=ice-pwd:[^\r\n]*\r\n/g, '');
const openFds = () => readdirSync('/proc/self/fd').length;

test('offers without a=ice-pwd, to WHIP and to WHEP, get a 4xx with a reason and hold no key, stream slot or viewer slot', async (t) => {
  const { http, rtmp, streams, server } = await startServer(t, { limits: { maxStreams: 3, maxViewersPerStream: 2 } });
  await steadyStream(t, rtmp, streams, 'steady', 30);
  const offers = await Promise.all([makeOffer('sendonly'), makeOffer('sendonly'), makeOffer('recvonly', [H264]), makeOffer('recvonly', [H264]), makeOffer('sendonly')]);
  t.after(() => Promise.all(offers.map((o) => o.pc.close())));
  const [whipA, whipB, whepA, whepB, valid] = offers;

  const answers = [await postOffer(`${http}/whip/a`, withoutIcePwd(whipA!.sdp)), await postOffer(`${http}/whip/b`, withoutIcePwd(whipB!.sdp)), await postOffer(`${http}/whep/steady`, withoutIcePwd(whepA!.sdp)), await postOffer(`${http}/whep/steady`, withoutIcePwd(whepB!.sdp))];
  t.diagnostic(`without a=ice-pwd: ${answers.map((a) => `${a.status} ${a.error ?? ''}`).join('; ')}`);
  // Had any been accepted, the checks below show whether it was cleaned up; end them as a client would first.
  for (const a of answers) if (a.status === 201) await fetch(new URL(a.headers.get('location')!, http), { method: 'DELETE' });
  for (const a of answers) {
    assert.ok(a.status >= 400 && a.status < 500, `${a.status} ${a.text}`);
    assert.match(a.error ?? '', /a=ice-pwd/);
  }
  // Nothing holds a slot: the server is not full, the key is free to WHIP and to RTMP, the viewer slots are free.
  assert.equal((await fetch(`${http}/readyz`)).status, 200, JSON.stringify(server.readiness()));
  const again = await postOffer(`${http}/whip/a`, valid!.sdp);
  assert.equal(again.status, 201, again.error);
  assert.equal((await fetch(new URL(again.headers.get('location')!, http), { method: 'DELETE' })).status, 200);
  const port = Number(new URL(rtmp('x')).port);
  const rtmpB = await RawRtmp.open(port);
  await rtmpB.publish('b'); // throws unless Publish.Start
  rtmpB.destroy();
  const viewers = [await watch(http, 'steady'), await watch(http, 'steady')];
  t.after(() => Promise.all(viewers.map((v) => v.vanish())));
  assert.equal((await streams()).find((s) => s.key === 'steady')?.viewers, 2);
});

test('WHEP viewers that never connect are let go after the connect timeout, freeing their viewer slots and sockets', async (t) => {
  const { http, rtmp, streams } = await startServer(t, { limits: { maxViewersPerStream: 3 }, whepConnectTimeoutMs: 2000 });
  await steadyStream(t, rtmp, streams, 'steady', 40);
  const fdsBefore = openFds();
  // Offers POSTed and never followed up: the offering peers go away without an answer, as a script's would.
  const offers = await Promise.all([0, 1, 2].map(() => makeOffer('recvonly', [H264])));
  const answers = await Promise.all(offers.map((o) => postOffer(`${http}/whep/steady`, o.sdp)));
  await Promise.all(offers.map((o) => o.pc.close()));
  assert.deepEqual(answers.map((a) => a.status), [201, 201, 201]);
  const fourth = await makeOffer('recvonly', [H264]);
  const full = await postOffer(`${http}/whep/steady`, fourth.sdp);
  await fourth.pc.close();
  assert.equal(full.status, 503, 'the three count toward the limit while they may still connect');
  const started = Date.now();
  await until('the unconnected viewers let go', 10_000, async () => ((await streams()).find((s) => s.key === 'steady')?.viewers === 0 ? true : undefined));
  const after = Date.now() - started;
  const viewer = await watch(http, 'steady');
  t.after(() => viewer.vanish());
  await until('the real viewer receiving', 10_000, async () => (viewer.frames() > 10 ? true : undefined));
  const fps = await receivedFps(viewer, 2000);
  await viewer.close();
  await until('the real viewer gone', 5000, async () => ((await streams()).find((s) => s.key === 'steady')?.viewers === 0 ? true : undefined));
  const fdsAfter = openFds();
  t.diagnostic(`unconnected viewers let go ${after} ms after the 503; a real viewer then got ${fps.toFixed(1)} fps; fds ${fdsBefore} -> ${fdsAfter}`);
  assert.ok(fps >= 40, `the real viewer got ${fps.toFixed(1)} fps`);
  assert.ok(fdsAfter - fdsBefore <= 4, `fds ${fdsBefore} -> ${fdsAfter}`);
  await assertKeepsRate(streams);
});
