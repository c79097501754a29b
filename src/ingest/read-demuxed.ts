import type { Decoder, Demuxer } from 'node-av/api';
import type { Frame, Packet, Stream } from 'node-av/lib';
import { AVMEDIA_TYPE_AUDIO, AVMEDIA_TYPE_VIDEO } from 'node-av/constants';

export type SourceItem = { kind: 'video'; frame: Frame } | { kind: 'audio'; packet: Packet };

const AV_NOPTS = -0x8000000000000000n;

export interface DemuxedInput {
  demuxer: Demuxer;
  decoder: Decoder;
  video: Stream;
  audio?: Stream;
  /** True once the owning source is closed: reading stops early. */
  stopped(): boolean;
  /** A video packet the decoder rejected (its frames are missing). */
  onDamaged(): void;
  /** Each packet demuxed, video or audio, by its size (what a live source counts against its bitrate limit). */
  onPacket?(size: number): void;
  /** Holds each packet back until it is due (a file played in real time); undefined: not held. */
  pace?(packet: Packet): Promise<void> | undefined;
}

/** A look at each video packet before it is decoded: what it returns is yielded ahead of the packet's frames. */
export type VideoTap<T> = (packet: Packet) => T | undefined;

/**
 * What file and live sources share: items in demux order, the audio stream's
 * packets passed on (the consumer frees them), the video stream's packets
 * decoded, other streams dropped; the decoder is flushed at the end.
 */
export async function* readDemuxed<T = never>(input: DemuxedInput, tap?: VideoTap<T>): AsyncGenerator<SourceItem | T> {
  for await (const packet of input.demuxer.packets()) {
    if (input.stopped() || !packet) {
      packet?.free();
      break;
    }
    input.onPacket?.(packet.size);
    const due = input.pace?.(packet);
    if (due) await due;
    if (input.stopped()) {
      packet.free();
      break;
    }
    const type = input.demuxer.streams[packet.streamIndex]?.codecpar.codecType;
    if (packet.streamIndex === input.audio?.index && type === AVMEDIA_TYPE_AUDIO) {
      yield { kind: 'audio', packet };
      continue;
    }
    if (packet.streamIndex === input.video.index && type === AVMEDIA_TYPE_VIDEO) {
      const tapped = tap?.(packet);
      if (tapped !== undefined) yield tapped;
      yield* decodePacket(input.decoder, packet, input.onDamaged);
    }
    packet.free();
  }
  if (!input.stopped()) yield* decodePacket(input.decoder, null, input.onDamaged);
}

/**
 * Decodes one packet (`null` flushes). A damaged packet costs its frames, not
 * the stream. Frames without a pts get the decoder's best guess (raw streams,
 * some AVIs).
 */
export async function* decodePacket(decoder: Decoder, packet: Packet | null, onDamaged: () => void): AsyncGenerator<SourceItem> {
  let frames: Frame[];
  try {
    frames = await decoder.decodeAll(packet);
  } catch {
    onDamaged();
    return;
  }
  for (const frame of frames) {
    if (frame.pts === AV_NOPTS) frame.pts = frame.bestEffortTimestamp;
    yield { kind: 'video', frame };
  }
}
