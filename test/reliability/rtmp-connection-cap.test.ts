import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../live-helpers.js';
import { RawRtmp } from './rtmp-client.js';

/** RTMP has no authentication before `publish`: one address must not hold every connection the process can have (issue #28). */

const closedWithin = (c: RawRtmp, ms: number) => Promise.race([c.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

test('one address gets 16 RTMP connections (the default limit) and no more; others closed at once, logged once; another address and a later publish are unharmed', async (t) => {
  const { rtmp, log } = await startServer(t);
  const port = Number(new URL(rtmp('x')).port);
  const clients: RawRtmp[] = [];
  t.after(() => clients.forEach((c) => c.destroy()));
  for (let i = 0; i < 40; i++) clients.push(await RawRtmp.open(port));
  const closed = await Promise.all(clients.map((c) => closedWithin(c, 1000)));
  const refusals = log.lines.filter((line) => line.includes('connection(s) from 127.0.0.1'));
  t.diagnostic(`open: ${closed.filter((c) => !c).length} of 40; log: ${refusals.join(' | ')}`);
  assert.deepEqual(closed, [...Array(16).fill(false), ...Array(24).fill(true)], 'the first 16 stay open, the other 24 are closed at once');
  assert.equal(refusals.length, 1, 'a flood of refusals is logged once');
  assert.match(refusals[0] ?? '', /^warn: refused 1 connection\(s\) from 127\.0\.0\.1: it has 16 open, its limit \(limits\.maxRtmpConnectionsPerIp\)/);
  // Another address is not affected by the first one's flood.
  const other = await RawRtmp.open(port, '127.0.0.2');
  t.after(() => other.destroy());
  await other.publish('other');
  // Closed connections give their slots back.
  for (const c of clients) c.destroy();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const later = await RawRtmp.open(port);
  t.after(() => later.destroy());
  await later.publish('later');
});

test('limits.maxRtmpConnectionsPerIp sets the cap', async (t) => {
  const { rtmp } = await startServer(t, { limits: { maxRtmpConnectionsPerIp: 2 } });
  const port = Number(new URL(rtmp('x')).port);
  const clients = [await RawRtmp.open(port), await RawRtmp.open(port), await RawRtmp.open(port)];
  t.after(() => clients.forEach((c) => c.destroy()));
  assert.deepEqual(await Promise.all(clients.map((c) => closedWithin(c, 1000))), [false, false, true]);
});
