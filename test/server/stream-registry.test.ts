import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { type RegisteredStream, StreamRegistry } from '../../src/server/stream-registry.js';

/** A session as the registry sees it: it ends once, saying why. */
class FakeSession extends EventEmitter<{ end: [reason: string] }> {
  ended?: string;
  constructor(readonly id: string) {
    super();
  }
  close(reason = 'closed'): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    this.emit('end', reason);
  }
}

/** A stream that owns its viewers as a live stream does: closing (or finishing) closes them. */
class FakeStream extends EventEmitter<{ state: [state: string] }> implements RegisteredStream<FakeSession> {
  finished = false;
  closed = 0;
  readonly viewers: FakeSession[] = [];
  readonly originalViewers: FakeSession[] = [];
  readonly logger = { info: () => {}, warn: () => {} };
  constructor(readonly key: string) {
    super();
  }
  addViewer(viewer: FakeSession): void {
    if (this.finished) viewer.close('stream ended');
    else this.viewers.push(viewer);
  }
  addOriginalViewer(viewer: FakeSession): void {
    if (this.finished) viewer.close('stream ended');
    else this.originalViewers.push(viewer);
  }
  end(): void {
    this.finished = true;
    for (const viewer of [...this.viewers, ...this.originalViewers]) viewer.close('stream ended');
    this.emit('state', 'ended');
  }
  async close(): Promise<void> {
    this.closed++;
    if (!this.finished) this.end();
  }
}

test('one stream per key: a new one replaces (and closes) the old; an ended one is retired after the retention time', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const registry = new StreamRegistry<FakeStream, FakeSession>({ retentionMs: 1000 });
  const first = new FakeStream('cam');
  registry.add(first);
  assert.equal(registry.get('cam'), first);
  const second = new FakeStream('cam');
  registry.add(second);
  assert.equal(registry.get('cam'), second);
  assert.equal(first.closed, 1, 'the replaced stream is closed');
  // The replaced stream ending later must not unlist its successor.
  t.mock.timers.tick(5000);
  assert.equal(registry.get('cam'), second);

  second.end();
  assert.deepEqual(registry.list(), [second], 'an ended stream stays listed');
  t.mock.timers.tick(999);
  assert.equal(registry.get('cam'), second);
  assert.equal(second.closed, 0);
  t.mock.timers.tick(1);
  assert.equal(registry.get('cam'), undefined);
  assert.equal(second.closed, 1, 'retired: closed, so its files are deleted');
  assert.deepEqual(registry.list(), []);
});

test('a stream replaced while ended is retired at once, and its expiry does not touch the new one', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const registry = new StreamRegistry<FakeStream, FakeSession>({ retentionMs: 1000 });
  const old = new FakeStream('cam');
  registry.add(old);
  old.end();
  t.mock.timers.tick(500);
  const next = new FakeStream('cam');
  registry.add(next);
  assert.equal(old.closed, 1);
  t.mock.timers.tick(600);
  assert.equal(registry.get('cam'), next);
  assert.equal(next.closed, 0);
  assert.equal(old.closed, 1, 'retired once');
});

test('viewers belong to their stream; the registry only finds them by id and key, until they end', () => {
  const registry = new StreamRegistry<FakeStream, FakeSession>();
  const cam = new FakeStream('cam');
  const other = new FakeStream('other');
  registry.add(cam);
  registry.add(other);
  const a = new FakeSession('a');
  const b = new FakeSession('b');
  registry.addViewer(cam, a, false);
  registry.addViewer(cam, b, true);
  registry.addViewer(other, new FakeSession('c'), false);
  assert.deepEqual([cam.viewers, cam.originalViewers], [[a], [b]]);
  assert.equal(registry.viewerCount('cam'), 2);
  assert.equal(registry.session('whep', 'cam', 'a'), a);
  assert.equal(registry.session('whep', 'other', 'a'), undefined, 'a session belongs to its key');
  assert.equal(registry.session('whip', 'cam', 'a'), undefined, 'and to its protocol');

  a.close('deleted');
  assert.equal(registry.session('whep', 'cam', 'a'), undefined);
  assert.equal(registry.viewerCount('cam'), 1);

  // A finished stream closes a viewer handed to it at once: the index must not keep it.
  cam.end();
  const late = new FakeSession('late');
  registry.addViewer(cam, late, false);
  assert.equal(late.ended, 'stream ended');
  assert.equal(registry.session('whep', 'cam', 'late'), undefined);
  assert.equal(registry.viewerCount('cam'), 0);
});

test('publishers: keys published now, and WHIP sessions found by id until they end', () => {
  const registry = new StreamRegistry<FakeStream, FakeSession>();
  registry.publisherJoined('cam');
  registry.publisherJoined('cam');
  registry.publisherJoined('test');
  assert.equal(registry.publishers, 2);
  assert.ok(registry.hasPublisher('cam'));
  registry.publisherLeft('cam');
  assert.ok(!registry.hasPublisher('cam'));
  assert.equal(registry.publishers, 1);

  const session = new FakeSession('s1');
  registry.indexPublisher('cam', session);
  assert.equal(registry.session('whip', 'cam', 's1'), session);
  assert.equal(registry.session('whep', 'cam', 's1'), undefined);
  session.close('deleted');
  assert.equal(registry.session('whip', 'cam', 's1'), undefined);
});

test('closing the registry closes every stream, and so their viewers; a stream added afterwards is closed at once', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const registry = new StreamRegistry<FakeStream, FakeSession>({ retentionMs: 1000 });
  const live = new FakeStream('live');
  const ended = new FakeStream('ended');
  registry.add(live);
  registry.add(ended);
  ended.end();
  const viewer = new FakeSession('v');
  registry.addViewer(live, viewer, false);
  await registry[Symbol.asyncDispose]();
  assert.deepEqual([live.closed, ended.closed], [1, 1]);
  assert.equal(viewer.ended, 'stream ended');
  assert.equal(registry.viewerCount('live'), 0);
  assert.deepEqual(registry.list(), []);
  t.mock.timers.tick(5000);
  assert.equal(ended.closed, 1, 'no expiry fires after close');

  const late = new FakeStream('late');
  registry.add(late);
  assert.equal(late.closed, 1);
  assert.deepEqual(registry.list(), []);
  await registry.close();
});
