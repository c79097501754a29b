import type { Stream } from 'node-av/lib';
import type { Rational } from '../engine/slot-planner.js';
import type { SourceItem } from './read-demuxed.js';

/**
 * What a live stream reads, whatever the publisher speaks (FLV over RTMP,
 * RTP over WebRTC): decoded video frames and, where they can be copied,
 * audio packets, in arrival order.
 */
export interface LiveSource extends AsyncDisposable {
  /** The publisher's video codec (`h264`, `vp8`, …), for stats. */
  readonly videoCodec: string;
  /** The frame rate the publisher announced, if it did; WebRTC never does. */
  readonly frameRate: Rational | undefined;
  /** The time base of the video frames' `pts`. */
  readonly video: { readonly timeBase: Rational };
  /** An audio stream the outputs can copy, if any. */
  readonly audio: Stream | undefined;
  /** Video the decoder rejected; a live stream keeps going past it. */
  readonly decodeErrors: number;
  /** Ends when the publisher leaves or `close()` is called. */
  read(): AsyncGenerator<SourceItem>;
  /** Stops reading and drops the publisher; `read()` then finishes. */
  close(): void;
}

/** A publish that has started but whose source may still be opening (probing codecs, waiting for a keyframe). */
export interface LiveInput {
  /** `rtmp` or `whip`, for stats. */
  readonly protocol: string;
  open(): Promise<LiveSource>;
  /** Drops the publisher; a pending `open()` fails or a source's `read()` ends. */
  abort(): void;
}
