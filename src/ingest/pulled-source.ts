import { setTimeout as sleep } from 'node:timers/promises';
import { FormatContext, type Packet, type Stream } from 'node-av/lib';
import { avGetCodecName } from 'node-av/lib';
import { annexBFromAvcc } from '../base/avcc.js';
import { errorMessage, InputError } from '../base/errors.js';
import { parameterSets } from '../base/h264.js';
import type { Logger } from '../base/logger.js';
import type { Rational } from '../base/rational.js';
import { AudioTimeline } from './audio-timeline.js';
import { Backoff } from '../base/backoff.js';
import { DecodeHealth } from './decode-health.js';
import { FileSource } from './file-source.js';
import type { EncodedItem, LiveInput, LiveItem, LiveSource, PullState } from './live-source.js';
import type { PullTarget } from './pull-target.js';

export interface PullOptions {
  /** How long a network source may send nothing before it counts as dropped, ms (default 5000). FFmpeg's `timeout` gets it too, for opening. */
  stallMs?: number;
  /** When to try again (default: 1 s doubling to 30 s, starting over after a minute up). */
  backoff?: Backoff;
  /** Where drops and reconnects are logged. */
  logger?: Logger;
}

const DEFAULT_STALL_MS = 5000;

/**
 * The pull's side that outlives each connection: its state, the backoff
 * and the tries. Aborting it ends a wait or a try at once (an open in
 * progress runs on, bounded by `timeout`, and what it opens is closed).
 */
class Puller {
  state: PullState = 'connecting';
  private readonly backoff: Backoff;
  private readonly abortion = new AbortController();
  /** Settles when the pull is aborted. */
  private readonly abandoned = new Promise<undefined>((resolve) => this.abortion.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  readonly stallMs: number;

  constructor(
    readonly target: PullTarget,
    private readonly options: PullOptions,
  ) {
    this.backoff = options.backoff ?? new Backoff();
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  }

  get aborted(): boolean {
    return this.abortion.signal.aborted;
  }

  abort(): void {
    this.abortion.abort();
    this.state = 'ended';
  }

  /** Waits `ms` unless aborted first. */
  async wait(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abortion.signal }).catch(() => {});
  }

  /** The source delivers again: a drop from here on is counted from now. */
  up(): void {
    this.state = 'live';
    this.backoff.connected(performance.now());
  }

  /**
   * Opens the source, trying again with backoff until it opens; after a
   * drop, `reason` says why and the first try waits. Undefined once aborted.
   */
  async connect(reason?: string): Promise<FileSource | undefined> {
    for (;;) {
      if (reason !== undefined) {
        const waitMs = this.backoff.failed(performance.now());
        this.state = `retrying: ${reason}`;
        this.options.logger?.warn(`pull ${this.target.name}: ${reason}; trying again in ${waitMs / 1000} s`);
        await this.wait(waitMs);
      }
      if (this.aborted) return undefined;
      const started = performance.now();
      try {
        const timeout = String(this.stallMs * 1000);
        const opening = FileSource.open(this.target.url, {
          name: this.target.name,
          live: true,
          // Microseconds; `timeout` is the protocols' own (UDP, SRT, RTSP, TCP), `rw_timeout` every other's.
          // `m3u8_hold_counters`: an HLS playlist that has not grown in three reloads has ended (FFmpeg's HLS reader would wait on it for good).
          ...(this.target.file ? {} : { options: { timeout, rw_timeout: timeout, m3u8_hold_counters: '3' } }),
        });
        // Stopping does not wait for an open in progress (FFmpeg cannot be interrupted there): what it opens is closed when it comes.
        const source = await Promise.race([opening, this.abandoned]);
        if (source && !this.aborted) return source;
        opening.then((late) => late[Symbol.asyncDispose](), () => {});
        return undefined;
      } catch (error) {
        reason = errorMessage(error);
        // A quiet source (UDP, SRT with nobody sending) fails its open with a bare I/O error when `timeout` runs out.
        if (!this.target.file && /Input\/output error/.test(reason) && performance.now() - started >= this.stallMs * 0.9) reason = `no data for ${this.stallMs / 1000} s`;
      }
    }
  }
}

/**
 * An FFmpeg input the server fetches (RTSP, SRT as caller, UDP, HLS over
 * HTTP, a file in real time) as a live source: the same items an RTMP or
 * WHIP publisher's source yields, across reconnections. When the source
 * drops (it ends, sends nothing for `stallMs`, or fails), the next
 * connection is tried with backoff and its frames continue the stream; the
 * stream's timeline repair folds the jump in their timestamps.
 *
 * The stream's shape is the first connection's: its video time base (later
 * ones are rescaled to it), its frame rate and its audio. Audio of a later
 * connection in another codec is dropped; the normalizer scales a new size.
 */
