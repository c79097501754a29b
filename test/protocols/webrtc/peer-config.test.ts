import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { answerOffer, enlargeReceiveBuffers, peerConfig } from '../../../src/protocols/webrtc/peer-config.js';
import { makeOffer } from '../../webrtc-helpers.js';

test("a peer's UDP sockets get the receive buffer asked for, up to the kernel's limit", async (t) => {
  const publisher = await makeOffer('sendonly');
  const server = new RTCPeerConnection(peerConfig('VP8'));
  t.after(() => Promise.all([publisher.pc.close(), server.close()]));
  await answerOffer(server, publisher.sdp);
  const asked = 1 << 20;
  const sizes = enlargeReceiveBuffers(server, asked);
  assert.ok(sizes.length >= 1, 'no socket found');
  // Linux reports twice what was set (its bookkeeping share), capped at net.core.rmem_max (doubled as well).
  const limit = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  for (const size of sizes) assert.ok(size >= Math.min(asked, limit), `receive buffer ${size} bytes`);
});
