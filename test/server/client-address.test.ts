import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientAddress, proxySet } from '../../src/server/client-address.js';

test("a trusted proxy's X-Forwarded-For names the client: the rightmost hop that is not a trusted proxy", () => {
  const trusted = proxySet(['10.0.0.2', '10.0.0.3']);
  assert.equal(clientAddress('10.0.0.2', '203.0.113.7', trusted), '203.0.113.7');
  assert.equal(clientAddress('::ffff:10.0.0.2', '203.0.113.7', trusted), '203.0.113.7', 'IPv4 on a dual-stack socket');
  // Two proxies in a row; what the client wrote itself (left of them) is not believed.
  assert.equal(clientAddress('10.0.0.2', '198.51.100.1, 203.0.113.7, 10.0.0.3', trusted), '203.0.113.7');
  assert.equal(clientAddress('10.0.0.2', ['198.51.100.1', '203.0.113.7'], trusted), '203.0.113.7', 'repeated headers');
  assert.equal(clientAddress('10.0.0.2', undefined, trusted), '10.0.0.2', 'no header: the proxy itself');
  assert.equal(clientAddress('10.0.0.2', '10.0.0.3', trusted), '10.0.0.2', 'only proxies: the peer');
  assert.equal(clientAddress('10.0.0.2', 'not-an-address', trusted), '10.0.0.2', 'garbage: the peer');
});

test('from any other peer, or with no proxies trusted, the header is ignored', () => {
  assert.equal(clientAddress('203.0.113.9', '1.2.3.4', proxySet(['10.0.0.2'])), '203.0.113.9');
  assert.equal(clientAddress('10.0.0.2', '1.2.3.4', proxySet(undefined)), '10.0.0.2');
  assert.equal(clientAddress(undefined, '1.2.3.4', proxySet(['10.0.0.2'])), 'unknown');
});
