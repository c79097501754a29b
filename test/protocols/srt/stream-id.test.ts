import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStreamId } from '../../../src/protocols/srt/stream-id.js';

test('a publisher streamid names its key, with the secret as RTMP takes it', () => {
  assert.deepEqual(parseStreamId('publish:cam'), { ok: true, key: 'cam', secret: undefined });
  assert.deepEqual(parseStreamId('publish:cam?key=s3cret'), { ok: true, key: 'cam', secret: 's3cret' });
  assert.deepEqual(parseStreamId('publish:cam?token=s3cret'), { ok: true, key: 'cam', secret: 's3cret' });
  // The key is passed on as given: the access policy decides what a key may be.
  assert.deepEqual(parseStreamId('publish:a/b'), { ok: true, key: 'a/b', secret: undefined });
});

test('anything but a publisher with a key is refused, saying how to publish', () => {
  for (const streamId of ['', 'read:cam', 'cam', 'publish:', 'publish:?key=s3cret', 'PUBLISH:cam']) {
    const request = parseStreamId(streamId);
    assert.equal(request.ok, false, streamId);
    assert.match((request as { reason: string }).reason, /streamid=publish:<key>/, streamId);
  }
});
