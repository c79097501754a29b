import { setTimeout as sleep } from 'node:timers/promises';
import { Encoder, Muxer } from 'node-av/api';
import { avGetCodecName, FFmpegError, FormatContext, type Packet, type Stream } from 'node-av/lib';
import { AV_CODEC_FLAG_GLOBAL_HEADER } from 'node-av/constants';
import { Backoff } from '../../base/backoff.js';
import { describeFfmpegError } from '../../base/ffmpeg-log.js';
import { KeyframeGate } from './keyframe-gate.js';
import { closeMuxer } from '../../egress/close-muxer.js';

/**
 * `connecting` until the first connection delivers; `live` while packets
 * reach the target; `retrying: <reason>` after a connection failed or
 * dropped, until the next one delivers; `ended` once the push was closed.
 * The same words as a pulled source's state.
 */
export type PushState = 'connecting' | 'live' | `retrying: ${string}` | 'ended';

export interface PushLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface RtmpPushOptions {
  /** Where to publish, e.g. `rtmp://host:1935/app/key`. */
  url: string;
  /** Names the push in log lines (never the URL, which may carry a secret key). */
  name: string;
  logger?: PushLogger;
  /** Packets held for a target that is slow before the connection is given up and made again (default 500, about 5 s). */
  maxQueuedPackets?: number;
  /** When to try again (default: 1 s doubling to 30 s, starting over after a minute live). */
  backoff?: Backoff;
}

export interface PushStreams {
  /** The shared H.264 encoder. */
  video: Encoder;
  /** The input's audio: copied when FLV takes its codec (AAC, MP3), else left out; or an audio encoder (AAC) whose packets come to `write`. */
  audio?: Stream | Encoder;
  /** How long to wait for the first connection before the stream starts without it (default 2 s). */
  graceMs?: number;
  /** Asks the encoder for a keyframe soon: a new connection starts at one, and need not wait for the next scheduled one. */
  requestKeyframe?: () => void;
}

/** Audio codecs FLV carries as they are. */
const FLV_AUDIO = new Set(['aac', 'mp3']);

/** How long `close()` waits for queued packets and the trailer to reach a target before leaving it behind. */
const CLOSE_TIMEOUT_MS = 5_000;

type Kind = 'video' | 'audio';

/**
 * Publishes the already-encoded live output to an RTMP server, as FLV, and
 * connects again, with backoff, whenever the server refuses, drops or falls
 * behind, until the push is closed.
 *
 * A push is a best-effort copy of the stream: nothing it does may stall or
 * end the stream or its other outputs. So:
 * - it connects in the background from the moment it is created (while the
 *   stream is still probing its input), and `attach()` waits for the first
 *   connection only `graceMs`;
 * - `write()` never waits: packets go into a queue that one worker drains
 *   into the current connection, so a slow network holds up only the push.
 *   A queue past `maxQueuedPackets` means the target cannot keep up, and the
 *   connection is given up rather than buffer without bound;
 * - every failure becomes the state `retrying: <reason>` with one warning,
 *   and is never thrown.
 *
 * Each connection is a new FLV stream: its own header and sequence headers,
 * then packets from the next video keyframe on (`KeyframeGate`).
 */
