import type { Stream } from 'node-av/lib';
import { type Rational } from '../base/rational.js';
import type { SourceItem } from './read-demuxed.js';

/**
 * A live source's video as it came in, before decoding, for viewers of the
 * original: an H.264 access unit (Annex-B) or a VP8 frame, stamped with a
 * 90 kHz RTP timestamp. Plain buffers: nothing to free.
 */
export interface EncodedItem {
  kind: 'encoded';
  codec: 'H264' | 'VP8';
  data: Buffer;
  keyframe: boolean;
  timestamp: number;
  /**
   * The pts (in the source's video time base) its decoded frames will carry,
   * when that is not the RTP timestamp (WebRTC restamps frames on its own
   * timeline): how the stream matches a decoded frame with its arrival.
   */
  pts?: bigint;
}

/** What a live source yields: decoded video, audio packets and, ahead of each decoded frame, its encoded form. */
export type LiveItem = SourceItem | EncodedItem;

/**
 * What a live stream reads, whatever the publisher speaks (FLV over RTMP,
 * RTP over WebRTC): decoded video frames, audio packets and the video as
 * received, in arrival order.
 */
export interface LiveSource extends AsyncDisposable {
  /** The publisher's video codec (`h264`, `vp8`, …), for stats. */
  readonly videoCodec: string;
  /** The frame rate the publisher announced, if it did; WebRTC never does. */
  readonly frameRate: Rational | undefined;
  /** The time base of the video frames' `pts`. */
  readonly video: { readonly timeBase: Rational };
  /** The audio stream (its packets are what `read()` yields), if any: outputs copy or transcode it. */
  readonly audio: Stream | undefined;
  /** Video the decoder rejected; a live stream keeps going past it. */
  readonly decodeErrors: number;
  /** Bytes received from the publisher so far (RTMP: every byte after the publish was accepted; WHIP: media payloads), for its bitrate limit. */
  readonly mediaBytes: number;
  /** Ends when the publisher leaves or `close()` is called. */
  read(): AsyncGenerator<LiveItem>;
  /** Asks the publisher for a keyframe, where the protocol can (WHIP: a PLI); for viewers of the original. */
  requestKeyframe?(): void;
  /** H.264's SPS and PPS when they are out of band (FLV's header), for relaying the original. */
  parameterSets?(): Buffer[];
  /** Stops reading and drops the publisher; `read()` then finishes. */
  close(): void;
}

/**
 * Where a pulled source stands: `connecting` (the first try), `live`
 * (frames coming), `retrying: <why>` (waiting to try again after a failed
 * try or a drop), `ended` (a file played to its end, or the pull stopped).
 */
export type PullState = 'connecting' | 'live' | `retrying: ${string}` | 'ended';

/** A publish that has started but whose source may still be opening (probing codecs, waiting for a keyframe). */
export interface LiveInput {
  /** `rtmp`, `whip`, or a pulled URL's scheme, for stats. */
  readonly protocol: string;
  /**
   * A source the server pulls (see `pullInput`) says where it stands. Such a
   * source reconnects by itself, so its stream never gives up waiting for it.
   */
  pullState?(): PullState;
  open(): Promise<LiveSource>;
  /** Drops the publisher; a pending `open()` fails or a source's `read()` ends. */
  abort(): void;
}
