/** RTP clocks of a WebRTC publisher: video 90 kHz, Opus 48 kHz. */
export const RTP_VIDEO_CLOCK = 90000;
export const RTP_OPUS_CLOCK = 48000;

export interface RtpTimelineOptions {
  /** How far back arrivals are looked at for the least-delayed one (ms, default 3000). */
  windowMs?: number;
  /** How fast the audio's placement may move, in ms per audio packet (default 0.5: 25 ms a second for 20 ms packets), so timestamps never jump back. */
  slewMs?: number;
}

/** A sender report of one medium: an RTP timestamp and the sender's wall clock then (ms). */
interface SenderReport {
  ntpMs: number;
  rtp: number;
}

/**
 * One timeline for a WHIP publisher's video and audio (pure: RTP timestamps
 * and arrival times in, presentation timestamps out).
 *
 * Video `pts` counts 90 kHz ticks from the first frame, unwrapped (RTP
 * timestamps wrap at 2^32). Audio RTP timestamps start at an unrelated
 * random point, so audio is placed by arrival: for each medium, the offset
 * between arrival time and RTP time of its least-delayed packet over the
 * last few seconds says when "now" is in that medium's clock, and the
 * difference of the two offsets maps audio time to video time. The minimum
 * matters: a browser's first video frames come in a burst after the first
 * keyframe, and placing audio against the latest frame's arrival put it
 * visibly off (bench/history, "Audio and the original over WebRTC"). Audio keeps its RTP
 * spacing; the mapping only drifts, slowly (`slewMs`).
 *
 * What arrival cannot see is the difference between the publisher's audio
 * and video send paths: usually small in a browser, but once large for a
 * whole run (audio released with no wait while the video waited; same
 * benchmark). So once both media's RTCP sender reports have come (Chromium sends
 * one every few seconds), they decide instead: each pairs an RTP timestamp
 * with the sender's wall clock (NTP), the same clock for both media, and the
 * placement slews to what they say.
 */
export class RtpTimeline {
  private readonly windowMs: number;
  private readonly slewMs: number;
  private videoLast?: number;
  private videoPts = 0n;
  private audioLast?: number;
  private audioRtp = 0n;
  private readonly videoOffsets: { at: number; offset: number }[] = [];
  private readonly audioOffsets: { at: number; offset: number }[] = [];
  /** Audio RTP time → video time, in ms (audio ms + shift = video ms). */
  private shift?: number;
  /** The latest sender report of each medium: an RTP timestamp and the sender's wall clock then (ms). */
  private readonly reports: { video?: SenderReport; audio?: SenderReport } = {};

  constructor(options: RtpTimelineOptions = {}) {
    this.windowMs = options.windowMs ?? 3000;
    this.slewMs = options.slewMs ?? 0.5;
  }

  /** A video frame's RTP timestamp → its pts (1/90000 s from the first frame). `receivedAt` in ms. */
  video(timestamp: number, receivedAt: number): bigint {
    if (this.videoLast !== undefined) this.videoPts += BigInt((timestamp - this.videoLast) | 0); // signed 32-bit difference: unwraps
    this.videoLast = timestamp;
    this.note(this.videoOffsets, receivedAt, receivedAt - (Number(this.videoPts) * 1000) / RTP_VIDEO_CLOCK);
    return this.videoPts;
  }

  /** A sender report of one medium: its RTP timestamp `rtpTimestamp` was the sender's wall-clock time `ntpMs`. */
  senderReport(media: 'video' | 'audio', ntpMs: number, rtpTimestamp: number): void {
    this.reports[media] = { ntpMs, rtp: rtpTimestamp };
  }

  /**
   * An Opus packet's RTP timestamp → its pts in 1/48000 s on the video's
   * timeline, or undefined before the first video frame (nothing to place it against).
   */
  audio(timestamp: number, receivedAt: number): bigint | undefined {
    if (this.audioLast !== undefined) this.audioRtp += BigInt((timestamp - this.audioLast) | 0);
    this.audioLast = timestamp;
    this.note(this.audioOffsets, receivedAt, receivedAt - (Number(this.audioRtp) * 1000) / RTP_OPUS_CLOCK);
    if (this.videoOffsets.length === 0) return undefined;
    const target = this.reportedShift(timestamp) ?? min(this.audioOffsets) - min(this.videoOffsets);
    this.shift = this.shift === undefined ? target : this.shift + Math.max(-this.slewMs, Math.min(this.slewMs, target - this.shift));
    return this.audioRtp + BigInt(Math.round((this.shift * RTP_OPUS_CLOCK) / 1000));
  }

  /** The shift the sender reports give for the audio packet with this RTP timestamp, once both media have sent one. */
  private reportedShift(timestamp: number): number | undefined {
    const { video, audio } = this.reports;
    if (!video || !audio || this.videoLast === undefined) return undefined;
    // Sender wall-clock time of this packet, then the video RTP time and pts at that moment (signed 32-bit differences).
    const ntpMs = audio.ntpMs + (((timestamp - audio.rtp) | 0) * 1000) / RTP_OPUS_CLOCK;
    const videoTicks = Number(this.videoPts) + ((video.rtp - this.videoLast) | 0) + ((ntpMs - video.ntpMs) * RTP_VIDEO_CLOCK) / 1000;
    return (videoTicks * 1000) / RTP_VIDEO_CLOCK - (Number(this.audioRtp) * 1000) / RTP_OPUS_CLOCK;
  }

  private note(window: { at: number; offset: number }[], at: number, offset: number): void {
    window.push({ at, offset });
    while (window.length > 1 && at - window[0]!.at > this.windowMs) window.shift();
  }
}

function min(window: { offset: number }[]): number {
  let least = Infinity;
  for (const { offset } of window) least = Math.min(least, offset);
  return least;
}
