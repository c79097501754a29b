import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { LiveStreamStats } from '../../src/live/live-stream.js';
import { encodeAmf0 } from '../../src/protocols/rtmp/amf0.js';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { makeOffer, postOffer } from '../webrtc-helpers.js';
import { assertHlsWhole, assertKeepsRate, steadyStream } from './reliability-helpers.js';
import { RawRtmp, rtmpMessage, testFlv, type FlvTag } from './rtmp-client.js';
import { mutateSdp, rng } from './sdp-fuzz.js';
import { H264 } from './werift-viewer.js';

// Truncated and bit-flipped media files for `frc convert`: test/convert-bad-input.test.ts.

const CASES = 200;
const find = async (streams: () => Promise<LiveStreamStats[]>, key = 'steady') => (await streams()).find((s) => s.key === key)!;
const assertLive = async (streams: () => Promise<LiveStreamStats[]>) => {
  const s = await find(streams);
  assert.equal(s?.state, 'live', `steady: ${s?.state} ${s?.error ?? ''}`);
  return s;
};
const noRateLimit = { limits: { requestsPerSecond: 100_000, requestBurst: 100_000, maxStreams: 1000 } };

test(`${CASES} fuzzed SDP offers to WHIP and to WHEP: each a 201 or a 4xx with a reason, never a 5xx; a live RTMP stream keeps its rate`, async (t) => {
  const { http, rtmp, streams } = await startServer(t, noRateLimit);
  await steadyStream(t, rtmp, streams, 'steady', 120);
  const startedAt = Date.now();
  const framesBefore = (await streams()).find((s) => s.key === 'steady')!.framesOut;
  const whip = await makeOffer('sendonly');
  const whep = await makeOffer('recvonly', [H264]);
  t.after(() => Promise.all([whip.pc.close(), whep.pc.close()]));

  const statuses = new Map<number, number>();
  const rates: number[] = [];
  for (let seed = 1; seed <= CASES; seed++) {
    // A key per WHIP case: a DELETEd session's stream ends asynchronously, and a 409 would stop the parse early.
    for (const [path, offer] of [[`/whip/fuzz${seed}`, whip.sdp], ['/whep/steady', whep.sdp]] as const) {
      const { body, how } = mutateSdp(offer, seed);
      const res = await postOffer(`${http}${path}`, body);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const what = `seed ${seed} (${how}) to ${path}: ${res.status} ${res.error ?? res.text.slice(0, 80)}`;
      assert.ok(res.status === 201 || (res.status >= 400 && res.status < 500), what);
      if (res.status === 201) {
        // Accepted: end the session so the next case meets the same server.
        assert.equal((await fetch(`${http}${res.headers.get('location')}`, { method: 'DELETE' })).status, 200, what);
      } else {
        assert.ok((res.error ?? '').length > 5, `no reason given: ${what}`);
      }
    }
    if (seed % 50 === 0) rates.push((await assertLive(streams)).outputFps);
  }
  // Over the whole fuzz the bystander put out its 60 frames a second (a moment's dip under the CPU load of 400 handshakes aside).
  const overall = (((await streams()).find((s) => s.key === 'steady')!.framesOut - framesBefore) * 1000) / (Date.now() - startedAt);
  t.diagnostic(`statuses: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}; steady out fps during: ${rates.join(' ')}, ${overall.toFixed(1)} overall in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  // About 59.5 on an idle machine; 48 was seen with a soak and the rest of the suite on the same 2 cores. A stall would be far below.
  assert.ok(overall >= 40, `steady put out ${overall.toFixed(1)} fps during the fuzz`);
  // The mutations reach past the first checks: some offers survive them.
  assert.ok((statuses.get(201) ?? 0) > 0 && statuses.size >= 3, 'the fuzzer exercised more than one refusal');
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
  // Unharmed WHEP still works on the stream after all that, once the accepted WHIP cases' streams have wound
  // down (each ends asynchronously after its DELETE; a hundred teardowns at once held the loop past werift's 5 s
  // gathering wait once in a full CI run).
  await until('the fuzz streams to end', 30_000, async () => ((await streams()).every((s) => !s.key.startsWith('fuzz') || s.state === 'ended' || s.state === 'failed') ? true : undefined));
  // Their sessions' sockets may still be closing on a loaded machine, and an answer waits for ICE gathering (5 s at
  // most): a first offer has timed out there in a full CI run. WHEP works if an offer is answered within a few tries.
  let last: Awaited<ReturnType<typeof postOffer>> | undefined;
  const answered = await until('an unharmed WHEP offer to be answered', 30_000, async () => {
    last = await postOffer(`${http}/whep/steady`, whep.sdp);
    return last.status === 201 ? last : undefined;
  }).catch(() => undefined);
  assert.equal(answered?.status, 201, `the last try: ${last?.status} ${last?.error ?? ''}`);
});

test('garbage and half-handshakes on the RTMP port are dropped; a live publisher keeps its rate', async (t) => {
  const { http, rtmp, streams } = await startServer(t);
  await steadyStream(t, rtmp, streams, 'steady', 20);
  const port = Number(new URL(rtmp('x')).port);
  const random = rng(7);
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));

  const connectCommand = (payload: Buffer) => rtmpMessage(3, 20, 0, 0, payload, 128);
  const absurdString = Buffer.concat([Buffer.of(2, 0xff, 0xff), Buffer.from('connect')]); // says 65535 bytes, has 7
  const absurdLongString = Buffer.concat([encodeAmf0('connect', 1), Buffer.of(3, 0, 3), Buffer.from('app'), Buffer.of(0x0c, 0xff, 0xff, 0xff, 0xff), Buffer.from('live')]);
  const hugeChunkSize = Buffer.alloc(4);
  hugeChunkSize.writeUInt32BE(0x7fffffff);
  const hugeMessage = Buffer.concat([Buffer.of(3), Buffer.of(0xff, 0xff, 0xff), Buffer.of(0xff, 0xff, 0xff), Buffer.of(20), Buffer.alloc(4), encodeAmf0('connect', 1)]);

  const cases: [string, (c: RawRtmp) => Promise<void>, 'at once' | 'idle'][] = [
    ['random bytes', async (c) => c.write(noise(4096)), 'at once'],
    ['random bytes after C0', async (c) => c.write(Buffer.concat([Buffer.of(3), noise(8192)])), 'at once'],
    ['HTTP', async (c) => c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), 'at once'],
    ['C0 only', async (c) => c.write(Buffer.of(3)), 'idle'],
    ['C0+C1 then silence', async (c) => c.write(Buffer.concat([Buffer.of(3), randomBytes(1536)])), 'idle'],
    ['a handshake then garbage chunks', async (c) => (await c.handshake(), c.write(noise(2048))), 'at once'],
    ['a connect whose AMF string claims 65535 bytes', async (c) => (await c.handshake(), c.write(connectCommand(absurdString))), 'at once'],
    ['a connect with a 4 GiB AMF long string', async (c) => (await c.handshake(), c.write(connectCommand(absurdLongString))), 'at once'],
    ['a chunk size of 2 GiB', async (c) => (await c.handshake(), c.write(rtmpMessage(2, 1, 0, 0, hugeChunkSize, 128))), 'at once'],
    ['a 16 MiB connect message that never comes', async (c) => (await c.handshake(), c.write(hugeMessage)), 'idle'],
  ];
  const results = await Promise.all(
    cases.map(async ([name, send, expect]) => {
      const client = await RawRtmp.open(port);
      const started = Date.now();
      await send(client).catch(() => undefined);
      const closed = await Promise.race([client.closed.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 13_000))]);
      client.destroy();
      return { name, expect, closed, ms: Date.now() - started };
    }),
  );
  t.diagnostic(results.map((r) => `${r.name}: closed after ${r.ms} ms`).join('; '));
  for (const r of results) {
    assert.ok(r.closed, `${r.name}: the server kept the connection`);
    if (r.expect === 'at once') assert.ok(r.ms < 3000, `${r.name}: dropped only after ${r.ms} ms`);
  }
  await assertKeepsRate(streams);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);
  assert.deepEqual((await streams()).map((s) => s.key), ['steady'], 'no garbage became a stream');
});

test('timestamp jumps and resets, a resolution change and a codec switch in one RTMP publish: the server stays up, the other stream keeps its rate and its HLS has no holes', async (t) => {
  const dir = tempDir(t);
  const { http, rtmp, streams } = await startServer(t);
  const steady = await steadyStream(t, rtmp, streams, 'steady', 16);
  const framesBefore = (await find(streams)).framesOut;
  const startedAt = Date.now();
  const normal = testFlv(dir, 'normal', { seconds: 2 });
  const small = testFlv(dir, 'small', { seconds: 2, size: '160x120' });
  const sorenson = testFlv(dir, 'flv1', { seconds: 1, codec: ['-c:v', 'flv'] });

  // Each segment's tags go out in real time, one after another; `base` rewrites their timestamps.
  const plan: { tag: FlvTag; timestamp: number; at: number }[] = [];
  let at = 0;
  const segment = (tags: FlvTag[], base: number) => {
    const first = tags.find((tag) => tag.kind !== 18)?.timestamp ?? 0;
    for (const tag of tags) plan.push({ tag, timestamp: Math.max(0, base + tag.timestamp - first), at: at + tag.timestamp - first });
    at = plan[plan.length - 1]!.at + 33;
  };
  segment(normal, 0); // 0..2 s
  segment(normal, 60_000); // jumps a minute ahead
  segment(normal, 0); // resets to zero
  segment(normal, 0x7fffff00); // near the 32-bit wrap, extended timestamps
  segment(small, 2_000); // 160x120 from here, timestamps back to normal
  segment(sorenson, 4_000); // and another codec

  const client = await RawRtmp.open(Number(new URL(rtmp('x')).port));
  t.after(() => client.destroy());
  await client.publish('jumpy');
  const rates: number[] = [];
  const sampling = setInterval(() => void find(streams).then((s) => rates.push(s.state === 'live' ? s.outputFps : -1), () => rates.push(-1)), 1000);
  await client.sendTags(plan);
  clearInterval(sampling);
  const overall = (((await find(streams)).framesOut - framesBefore) * 1000) / (Date.now() - startedAt);
  assert.ok(overall >= 45, `steady put out ${overall.toFixed(1)} fps meanwhile`);
  client.end();
  const jumpy = await until('jumpy to end', 15_000, async () => {
    const s = (await streams()).find((x) => x.key === 'jumpy');
    return s && s.state !== 'live' && s.state !== 'starting' ? s : undefined;
  });
  t.diagnostic(`jumpy: ${jumpy.state} ${jumpy.error ?? ''}, ${jumpy.framesIn} frames in, ${jumpy.framesOut} out, ${jumpy.width}x${jumpy.height}; steady out fps meanwhile: ${rates.join(' ')}`);
  assert.ok(!rates.includes(-1), `steady out fps: ${rates.join(' ')}`);
  assert.equal(jumpy.state, 'ended', jumpy.error);
  // Every H.264 frame of every segment made it through the jumps, the reset and the size change (2x out);
  // the Sorenson segment is another codec on a decoder opened for H.264: it may or may not decode.
  assert.ok(jumpy.framesIn >= 300, `${jumpy.framesIn} frames in`);
  assert.ok(jumpy.framesOut >= 2 * 300 - 10, `${jumpy.framesOut} frames out for ${jumpy.framesIn} in`);
  assert.equal((await fetch(`${http}/healthz`)).status, 200);

  // A new publish on the key works after all that.
  assert.equal((await steady.done).code, 0);
  const steadyStats = await until('steady to end', 15_000, async () => (await streams()).find((s) => s.key === 'steady' && s.state === 'ended'));
  const frames = await assertHlsWhole(http, 'steady', dir);
  t.diagnostic(`steady: ${steadyStats.framesOut} frames out, the last ${frames} of them in HLS, without holes`);
  assert.ok(frames <= steadyStats.framesOut);
});
