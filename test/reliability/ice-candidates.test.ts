import assert from 'node:assert/strict';
import { Socket } from 'node:dgram';
import { promises as dns } from 'node:dns';
import { test } from 'node:test';
import { startServer, until } from '../live-helpers.js';
import { steadyStream } from './reliability-helpers.js';
import { receivedFps, watch } from './werift-viewer.js';

/** ICE candidates that aim the server's checks anywhere (issue #28, "Degraded"): broadcast, multicast, unspecified, DNS names. */

const BOGUS = ['255.255.255.255', '224.0.0.251', '0.0.0.0', 'frc-probe.invalid'];

test('a WHEP offer with candidates at broadcast, multicast, unspecified addresses and a DNS name: none is checked or looked up; the real one connects', async (t) => {
  const { http, rtmp, streams, log } = await startServer(t);
  await steadyStream(t, rtmp, streams, 'steady', 20);
  // Every UDP datagram this process sends, and every DNS lookup werift makes (the server runs in this process).
  const sentTo = new Set<string>();
  const looked: string[] = [];
  const send = Socket.prototype.send;
  Socket.prototype.send = function (this: Socket, ...args: unknown[]) {
    for (const arg of args) if (typeof arg === 'string') sentTo.add(arg);
    return (send as (...a: unknown[]) => void).apply(this, args);
  } as typeof send;
  const lookup = dns.lookup;
  dns.lookup = ((host: string, options: object) => {
    looked.push(host);
    return lookup(host, options as never);
  }) as typeof lookup;
  t.after(() => {
    Socket.prototype.send = send;
    dns.lookup = lookup;
  });
  const addBogus = (sdp: string) => {
    const real = /a=candidate:(\S+) (\d+) (\S+) (\d+) \S+ (\d+) typ host[^\r\n]*\r\n/.exec(sdp)!;
    const bogus = BOGUS.map((address, i) => `a=candidate:${i + 90} ${real[2]} udp ${Number(real[4]) + 1000 - i} ${address} ${9000 + i} typ host\r\n`).join('');
    return sdp.replace(real[0], bogus + real[0]);
  };
  const viewer = await watch(http, 'steady', { rewriteOffer: addBogus });
  t.after(() => viewer.vanish());
  await until('the viewer receiving', 10_000, async () => (viewer.frames() > 10 ? true : undefined));
  const fps = await receivedFps(viewer, 1500);
  const aimed = BOGUS.filter((address) => sentTo.has(address));
  t.diagnostic(`viewer ${fps.toFixed(1)} fps; datagrams sent to ${[...sentTo].join(', ')}; DNS lookups: ${looked.join(', ') || 'none'}; ${log.lines.find((line) => line.includes('ICE candidate')) ?? 'nothing logged'}`);
  assert.ok(fps > 30, `the viewer got ${fps.toFixed(1)} fps`);
  assert.deepEqual(aimed, [], 'no check went to a bogus candidate');
  // (werift looks up its default STUN server's name, whoever's peer it is: only the candidates' names matter.)
  assert.deepEqual(looked.filter((host) => BOGUS.includes(host)), [], 'no candidate was looked up in DNS');
  assert.ok(log.lines.some((line) => line.includes('ignored 4 ICE candidate(s)')), 'what was ignored is logged');
});
