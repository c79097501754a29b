import assert from 'node:assert/strict';
import { test } from 'node:test';
import { route } from '../../src/server/routes.js';

test('HLS files and the stats API are routed with their content types', () => {
  assert.deepEqual(route('GET', '/api/streams'), { kind: 'streams' });
  assert.deepEqual(route('GET', '/metrics'), { kind: 'metrics' });
  assert.deepEqual(route('HEAD', '/metrics?x'), { kind: 'metrics' });
  assert.deepEqual(route('GET', '/healthz'), { kind: 'healthz' });
  assert.deepEqual(route('HEAD', '/readyz'), { kind: 'readyz' });
  assert.equal(route('POST', '/readyz').kind, 'error');
  assert.equal(route('GET', '/readyz/x').kind, 'error');
  assert.equal(route('POST', '/metrics').kind, 'error');
  assert.equal(route('GET', '/metrics/x').kind, 'error');
  assert.deepEqual(route('GET', '/api/streams?x=1'), { kind: 'streams' });
  assert.deepEqual(route('GET', '/api/ws'), { kind: 'ws' });
  assert.equal(route('GET', '/api/ws/x').kind, 'error');
  assert.deepEqual(route('GET', '/hls/cam_1/index.m3u8'), { kind: 'hls', key: 'cam_1', file: 'index.m3u8', contentType: 'application/vnd.apple.mpegurl' });
  assert.deepEqual(route('HEAD', '/hls/a/seg00042.ts'), { kind: 'hls', key: 'a', file: 'seg00042.ts', contentType: 'video/mp2t' });
  assert.equal(route('GET', '/hls/a/seg7.m4s').kind, 'hls');
});

test('traversal, encoded separators and unknown names never reach a file', () => {
  const attempts = [
    '/hls/a/../../etc/passwd',
    '/hls/a/..%2f..%2fetc%2fpasswd',
    '/hls/a/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/hls/%2e%2e/index.m3u8',
    '/hls/../index.m3u8',
    '/hls/a/..',
    '/hls/a/index.m3u8/..',
    '/hls/a/index.m3u8%00.ts',
    '/hls/a/..\\..\\etc\\passwd',
    '/hls/a/seg00001.ts.tmp',
    '/hls/a/index.m3u8.tmp',
    '/hls/a//index.m3u8',
    '/hls//a/index.m3u8',
    '/hls/a/.index.m3u8',
    '/hls/a',
    '/hls/a/',
    '//etc/passwd',
    'http://evil/hls/a/index.m3u8',
    '*',
    '',
  ];
  for (const path of attempts) {
    const found = route('GET', path);
    assert.equal(found.kind, 'error', path);
    assert.equal(found.kind === 'error' && found.status, 404, path);
  }
  assert.equal(route('GET', `/hls/${'k'.repeat(65)}/index.m3u8`).kind, 'error', 'keys are at most 64 characters');
});

test('known resources with another method are 405 with Allow; unknown ones stay 404', () => {
  assert.deepEqual(route('POST', '/api/streams'), { kind: 'error', status: 405, reason: 'POST is not allowed here', allow: 'GET, HEAD' });
  assert.equal(route('DELETE', '/hls/a/index.m3u8').kind === 'error' && (route('DELETE', '/hls/a/index.m3u8') as { status: number }).status, 405);
  assert.equal((route('POST', '/nope') as { status: number }).status, 404);
});

test('the page, WHIP and WHEP resources are routed; sessions only by the ids the server makes', () => {
  assert.deepEqual(route('GET', '/'), { kind: 'page', file: 'index.html', contentType: 'text/html; charset=utf-8' });
  assert.equal(route('GET', '/app.js').kind, 'page');
  for (const module of ['charts.js', 'inspector.js', 'motion.js']) assert.deepEqual(route('GET', `/${module}`), { kind: 'page', file: module, contentType: 'text/javascript; charset=utf-8' });
  assert.equal((route('POST', '/') as { status: number }).status, 405);
  assert.deepEqual(route('POST', '/whip/cam'), { kind: 'signal', protocol: 'whip', key: 'cam', method: 'POST' });
  assert.deepEqual(route('OPTIONS', '/whep/cam'), { kind: 'signal', protocol: 'whep', key: 'cam', method: 'OPTIONS' });
  // The original: WHEP only.
  assert.deepEqual(route('POST', '/whep/cam/original'), { kind: 'signal', protocol: 'whep', key: 'cam', method: 'POST', variant: 'original' });
  assert.equal(route('GET', '/whep/cam/original').kind, 'error');
  assert.deepEqual(route('POST', '/whip/cam/original'), { kind: 'error', status: 404, reason: 'no such session' });
  assert.deepEqual(route('GET', '/whip/cam'), { kind: 'error', status: 405, reason: 'GET is not allowed here; POST an SDP offer', allow: 'POST, OPTIONS' });
  const id = '0123abcd-0000-4000-8000-00000000abcd';
  assert.deepEqual(route('DELETE', `/whep/cam/${id}`), { kind: 'session', protocol: 'whep', key: 'cam', id, method: 'DELETE' });
  assert.equal(route('PATCH', `/whip/cam/${id}`).kind, 'session');
  assert.equal((route('POST', `/whip/cam/${id}`) as { status: number }).status, 405);
  for (const path of ['/whip/..%2f/x', '/whip/cam/../x', '/whip/cam/not-an-id', `/whip/c%2fam/${id}`, '/whip', `/whip/cam/${id}/x`]) {
    const found = route('DELETE', path);
    assert.equal(found.kind === 'error' && found.status, 404, path);
  }
});

test("a stream's badged frames are routed by a valid key only, for GET and HEAD", () => {
  assert.deepEqual(route('GET', '/api/streams/cam_1/frames'), { kind: 'frames', key: 'cam_1' });
  assert.deepEqual(route('HEAD', '/api/streams/a/frames?after=3'), { kind: 'frames', key: 'a' });
  for (const bad of ['/api/streams/%2e%2e/frames', '/api/streams/a.b/frames', '/api/streams//frames', '/api/streams/a/frames/x', '/api/streams/a/other', `/api/streams/${'k'.repeat(65)}/frames`]) {
    assert.equal(route('GET', bad).kind, 'error', bad);
  }
  assert.deepEqual(route('POST', '/api/streams/a/frames'), { kind: 'error', status: 405, reason: 'POST is not allowed here', allow: 'GET, HEAD' });
});
