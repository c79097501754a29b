import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccessPolicy, type ServerState } from '../../src/server/access-policy.js';

const LIMITS = { maxStreams: 2, maxViewersPerStream: 3 };

function state(publishing: string[] = [], overrides: Partial<ServerState> = {}): ServerState {
  return { listening: true, stopping: false, publishers: publishing.length, hasPublisher: (key) => publishing.includes(key), ...overrides };
}

const OK = { ok: true };
const SHUTTING_DOWN = { ok: false, status: 503, reason: 'the server is shutting down' };
const WRONG_BEARER = { ok: false, status: 401, reason: 'missing or wrong bearer token' };
const WRONG_RTMP_KEY = { ok: false, status: 401, reason: 'missing or wrong key: publish to rtmp://host/live/<key>?key=<secret>' };
const NOT_HERE = { ok: false, status: 403, reason: 'this stream key may not publish here' };

test('publish: the key\'s own token over the server\'s; none needed when neither is set', () => {
  const policy = new AccessPolicy({ token: 'global', streams: { cam: { token: 'cam-t' } } }, LIMITS);
  assert.deepEqual(policy.publish('whip', 'cam', 'cam-t', state()), OK);
  assert.deepEqual(policy.publish('whip', 'cam', 'global', state()), WRONG_BEARER, 'the global token does not open a key with its own');
  assert.deepEqual(policy.publish('whip', 'cam', undefined, state()), WRONG_BEARER);
  assert.deepEqual(policy.publish('whip', 'other', 'global', state()), OK);
  assert.deepEqual(policy.publish('rtmp', 'other', 'wrong', state()), WRONG_RTMP_KEY);
  assert.deepEqual(policy.endPublish('cam', 'cam-t'), OK);
  assert.deepEqual(policy.endPublish('cam', 'global'), WRONG_BEARER);
  assert.deepEqual(new AccessPolicy({}, LIMITS).publish('whip', 'any', undefined, state()), OK);
});

test('publish: key rules are 403, the stream limit 503; a key already publishing is within the limit', () => {
  const only = new AccessPolicy({ streamKey: 'main' }, LIMITS);
  assert.deepEqual(only.publish('whip', 'main', undefined, state()), OK);
  assert.deepEqual(only.publish('whip', 'other', undefined, state()), NOT_HERE);
  const listed = new AccessPolicy({ openPublishing: false, streams: { cam: {} } }, LIMITS);
  assert.deepEqual(listed.publish('rtmp', 'cam', undefined, state()), OK);
  assert.deepEqual(listed.publish('rtmp', 'other', undefined, state()), NOT_HERE);
  const open = new AccessPolicy({}, LIMITS);
  assert.deepEqual(open.publish('whip', 'a b', undefined, state()), { ok: false, status: 403, reason: 'stream keys are letters, digits, _ and -' });
  const full = state(['a', 'b']);
  assert.deepEqual(open.publish('whip', 'c', undefined, full), { ok: false, status: 503, reason: 'the server is at its limit of 2 streams' });
  assert.deepEqual(open.publishKey('a', full), OK);
});

test('publish: WHIP hears about its token first, RTMP about its key first', () => {
  const policy = new AccessPolicy({ token: 't', streamKey: 'main' }, LIMITS);
  assert.deepEqual(policy.publish('whip', 'other', 'wrong', state()), WRONG_BEARER);
  assert.deepEqual(policy.publish('rtmp', 'other', 'wrong', state()), NOT_HERE);
});

test('a server not listening yet, draining or closing refuses everyone with 503', () => {
  const policy = new AccessPolicy({}, LIMITS);
  for (const s of [state([], { stopping: true }), state([], { listening: false })]) {
    assert.deepEqual(policy.publish('whip', 'cam', undefined, s), SHUTTING_DOWN);
    assert.deepEqual(policy.publish('rtmp', 'cam', undefined, s), SHUTTING_DOWN);
    assert.deepEqual(policy.view('cam', undefined, s), SHUTTING_DOWN);
    assert.deepEqual(policy.stillAccepting(s), SHUTTING_DOWN);
  }
  assert.deepEqual(policy.stillAccepting(state()), OK);
});

test('view: the key\'s view token over the server\'s; viewers per stream are capped (503)', () => {
  const policy = new AccessPolicy({ viewToken: 'v', streams: { cam: { viewToken: 'cam-v' } } }, LIMITS);
  assert.deepEqual(policy.view('cam', 'cam-v', state()), OK);
  assert.deepEqual(policy.view('cam', 'v', state()), WRONG_BEARER);
  assert.deepEqual(policy.view('other', 'v', state()), OK);
  assert.deepEqual(policy.endView('other', undefined), WRONG_BEARER);
  assert.deepEqual(policy.viewerRoom(2), OK);
  assert.deepEqual(policy.viewerRoom(3), { ok: false, status: 503, reason: 'this stream is at its limit of 3 viewers' });
});

test('a key already live gets 409', () => {
  const policy = new AccessPolicy({}, LIMITS);
  assert.deepEqual(policy.keyFree('cam', state(['cam'])), { ok: false, status: 409, reason: 'this stream key is already live' });
  assert.deepEqual(policy.keyFree('cam', state(['other'])), OK);
});

test('readiness: not while draining, not when full, otherwise as the engine is', () => {
  const policy = new AccessPolicy({}, LIMITS);
  const engine = { ready: false as const, reason: 'loading the model' };
  assert.deepEqual(policy.readiness(state([], { stopping: true }), { ready: true }), { ready: false, reason: 'draining: the server is shutting down' });
  assert.deepEqual(policy.readiness(state(['a', 'b']), { ready: true }), { ready: false, reason: 'full: 2 of 2 streams' });
  assert.deepEqual(policy.readiness(state(['a']), engine), engine);
  assert.deepEqual(policy.readiness(state(), { ready: true }), { ready: true });
});