class PulledSource implements LiveSource {
  /** The current connection's video codec (a source may come back in another). */
  videoCodec: string;
  readonly frameRate: Rational | undefined;
  readonly video: { readonly timeBase: Rational };
  readonly audio: Stream | undefined;
  mediaBytes = 0;
  private earlierDecodeErrors = 0;
  private current?: FileSource;
  /** Owns `audio`: a copy of the first connection's audio stream, which must outlive that connection (the egress reads it for the stream's life). */
  private readonly audioHolder?: FormatContext;
  /** The video's timestamps are folded by the stream (its timeline repair); the audio's are folded here. */
  private readonly audioTimeline?: AudioTimeline;
  private closed = false;
  private audioDropped = false;

  constructor(
    private readonly puller: Puller,
    first: FileSource,
    private readonly logger?: Logger,
  ) {
    this.current = first;
    this.videoCodec = avGetCodecName(first.video.codecpar.codecId) ?? 'unknown';
    const { num, den } = first.video.avgFrameRate;
    this.frameRate = num > 0 && den > 0 && num / den >= 1 && num / den <= 240 ? { num, den } : undefined;
    const { num: tbNum, den: tbDen } = first.video.timeBase;
    this.video = { timeBase: { num: tbNum, den: tbDen } };
    if (first.audio) {
      this.audioHolder = new FormatContext();
      this.audioHolder.allocContext();
      const audio = this.audioHolder.newStream(null);
      first.audio.codecpar.copy(audio.codecpar);
      audio.timeBase = first.audio.timeBase;
      this.audio = audio;
      this.audioTimeline = new AudioTimeline(first.audio.timeBase);
    }
  }

  get decodeErrors(): number {
    return this.earlierDecodeErrors + (this.current?.decodeErrors ?? 0);
  }

  async *read(): AsyncGenerator<LiveItem> {
    let connection = this.current;
    while (connection && !this.closed) {
      const reason = yield* this.readConnection(connection);
      this.earlierDecodeErrors += connection.decodeErrors;
      this.current = undefined;
      await connection[Symbol.asyncDispose]();
      if (this.closed) break;
      const { file, loop } = this.puller.target;
      // A local file's failure is not going to pass: without a loop, its stream ends with it.
      if (file && !loop) {
        this.puller.state = 'ended';
        break;
      }
      // A loop starts over at once (after a pass that played); anything else waits its backoff.
      connection = this.current = await this.puller.connect(reason === END_OF_FILE ? undefined : reason);
    }
  }

  /** H.264's SPS and PPS, when a file carries them out of band (MP4's avcC), for viewers of the original. */
  parameterSets(): Buffer[] {
    return parameterSets(this.current?.video.codecpar.extradata ?? null);
  }

  close(): void {
    this.closed = true;
    this.puller.abort();
    this.current?.interrupt();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.current?.[Symbol.asyncDispose]();
    this.current = undefined;
    this.audioHolder?.freeContext();
  }

  /** One connection's items, until it ends; returns why it ended. */
  private async *readConnection(connection: FileSource): AsyncGenerator<LiveItem, string> {
    const { target, stallMs } = this.puller;
    const toStream = connection.video.timeBase;
    const rescaled = toStream.num !== this.video.timeBase.num || toStream.den !== this.video.timeBase.den;
    const pts = (value: bigint) => (rescaled ? rescale(value, toStream, this.video.timeBase) : value);
    this.videoCodec = avGetCodecName(connection.video.codecpar.codecId) ?? 'unknown';
    const h264 = this.videoCodec === 'h264';
    const audio = this.audioFor(connection);
    let lastPacketAt = performance.now();
    let lastVideoAt = lastPacketAt;
    const decoding = new DecodeHealth();
    let stalled: string | undefined;
    // FFmpeg's own timeout ends most quiet reads (and `m3u8_hold_counters` a stale HLS playlist); this
    // ends the others: garbage the demuxer keeps searching for a packet in, a stream whose video went
    // away, and video the decoder can no longer read (its codec changed). The next connection probes afresh.
    const watchdog = target.file
      ? undefined
      : setInterval(() => {
          if (stalled !== undefined) return;
          const now = performance.now();
          if (now - lastPacketAt >= stallMs + 1000) stalled = `no data for ${stallMs / 1000} s`;
          else if (now - lastVideoAt >= stallMs + 1000) stalled = `no video for ${stallMs / 1000} s`;
          else stalled = decoding.check(now, stallMs);
          if (stalled !== undefined) connection.interrupt();
        }, 500);
    watchdog?.unref();
    // HLS comes a segment at a time, seconds of frames at once, which the live stream's first ring would drop: paced, as a player does.
    const pacer = target.file || PACED_FORMATS.has(connection.format) ? new Pacer() : undefined;
    const tap = (packet: Packet): EncodedItem | undefined => {
      lastVideoAt = performance.now();
      decoding.packet();
      if (!h264 || !packet.data || packet.pts === NO_PTS) return undefined;
      const at = pts(packet.pts);
      const { num, den } = this.video.timeBase;
      const timestamp = Number(((at * 90000n * BigInt(num)) / BigInt(den)) & 0xffffffffn);
      return { kind: 'encoded', codec: 'H264', data: annexBFromAvcc(packet.data), keyframe: packet.isKeyframe, timestamp, pts: at };
    };
    let failure: string | undefined;
    try {
      const items = connection.read<EncodedItem>({
        tap,
        onPacket: (size) => {
          this.mediaBytes += size;
          lastPacketAt = performance.now();
        },
        ...(pacer ? { pace: (packet: Packet) => pacer.due(packet, (ms) => this.puller.wait(ms)) } : {}),
      });
      for await (const item of items) {
        if (this.closed) {
          freeItem(item);
          break;
        }
        if (item.kind === 'video') {
          decoding.frame();
          if (this.puller.state !== 'live') this.puller.up();
          if (rescaled && item.frame.pts !== NO_PTS) item.frame.pts = pts(item.frame.pts);
        } else if (item.kind === 'audio') {
          if (!audio) {
            item.packet.free();
            continue;
          }
          if (audio !== 'same') item.packet.rescaleTs(audio, this.audio!.timeBase);
          this.audioTimeline!.fold(item.packet);
        }
        yield item;
      }
    } catch (error) {
      failure = errorMessage(error);
    } finally {
      clearInterval(watchdog);
    }
    if (failure !== undefined) return failure;
    if (stalled !== undefined) return stalled;
    // UDP has no end: its read ends only when FFmpeg's `timeout` runs out.
    if (QUIET_ONLY.has(target.protocol)) return `no data for ${stallMs / 1000} s`;
    if (!target.file) return 'the source ended';
    // Starting a file over that played nothing would spin: that waits its backoff.
    return decoding.decoded > 0 ? END_OF_FILE : 'the file ended before its first frame';
  }

