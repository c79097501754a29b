import '../../src/base/polyfills.js';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Frame } from 'node-av/lib';
import { AV_PIX_FMT_YUV420P } from 'node-av/constants';
import type { Rational } from '../../src/base/rational.js';
import type { Synthesizer } from '../../src/engine/synthesis/synthesis.js';
import type { LiveInput, LiveItem, LiveSource } from '../../src/ingest/live-source.js';
import type { LiveEgressOptions } from '../../src/live/live-egress.js';
import { LiveStream, type LiveStreamOptions, type LiveStreamState, type StreamEgress } from '../../src/live/live-stream.js';
import type { WhepViewer } from '../../src/protocols/webrtc/whep-viewer.js';
import { tempDir } from '../helpers.js';

/** A yuv420p frame of one luma value, stamped in milliseconds as FLV stamps them. */
function flatFrame(ms: number, luma: number, width = 64, height = 32): Frame {
  const frame = new Frame();
  frame.alloc();
  frame.width = width;
  frame.height = height;
  frame.format = AV_PIX_FMT_YUV420P;
  frame.allocBuffer();
  frame.data![0]!.fill(luma);
  frame.data![1]!.fill(128);
  frame.data![2]!.fill(128);
  frame.pts = BigInt(ms);
  frame.timeBase = { num: 1, den: 1000 } as Frame['timeBase'];
  return frame;
}

interface FakeFrame {
  width?: number;
  height?: number;
}

/**
 * A publisher at 30 fps with millisecond stamps (as RTMP's): the frames given,
 * a few ms apart (a live source never waits for the engine), then it leaves;
 * `endless` keeps sending until the stream drops it.
 */
class FakeSource implements LiveSource {
  readonly videoCodec = 'h264';
  readonly frameRate: Rational = { num: 30, den: 1 };
  readonly video = { timeBase: { num: 1, den: 1000 } };
  readonly audio = undefined;
  readonly decodeErrors = 0;
  readonly mediaBytes = 0;
  closed = false;
  disposed = false;

  constructor(
    private readonly frames: FakeFrame[],
    private readonly endless = false,
  ) {}

  async *read(): AsyncGenerator<LiveItem> {
    for (let i = 0; !this.closed && (this.endless || i < this.frames.length); i++) {
      const { width, height } = this.frames[i % this.frames.length]!;
      const ms = Math.round((i * 1000) / 30);
      const keyframe = i % 5 === 0;
      // One Annex-B NAL: IDR or not (what viewers of the original get).
      yield { kind: 'encoded', codec: 'H264', data: Buffer.from([0, 0, 0, 1, keyframe ? 0x65 : 0x41, 0x88, 0x84, 0x21]), keyframe, timestamp: ms * 90 };
      yield { kind: 'video', frame: flatFrame(ms, 16 + ((i * 37) % 200), width, height) };
      await new Promise((resolve) => setTimeout(resolve, 4));
    }
  }

  close(): void {
    this.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closed = true;
    this.disposed = true;
  }
}

function fakeInput(source: FakeSource): LiveInput & { aborted: boolean } {
  const input = {
    protocol: 'fake',
    aborted: false,
    open: async () => source,
    abort: () => {
      input.aborted = true;
      source.close();
    },
  };
  return input;
}

/** Records what the stream hands its egress; keeps no frame (they stay the stream's). */
class FakeEgress implements StreamEgress {
  readonly audioMode = 'none';
  readonly webrtcAudio = 'none';
  readonly recordingState = undefined;
  readonly frames: { width: number; height: number; pts: bigint; time: number }[] = [];
  keyframeRequests = 0;
  closed = 0;

  constructor(readonly options: LiveEgressOptions) {}

  async writeVideo(frame: Frame, time: number) {
    const now = performance.now();
    this.frames.push({ width: frame.width, height: frame.height, pts: frame.pts, time });
    return { encodeStart: now, encoded: now, sent: now };
  }

  async writeAudio(): Promise<void> {}

  audioHoldMs(): number | undefined {
    return undefined;
  }

  audioLeadMs(): number | undefined {
    return undefined;
  }

  requestKeyframe(): void {
    this.keyframeRequests++;
  }

  rtpTimestamp(time: number): number {
    return 1000 + Math.round(time * 90000);
  }

