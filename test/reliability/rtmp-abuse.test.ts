import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAmf0 } from '../../src/protocols/rtmp/amf0.js';
import { tempDir } from '../helpers.js';
import { startServer, until } from '../live-helpers.js';
import { assertKeepsRate, steadyStream } from './reliability-helpers.js';
import { RawRtmp, rtmpMessage, testFlv } from './rtmp-client.js';

/** RTMP clients that degraded the server without breaking it (issue #28, "Degraded"). */

const closedWithin = (c: RawRtmp, ms: number) => Promise.race([c.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

test('a publisher sending real video plus 8 Mbit/s of AMF data messages trips a 2 Mbit/s limit: every byte counts', async (t) => {
  const dir = tempDir(t);
  const { rtmp, streams } = await startServer(t, { limits: { maxBitrateKbps: 2000 } });
  const port = Number(new URL(rtmp('x')).port);
  const tags = testFlv(dir, 'video', { seconds: 10 });
  const c = await RawRtmp.open(port);
  t.after(() => c.destroy());
  await c.publish('padded');
  const sending = c.sendTags(tags.map((tag) => ({ tag, timestamp: tag.timestamp, at: tag.timestamp })));
  // 50 KB of AMF text 20 times a second: 8 Mbit/s that is no audio and no video.
  const padding = rtmpMessage(5, 18, 1, 0, encodeAmf0('onTextData', { text: 'x'.repeat(50_000) }));
  const flood = setInterval(() => c.write(padding), 50);
  t.after(() => clearInterval(flood));
  const failed = await until('the padded stream to fail', 12_000, async () => {
    const s = (await streams()).find((x) => x.key === 'padded');
    return s?.state === 'failed' ? s : undefined;
  });
  clearInterval(flood);
  c.destroy();
  await sending;
  t.diagnostic(`padded: ${failed.state}: ${failed.error}; ${failed.framesIn} frames in`);
  assert.match(failed.error ?? '', /Mbit\/s \(5 s average\), over this stream's limit of 2 Mbit\/s/);
});

test('before publishing is allowed, an RTMP client can park no large message and cannot trickle for ever; publishers are unharmed', async (t) => {
  const { rtmp, streams } = await startServer(t, { rtmpHandshakeTimeoutMs: 2000 });
  await steadyStream(t, rtmp, streams, 'steady', 30);
  const port = Number(new URL(rtmp('x')).port);
  const rss = process.memoryUsage().rss;
  // Ten clients each announce a 16 MiB command and send 1 MiB of it.
  const parkers = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const c = await RawRtmp.open(port);
      await c.handshake();
      const chunkSize = Buffer.alloc(4);
      chunkSize.writeUInt32BE(0xffffff); // one chunk for the whole message: its bytes are payload, not headers
      c.write(rtmpMessage(2, 1, 0, 0, chunkSize, 128));
      const header = Buffer.alloc(12);
      header[0] = 3;
      header.writeUIntBE(0xfffffe, 4, 3);
      header[7] = 20;
      c.write(header);
      for (let i = 0; i < 8; i++) c.write(Buffer.alloc(128 * 1024));
      return c;
    }),
  );
  const trickler = await RawRtmp.open(port);
  await trickler.handshake();
  const connect = rtmpMessage(3, 20, 0, 0, encodeAmf0('connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' }), 128);
  let at = 0;
  const drip = setInterval(() => trickler.write(connect.subarray(at, ++at)), 300); // never finishes, never silent for the idle timeout
  t.after(() => {
    clearInterval(drip);
    for (const c of [...parkers, trickler]) c.destroy();
  });
  const parked = await Promise.all(parkers.map((c) => closedWithin(c, 2000)));
  const started = Date.now();
  const trickled = await closedWithin(trickler, 6000);
  clearInterval(drip);
  const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
  t.diagnostic(`parkers dropped: ${parked.filter(Boolean).length} of 10; trickler dropped: ${trickled} after ${Date.now() - started} ms more (${at} bytes); RSS +${grown.toFixed(0)} MiB`);
  assert.deepEqual(parked, Array(10).fill(true), 'each client announcing a 16 MiB message before publishing is dropped');
  assert.ok(trickled, 'a client that never gets to publishing is dropped after the handshake timeout');
  // A real publisher still gets in, and the live one kept its rate.
  const publisher = await RawRtmp.open(port);
  await publisher.publish('fine');
  publisher.destroy();
  await assertKeepsRate(streams);
});
