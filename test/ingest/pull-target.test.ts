import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutPassword } from '../../src/base/url-text.js';
import { pullTarget } from '../../src/ingest/pull-target.js';

test('a pull URL: network URLs keep their query, a file loops with ?loop', () => {
  assert.deepEqual(pullTarget('rtsp://admin:pw@10.0.0.5:554/stream?channel=1'), { url: 'rtsp://admin:pw@10.0.0.5:554/stream?channel=1', name: 'rtsp://admin:***@10.0.0.5:554/stream?channel=1', file: false, loop: false, protocol: 'rtsp' });
  assert.deepEqual(pullTarget('udp://127.0.0.1:5000?loop'), { url: 'udp://127.0.0.1:5000?loop', name: 'udp://127.0.0.1:5000?loop', file: false, loop: false, protocol: 'udp' });
  assert.deepEqual(pullTarget('videos/clip.mp4?loop'), { url: 'videos/clip.mp4', name: 'videos/clip.mp4', file: true, loop: true, protocol: 'file' });
  assert.deepEqual(pullTarget('/videos/clip.mp4'), { url: '/videos/clip.mp4', name: '/videos/clip.mp4', file: true, loop: false, protocol: 'file' });
  assert.equal(pullTarget('file:///videos/clip.mp4?loop').loop, true);
  assert.equal(pullTarget('HTTPS://example.com/live.m3u8').protocol, 'https');
});

test('URLs are shown without their password or SRT passphrase', () => {
  assert.equal(withoutPassword('rtsp://user:secret@cam/stream'), 'rtsp://user:***@cam/stream');
  assert.equal(withoutPassword('rtsp://cam/stream'), 'rtsp://cam/stream');
  assert.equal(withoutPassword('srt://10.0.0.6:9000?mode=caller&passphrase=abc123&latency=200'), 'srt://10.0.0.6:9000?mode=caller&passphrase=***&latency=200');
});