  /**
   * How a connection's audio joins the stream's: `same` time base, the time
   * base to rescale from, or undefined (none, or another codec: dropped).
   */
  private audioFor(connection: FileSource): 'same' | Rational | undefined {
    const held = this.audio;
    const audio = connection.audio;
    if (!held || !audio) return undefined;
    const a = audio.codecpar;
    const b = held.codecpar;
    if (a.codecId !== b.codecId || a.sampleRate !== b.sampleRate || a.channelLayout.nbChannels !== b.channelLayout.nbChannels) {
      if (!this.audioDropped) this.logger?.warn(`pull ${this.puller.target.name}: the audio changed (${avGetCodecName(a.codecId)}, ${a.sampleRate} Hz): dropped until the stream restarts`);
      this.audioDropped = true;
      return undefined;
    }
    const from = audio.timeBase;
    return from.num === held.timeBase.num && from.den === held.timeBase.den ? 'same' : { num: from.num, den: from.den };
  }
}

const END_OF_FILE = 'end of file';
/** Protocols without an end of stream: a read that ends has timed out. */
const QUIET_ONLY = new Set(['udp', 'rtp']);
/** Network formats that arrive in bursts (a segment at a time), played in real time like a file. */
const PACED_FORMATS = new Set(['hls', 'dash']);
const NO_PTS = -0x8000000000000000n;

/** Holds a file's (or an HLS stream's) packets until their time comes, as `ffmpeg -re`: decode timestamps against the wall clock since the first. */
class Pacer {
  private start?: { wall: number; media: number };

  due(packet: Packet, wait: (ms: number) => Promise<void>): Promise<void> | undefined {
    const ts = packet.dts !== NO_PTS ? packet.dts : packet.pts;
    if (ts === NO_PTS) return undefined;
    const { num, den } = packet.timeBase;
    const media = (Number(ts) * num) / den;
    const now = performance.now();
    // A jump of more than a few seconds (a broken file) starts the clock over rather than stalling.
    if (!this.start || Math.abs(media - this.start.media - (now - this.start.wall) / 1000) > 5) this.start = { wall: now, media };
    const ms = this.start.wall + (media - this.start.media) * 1000 - now;
    return ms > 1 ? wait(ms) : undefined;
  }
}

function rescale(value: bigint, from: Rational, to: Rational): bigint {
  return (value * BigInt(from.num) * BigInt(to.den)) / (BigInt(from.den) * BigInt(to.num));
}

function freeItem(item: LiveItem): void {
  if (item.kind === 'video') item.frame.free();
  else if (item.kind === 'audio') item.packet.free();
}

/**
 * A pulled source as a live stream's input. `open()` resolves once the
 * first connection is up, trying with backoff until then; the stream does
 * not time out waiting on it (`pullState` says how it stands).
 */
export function pullInput(target: PullTarget, options: PullOptions = {}): LiveInput & { pullState(): PullState } {
  const puller = new Puller(target, options);
  return {
    protocol: target.protocol,
    pullState: () => puller.state,
    open: async () => {
      const first = await puller.connect();
      if (!first) throw new InputError(`pull ${target.name}: stopped before it connected`);
      return new PulledSource(puller, first, options.logger);
    },
    abort: () => puller.abort(),
  };
}
