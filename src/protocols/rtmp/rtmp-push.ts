import { Encoder, Muxer } from 'node-av/api';
import { avGetCodecName, type Packet, type Stream } from 'node-av/lib';
import { describeFfmpegError } from '../../base/ffmpeg-log.js';

/**
 * `connecting` until the target accepted the publish and the streams are
 * set up; `ok` while packets flow; `ended` after a clean finish;
 * `failed: <reason>` once anything went wrong. Only the last two are final.
 */
export type PushState = 'connecting' | 'ok' | 'ended' | `failed: ${string}`;

export interface PushLogger {
  warn(message: string): void;
}

export interface RtmpPushOptions {
  /** Where to publish, e.g. `rtmp://host:1935/app/key`. */
  url: string;
  /** Names the push in log lines (never the URL, which may carry a secret key). */
  name: string;
  logger?: PushLogger;
  /** Packets held for a target that is slow or still connecting before the push gives up (default 500, about 5 s). */
  maxQueuedPackets?: number;
}

export interface PushStreams {
  /** The shared H.264 encoder; it must not have produced a packet yet. */
  video: Encoder;
  /** The input's audio: copied when FLV takes its codec (AAC, MP3), else left out; or an audio encoder (AAC) whose packets come to `write`. */
  audio?: Stream | Encoder;
  /** How long to wait for the connection before giving up on the push (default 2 s). */
  graceMs?: number;
}

/** Audio codecs FLV carries as they are. */
const FLV_AUDIO = new Set(['aac', 'mp3']);

/** How long `close()` waits for queued packets and the trailer to reach a target before leaving it behind. */
const CLOSE_TIMEOUT_MS = 5_000;

type Kind = 'video' | 'audio';

/**
 * Publishes the already-encoded live output to an RTMP server, as FLV.
 *
 * A push is a best-effort copy of the stream: nothing it does may stall or
 * end the stream or its HLS output. So:
 * - it connects in the background from the moment it is created (while the
 *   stream is still probing its input), and `attach()` waits for the
 *   connection only `graceMs`;
 * - `write()` never waits: packets go into a queue that one worker drains
 *   into the muxer, so a slow network holds up only the push. A queue past
 *   `maxQueuedPackets` means the target cannot keep up (or never finished
 *   connecting), and the push fails rather than buffer without bound;
 * - every failure (refused, dropped, too slow) ends the push in state
 *   `failed: <reason>` with one warning, and is never thrown.
 *
 * The muxer's stream for the video is added from the encoder before the
 * encoder opens (FLV needs the encoder's global header), which is why the
 * connection is made first and cannot be retried mid-stream.
 */
export class RtmpPush implements AsyncDisposable {
  private currentState: PushState = 'connecting';
  private readonly logger: PushLogger;
  private readonly maxQueued: number;
  private readonly connection: Promise<Muxer | undefined>;
  private readonly indices: Record<Kind, number> = { video: -1, audio: -1 };
  private readonly queue: { packet: Packet; kind: Kind }[] = [];
  private wake?: () => void;
  private worker?: Promise<void>;
  private closing = false;
  private closed?: Promise<void>;

  private constructor(private readonly options: RtmpPushOptions) {
    this.logger = options.logger ?? { warn: (message) => process.stderr.write(`frc push: ${message}\n`) };
    this.maxQueued = options.maxQueuedPackets ?? 500;
    this.connection = Muxer.open(options.url, {
      format: 'flv',
      // As for HLS: the sync queue held back encoded video behind copied audio.
      useSyncQueue: false,
      // Write errors must surface from writePacket, not from node-av's background writer.
      useAsyncWrite: false,
    }).then(
      (muxer) => muxer,
      async (err: unknown) => {
        this.fail(`cannot connect: ${this.redact(await describeFfmpegError(err))}`);
        return undefined;
      },
    );
  }

  /** Starts connecting to `options.url` at once. */
  static connect(options: RtmpPushOptions): RtmpPush {
    return new RtmpPush(options);
  }

  get state(): PushState {
    return this.currentState;
  }