  async close(): Promise<void> {
    this.closed++;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Enough of a WHEP viewer for a stream to own: counts the video packets it is sent. */
class FakeViewer extends EventEmitter {
  readonly audioReady = false;
  readonly backlog = 0;
  sent = 0;
  closedWith?: string;

  constructor(
    readonly id: string,
    readonly ready = true,
  ) {
    super();
  }

  send(): void {
    this.sent++;
  }
  sendAudio(): void {}

  close(reason: string): void {
    this.closedWith ??= reason;
    this.emit('end');
  }
}

function startStream(t: Parameters<typeof tempDir>[0], source: FakeSource, options: Partial<LiveStreamOptions> = {}) {
  const dir = join(tempDir(t), 'hls');
  mkdirSync(dir);
  const input = fakeInput(source);
  let egress: FakeEgress | undefined;
  const states: LiveStreamState[] = [];
  const stream = new LiveStream({
    key: 'cam',
    input,
    dir,
    kind: 'blend',
    bufferFrames: 64,
    openEgress: async (egressOptions) => (egress = new FakeEgress(egressOptions)),
    ...options,
  });
  stream.on('state', (state) => states.push(state));
  t.after(() => stream.close());
  return { stream, input, states, dir, egress: () => egress! };
}

function untilState(stream: LiveStream, state: LiveStreamState): Promise<void> {
  return stream.state === state ? Promise.resolve() : new Promise((resolve) => stream.on('state', (s) => s === state && resolve()));
}

test('frames flow to the egress at the factor, and the stream goes starting → live → ended when the publisher leaves', async (t) => {
  const source = new FakeSource(Array.from({ length: 10 }, () => ({})));
  const { stream, states, egress } = startStream(t, source);
  assert.equal(stream.state, 'starting');
  await stream.done;

  assert.deepEqual(states, ['live', 'ended']);
  const stats = stream.stats();
  assert.equal(stats.state, 'ended');
  assert.equal(stats.protocol, 'fake');
  assert.equal(stats.interpolator, 'blend');
  assert.equal(stats.framesIn, 10);
  assert.equal(stats.framesOut, 20);
  assert.equal(stats.interpolated, 9);
  assert.equal(stats.ringDrops, 0);
  assert.deepEqual([stats.width, stats.height, stats.codec], [64, 32, 'h264']);
  // The announced 30 fps doubled, on the grid: every output frame 1/60 s after the last, in the egress's order.
  const { frames, options } = egress();
  assert.equal(frames.length, 20);
  assert.deepEqual(options.frameRate, { num: 60, den: 1 });
  frames.forEach((f, i) => assert.ok(Math.abs(f.time - i / 60) < 1e-9, `frame ${i} at ${f.time} s`));
  assert.equal(egress().closed, 1, 'the playlist was finished once');
  assert.ok(source.disposed, 'the source was disposed');
  assert.equal(stream.timings.recent().length, 20, 'every output frame has its timing record');
  // The frame inspector's list: each output frame badged, under the RTP timestamp its viewers got it with; the last input frame's own slots are repeats.
  assert.deepEqual(
    stream.frameKinds.list(),
    frames.map((f, i) => ({ time: f.time, rtp: 1000 + Math.round(f.time * 90000), ...(i >= 18 ? { badge: 'dup' } : i % 2 ? { badge: 'blend', rung: 'blend' } : { badge: 'original' }) })),
  );
});

test('the model warms up on the first frame, before the first slot, and /api/streams says how long it took', async (t) => {
  const source = new FakeSource(Array.from({ length: 10 }, () => ({})));
  const calls: string[] = [];
  // blend with a warm-up that takes 30 ms, as a model's first run does (allocations for the frame size).
  const wrapSynthesizer = (inner: Synthesizer): Synthesizer => ({
    name: inner.name,
    synthesize: (a, b, tt) => (calls.push('slot'), inner.synthesize(a, b, tt)),
    warmUp: async (frame) => {
      calls.push(`warm-up ${frame.width}x${frame.height}`);
      await new Promise((resolve) => setTimeout(resolve, 30));
    },
    [Symbol.asyncDispose]: () => inner[Symbol.asyncDispose](),
    close: () => inner.close(),
  });
  const { stream } = startStream(t, source, { wrapSynthesizer });
  await stream.done;
  assert.deepEqual(calls.slice(0, 2), ['warm-up 64x32', 'slot']);
  assert.equal(calls.filter((c) => c.startsWith('warm-up')).length, 1);
  const { warmUpMs } = stream.stats();
  assert.ok(warmUpMs >= 25 && warmUpMs < 1000, `warmUpMs ${warmUpMs}`);
});

test('a frame over the size limit fails the stream with the reason; the frames before it went out', async (t) => {
  const frames = [...Array.from({ length: 5 }, () => ({})), { width: 128, height: 72 }, {}, {}];
  const source = new FakeSource(frames);
  const { stream, states, egress } = startStream(t, source, { maxWidth: 64, maxHeight: 64 });
  await stream.done;

  assert.deepEqual(states, ['live', 'failed']);
  const stats = stream.stats();
  assert.equal(stats.state, 'failed');
  assert.equal(stats.error, "the video is 128x72, over this server's limit of 64x64");
  assert.ok(stats.framesIn >= 1 && stats.framesIn <= 5, `${stats.framesIn} frames in`);
  assert.ok(egress().frames.every((f) => f.width === 64 && f.height === 32));
  assert.equal(egress().closed, 1);
  assert.ok(source.disposed);
});

test('a frame over the limit from the start fails the stream before it is live', async (t) => {
  const { stream, states } = startStream(t, new FakeSource([{ width: 320, height: 240 }]), { maxHeight: 200 });
  await stream.done;
  assert.deepEqual(states, ['failed']);
  assert.equal(stream.stats().error, "the video is 320x240, over this server's limit of ∞x200");
});

test('stop() ends a live stream as if the publisher had left, and close() deletes its directory', async (t) => {
  const source = new FakeSource([{}], true);
  const { stream, input, states, dir, egress } = startStream(t, source);
  await untilState(stream, 'live');
  await stream.stop();

  assert.deepEqual(states, ['live', 'ended']);
  assert.ok(input.aborted && source.closed, 'the publisher was dropped');
  const stats = stream.stats();
  assert.equal(stats.error, undefined);
  assert.ok(stats.framesIn >= 2, `${stats.framesIn} frames in`);
  assert.equal(stats.framesOut, 2 * stats.framesIn, 'the frames in flight went out, the last one held for its interval');
  assert.equal(egress().frames.length, stats.framesOut);
  assert.equal(egress().closed, 1);
  assert.equal(stats.inputFps, 0, 'a finished stream shows no rate');
  assert.ok(existsSync(dir));
  await stream[Symbol.asyncDispose]();
  assert.ok(!existsSync(dir), 'disposing closes: the HLS directory is gone');
});

test('stop() before the source opened ends the stream without failing it', async (t) => {
  let opened!: () => void;
  const never: LiveInput = {
    protocol: 'fake',
    open: () => new Promise((_, reject) => (opened = () => reject(new Error('publisher left while probing')))),
    abort: () => opened(),
  };
  const stream = new LiveStream({ key: 'cam', input: never, dir: join(tempDir(t), 'hls'), kind: 'blend', openEgress: async (o) => new FakeEgress(o) });
  await stream.stop();
  assert.equal(stream.state, 'ended');
  assert.equal(stream.stats().error, undefined);
});

test('viewers are owned by the stream: closed when it ends, and one added after is closed at once', async (t) => {
  const source = new FakeSource([{}], true);
  const { stream, egress } = startStream(t, source);
  await untilState(stream, 'live');
  const viewer = new FakeViewer('v1');
  const original = new FakeViewer('o1');
  stream.addViewer(viewer as unknown as WhepViewer);
  stream.addOriginalViewer(original as unknown as WhepViewer);
  assert.deepEqual([stream.stats().viewers, stream.stats().originalViewers], [1, 1]);
  assert.ok(egress().keyframeRequests >= 1, 'a joining viewer asks the encoder for a keyframe');
  // The original is relayed as it came, from the publisher's next keyframe.
  for (let i = 0; i < 100 && original.sent === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(original.sent > 0, 'the viewer of the original got the encoded video');
  assert.equal(viewer.sent, 0, 'the fake egress sends no RTP: nothing reached the upconverted viewer');

  await stream.stop();
  assert.equal(viewer.closedWith, 'stream ended');
  assert.equal(original.closedWith, 'stream ended');
  assert.deepEqual([stream.stats().viewers, stream.stats().originalViewers], [0, 0]);
  const late = new FakeViewer('v2');
  stream.addViewer(late as unknown as WhepViewer);
  assert.equal(late.closedWith, 'stream ended');
  assert.equal(stream.stats().viewers, 0);
});

test('a failing egress fails the stream with its reason', async (t) => {
  const source = new FakeSource(Array.from({ length: 10 }, () => ({})));
  const { stream, states } = startStream(t, source, {
    openEgress: async (o) => {
      const egress = new FakeEgress(o);
      egress.writeVideo = async () => {
        throw new Error('the HLS muxer refused the packet');
      };
      return egress;
    },
  });
  await stream.done;
  assert.deepEqual(states, ['failed']);
  assert.equal(stream.stats().error, 'the HLS muxer refused the packet');
  assert.ok(source.disposed);
});