export class RtmpPush implements AsyncDisposable {
  private currentState: PushState = 'connecting';
  private readonly logger: PushLogger;
  private readonly maxQueued: number;
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  /** Settles (undefined) when the push is closed. */
  private readonly stopped = new Promise<undefined>((resolve) => this.stopping.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  private streams?: PushStreams;
  private streamsGiven!: () => void;
  private readonly attached = new Promise<void>((resolve) => (this.streamsGiven = resolve));
  private firstTry!: () => void;
  /** Settles once the first connection opened or failed. */
  private readonly firstTried = new Promise<void>((resolve) => (this.firstTry = resolve));
  /** The current connection's packets; undefined while no connection takes any. */
  private queue?: { packet: Packet; kind: Kind }[];
  private indices: Record<Kind, number> = { video: -1, audio: -1 };
  private readonly gate = new KeyframeGate();
  /** Why the current connection is being given up, once `write()` decided it. */
  private dropReason?: string;
  private wake?: () => void;
  private readonly worker: Promise<void>;
  private closed?: Promise<void>;

  private constructor(private readonly options: RtmpPushOptions) {
    this.logger = options.logger ?? { info: () => {}, warn: (message) => process.stderr.write(`frc push: ${message}\n`) };
    this.maxQueued = options.maxQueuedPackets ?? 500;
    this.backoff = options.backoff ?? new Backoff();
    this.worker = this.run();
  }

  /** Starts connecting to `options.url` at once. */
  static connect(options: RtmpPushOptions): RtmpPush {
    return new RtmpPush(options);
  }

  get state(): PushState {
    return this.currentState;
  }

  /** Hands over the streams to publish, and waits (at most `graceMs`) for the first connection. Never throws. */
  async attach(streams: PushStreams): Promise<void> {
    // FLV carries H.264's parameter sets once, in its header (a global header): only an encoder not yet open can be
    // asked for one, and every later connection copies it from the open encoder.
    if (!streams.video.isEncoderInitialized) streams.video.setCodecFlags(AV_CODEC_FLAG_GLOBAL_HEADER);
    this.streams = streams;
    this.streamsGiven();
    // The stream's first frames reach the target only if it is connected by then.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, streams.graceMs ?? 2_000)));
    await Promise.race([this.firstTried, timeout]);
    clearTimeout(timer);
  }

  /** Queues a copy of one packet for the current connection; never waits. The packet stays the caller's. */
  write(packet: Packet, kind: Kind): void {
    const queue = this.queue;
    if (!queue || this.dropReason !== undefined || this.indices[kind] < 0 || !this.gate.pass(kind, packet.isKeyframe)) return;
    if (queue.length >= this.maxQueued) {
      this.dropReason = `the target fell behind by more than ${this.maxQueued} packets`;
      // Shown at once: the worker may be stuck in a write to this target for a while yet.
      this.currentState = `retrying: ${this.dropReason}`;
      this.wake?.();
      return;
    }
    const copy = packet.clone();
    if (!copy) return;
    queue.push({ packet: copy, kind });
    this.wake?.();
  }

  /**
   * Stops trying; a live connection gets what is queued, the trailer and a
   * hang-up. Waits at most a few seconds: a target that stopped reading is
   * left to finish (and be cleaned up) in the background.
   */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutDown(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
    if ((await Promise.race([this.worker, timeout])) === 'timeout') this.logger.warn(`${this.options.name}: push still sending after ${CLOSE_TIMEOUT_MS / 1000} s: left behind`);
    clearTimeout(timer);
    this.currentState = 'ended';
  }

  private get stopRequested(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Connection after connection, with backoff between them, until closed. */
  private async run(): Promise<void> {
    let reason: string | undefined;
    while (!this.stopRequested) {
      if (reason !== undefined) {
        const waitMs = this.backoff.failed(performance.now());
        this.currentState = `retrying: ${reason}`;
        this.logger.warn(`${this.options.name}: push: ${reason}; trying again in ${waitMs / 1000} s`);
        await sleep(waitMs, undefined, { signal: this.stopping.signal }).catch(() => {});
        if (this.stopRequested) break;
      }
      let muxer: Muxer | undefined;
      try {
        muxer = await this.open();
      } catch (err) {
        reason = `cannot connect: ${this.redact(await describeFfmpegError(err))}`;
        this.firstTry();
        continue;
      }
      this.firstTry();
      if (!muxer) break;
      reason = await this.send(muxer);
      if (reason === undefined) break;
    }
    this.firstTry();
    this.currentState = 'ended';
  }

  /** Opens a connection; undefined when the push was closed first. */
  private async open(): Promise<Muxer | undefined> {
    const opening = Muxer.open(this.options.url, {
      format: 'flv',
      // As for HLS: the sync queue held back encoded video behind copied audio.
      useSyncQueue: false,
      // Write errors must surface from writePacket, not from node-av's background writer.
      useAsyncWrite: false,
    });
    const muxer = await Promise.race([opening, this.stopped]);
    if (muxer) return muxer;
    // FFmpeg's open cannot be interrupted: what it opens after the close is hung up when it comes.
    opening.then((late) => closeMuxer(late).catch(() => {}), () => {});
    return undefined;
  }

  /** One connection: its streams set up, then the queue drained into it until it fails (why) or the push is closed (undefined). */
  private async send(muxer: Muxer): Promise<string | undefined> {
    const held: FormatContext[] = [];
    try {
      const streams = await Promise.race([this.attached.then(() => this.streams!), this.stopped]);
      if (!streams) return undefined;
      try {
        this.indices = { video: addStream(muxer, streams.video, held), audio: streams.audio ? addStream(muxer, streams.audio, held) : -1 };
      } catch (err) {
        return `cannot set up streams: ${await describeFfmpegError(err)}`;
      }
      this.gate.reset();
      this.dropReason = undefined;
      const queue: { packet: Packet; kind: Kind }[] = (this.queue = []);
      streams.requestKeyframe?.();
      for (;;) {
        if (this.dropReason !== undefined) return this.dropReason;
        const next = queue.shift();
        if (!next) {
          if (this.stopRequested) break;
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        try {
          await muxer.writePacket(next.packet, this.indices[next.kind]);
        } finally {
          next.packet.free();
        }
        if (this.currentState !== 'live') {
          if (this.currentState !== 'connecting') this.logger.info(`${this.options.name}: push live again`);
          this.currentState = 'live';
          this.backoff.connected(performance.now());
        }
      }
      await closeMuxer(muxer);
      return undefined;
    } catch (err) {
      return this.redact(await describeFfmpegError(err));
    } finally {
      for (const { packet } of this.queue?.splice(0) ?? []) packet.free();
      this.queue = undefined;
      this.indices = { video: -1, audio: -1 };
      // Closing again after a clean close is a no-op; after a failure it only frees (trailer errors are ignored).
      await closeMuxer(muxer).catch(() => {});
      for (const context of held) context.freeContext();
    }
  }

  /** FFmpeg's messages quote the URL; its last segment is usually a secret stream key. */
  private redact(message: string): string {
    const url = this.options.url;
    return message.split(url).join(`${url.slice(0, url.lastIndexOf('/') + 1)}…`);
  }
}

/**
 * Adds `source`'s stream to one connection; -1 for audio FLV cannot carry.
 * An encoder not yet open gives its parameters with its first packet
 * (node-av's lazy stream); one already open (any connection after the
 * first) can no longer be asked for anything, so its parameters are copied
 * into a stream of their own, held in `held` until the connection ends.
 */
function addStream(muxer: Muxer, source: Encoder | Stream, held: FormatContext[]): number {
  if (!(source instanceof Encoder)) {
    if (!FLV_AUDIO.has(avGetCodecName(source.codecpar.codecId) ?? '')) return -1;
    const index = muxer.addStream(source);
    // The input's codec tag is its container's business; let FLV pick its own.
    muxer.getStream(index)!.codecpar.codecTag = 0;
    return index;
  }
  const context = source.getCodecContext();
  if (!source.isEncoderInitialized || !context) return muxer.addStream(source);
  const holder = new FormatContext();
  holder.allocContext();
  held.push(holder);
  const stream = holder.newStream(null);
  FFmpegError.throwIfError(stream.codecpar.fromContext(context), 'cannot copy the encoder parameters');
  stream.timeBase = context.timeBase;
  stream.avgFrameRate = context.framerate;
  stream.rFrameRate = context.framerate;
  return muxer.addStream(stream);
}