  /** Waits (at most `graceMs`) for the connection and sets up its streams. Never throws. */
  async attach(streams: PushStreams): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), streams.graceMs ?? 2_000)));
    const muxer = await Promise.race([this.connection, timeout]);
    clearTimeout(timer);
    if (muxer === 'timeout') {
      this.fail(`not connected after ${(streams.graceMs ?? 2_000) / 1000} s`);
      this.abandonConnection();
      return;
    }
    // The stream may have ended while we waited; close() hangs up then.
    if (!muxer || this.isFinal || this.closing) return;
    try {
      this.indices.video = muxer.addStream(streams.video);
      const { audio } = streams;
      if (audio instanceof Encoder) {
        this.indices.audio = muxer.addStream(audio);
      } else if (audio && FLV_AUDIO.has(avGetCodecName(audio.codecpar.codecId) ?? '')) {
        this.indices.audio = muxer.addStream(audio);
        // The input's codec tag is its container's business; let FLV pick its own.
        muxer.getStream(this.indices.audio)!.codecpar.codecTag = 0;
      }
    } catch (err) {
      this.fail(`cannot set up streams: ${await describeFfmpegError(err)}`);
      this.abandonConnection();
      return;
    }
    this.currentState = 'ok';
    this.worker = this.drain(muxer);
  }

  /** Queues a copy of one packet for the target; never waits. The packet stays the caller's. */
  write(packet: Packet, kind: Kind): void {
    if (this.currentState !== 'ok' || this.closing || this.indices[kind] < 0) return;
    if (this.queue.length >= this.maxQueued) {
      this.fail(`the target fell behind by more than ${this.maxQueued} packets`);
      return;
    }
    const copy = packet.clone();
    if (!copy) return;
    this.queue.push({ packet: copy, kind });
    this.wake?.();
  }

  /**
   * Sends what is queued, writes the trailer and hangs up. Waits at most a
   * few seconds: a target that stopped reading is left to finish (and be
   * cleaned up) in the background, with the push marked failed.
   */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutDown(): Promise<void> {
    this.closing = true;
    this.wake?.();
    if (!this.worker) {
      // Never attached (the stream ended first, or the push failed): a connection still on its way is hung up when it comes.
      this.abandonConnection();
      if (this.currentState === 'connecting') this.currentState = 'ended';
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS)));
    if ((await Promise.race([this.worker, timeout])) === 'timeout') this.fail(`still sending after ${CLOSE_TIMEOUT_MS / 1000} s`);
    clearTimeout(timer);
  }

  private abandonConnection(): void {
    // A connection nobody will use: a failure to close it has no one to tell.
    void this.connection.then((muxer) => muxer?.close().catch(() => {}));
  }

  private get isFinal(): boolean {
    return this.currentState === 'ended' || this.currentState.startsWith('failed');
  }

  /** The one writer: queued packets into the muxer until closed or failed, then the muxer is closed. */
  private async drain(muxer: Muxer): Promise<void> {
    try {
      for (;;) {
        if (this.isFinal) break;
        const next = this.queue.shift();
        if (!next) {
          if (this.closing) break;
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        try {
          await muxer.writePacket(next.packet, this.indices[next.kind]);
        } finally {
          next.packet.free();
        }
      }
      if (!this.isFinal) {
        await muxer.close();
        this.currentState = 'ended';
      }
    } catch (err) {
      this.fail(this.redact(await describeFfmpegError(err)));
    } finally {
      for (const { packet } of this.queue.splice(0)) packet.free();
      // Closing again after a clean close is a no-op; after a failure it only frees (trailer errors are ignored).
      await muxer.close().catch(() => {});
    }
  }

  /** FFmpeg's messages quote the URL; its last segment is usually a secret stream key. */
  private redact(message: string): string {
    const url = this.options.url;
    return message.split(url).join(`${url.slice(0, url.lastIndexOf('/') + 1)}…`);
  }

  private fail(reason: string): void {
    if (this.isFinal) return;
    this.currentState = `failed: ${reason}`;
    this.logger.warn(`${this.options.name}: push failed: ${reason}`);
    for (const { packet } of this.queue.splice(0)) packet.free();
    this.wake?.();
  }
}
