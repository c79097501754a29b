import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hlsToken, withSegmentToken } from '../../src/server/hls-files.js';

test('a view token for HLS comes in the query first, else as a bearer token', () => {
  assert.deepEqual(hlsToken('/hls/cam/index.m3u8?token=a%2Bb', 'Bearer other'), { token: 'a+b', inQuery: true });
  assert.deepEqual(hlsToken('/hls/cam/index.m3u8', 'Bearer s3cret'), { token: 's3cret', inQuery: false });
  assert.deepEqual(hlsToken('/hls/cam/index.m3u8', undefined), { inQuery: false });
});

test("a playlist's segment URLs carry the token on; its tags are left alone", () => {
  const playlist = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.000000,\nseg00001.ts\n#EXTINF:1.000000,\nseg00002.ts\n';
  assert.equal(withSegmentToken(playlist, 'a+b'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.000000,\nseg00001.ts?token=a%2Bb\n#EXTINF:1.000000,\nseg00002.ts?token=a%2Bb\n');
});
