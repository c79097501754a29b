import { errorMessage } from '../base/errors.js';
import { PacketSink, type PacketSinkOptions } from './packet-sink.js';

/** How a stream's recording is going: `recording`, `finished` (the file is complete) or `failed` (with the reason; the stream went on without it). */
export interface RecordingState {
  file: string;
  state: 'recording' | 'finished' | 'failed';
  error?: string;
}

/**
 * A recording of a stream's output: the upconverted video and its audio, as
 * sent to viewers, in one MPEG-TS file. MPEG-TS needs no index at the end,
 * so the file stays playable up to its last packet even if the server dies
 * mid-stream.
 *
 * A recording that cannot be written (the disk filled up) ends alone, with
 * the reason in `state`: the live stream and its viewers go on.
 */
export class Recording {
  private current: RecordingState;

  private constructor(
    private readonly sink: PacketSink,
    file: string,
    private readonly onFailed?: (error: string) => void,
  ) {
    this.current = { file, state: 'recording' };
  }

  /** `onFailed` hears once, when a write fails and the recording ends. */
  static async open(options: Pick<PacketSinkOptions, 'video' | 'audio'> & { file: string; onFailed?: (error: string) => void }): Promise<Recording> {
    const sink = await PacketSink.open({ target: options.file, format: 'mpegts', what: `the recording ${options.file}`, video: options.video, audio: options.audio });
    return new Recording(sink, options.file, options.onFailed);
  }

  get state(): RecordingState {
    return { ...this.current };
  }

  async writeVideo(packet: Parameters<PacketSink['writeVideo']>[0]): Promise<void> {
    if (this.current.state === 'recording') await this.guard(() => this.sink.writeVideo(packet));
  }

  async writeAudio(packet: Parameters<PacketSink['writeAudio']>[0]): Promise<void> {
    if (this.current.state === 'recording') await this.guard(() => this.sink.writeAudio(packet));
  }

  /** Completes the file. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Completes the file (the same as disposing it). */
  async close(): Promise<void> {
    if (this.current.state !== 'recording') return;
    await this.guard(() => this.sink.close());
    if (this.current.state === 'recording') this.current = { ...this.current, state: 'finished' };
  }

  private async guard(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      // Audio and video writes can fail together: the first failure is the one reported.
      if (this.current.state === 'failed') return;
      const reason = errorMessage(error);
      this.current = { ...this.current, state: 'failed', error: reason };
      // The file is already broken: its trailer failing too changes nothing, and the reason above is the one to report.
      await this.sink.close().catch(() => {});
      this.onFailed?.(reason);
    }
  }
}
