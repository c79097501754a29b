import { randomUUID } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../base/errors.js';
import { childLogger, type Logger } from '../base/logger.js';
import type { LiveInput } from '../ingest/live-source.js';
import { LiveStream } from '../live/live-stream.js';
import { recordsAny, type ServeOptions, type ServerLimits, streamSettingsFor } from '../config/serve-options.js';
import { EncoderSizing } from '../egress/encoder-sizing.js';
import { makeHlsRoot, removeStaleHlsRoots } from './hls-root.js';
import { pushUrl, recordingName } from './stream-naming.js';
import type { StreamRegistry } from './stream-registry.js';
import type { WhepViewer } from '../protocols/webrtc/whep-viewer.js';

/** A new stream's id, and its logger: every line it writes carries both (see `childLogger`). */
export interface StreamIdentity {
  id: string;
  log: Logger;
}

/**
 * Starts a live stream for each publish and hands it to the registry: the
 * key's settings, a directory of its own under the HLS root, its push URL
 * and recording name, and a logger that names it.
 *
 * It owns the HLS root: made by `open()` (which first deletes the roots of
 * servers killed before they could; see `hls-root.ts`), deleted by
 * `close()` unless the operator chose it (`hlsRoot`). Each stream deletes its own directory;
 * the registry owns the streams.
 */
export class StreamLauncher implements AsyncDisposable {
  private root?: string;
  private stopped = false;
  /** For the keys whose `encoderPreset` is `auto`; made by `open()`. */
  private sizing?: EncoderSizing;

  constructor(
    private readonly options: ServeOptions,
    private readonly limits: ServerLimits,
    private readonly registry: StreamRegistry<LiveStream, WhepViewer>,
    private readonly logger: Logger,
  ) {}

  /** Makes the HLS root and checks that recordings can be written, before any publisher is let in. */
  open(): void {
    if (recordsAny(this.options)) {
      const dir = this.recordDir;
      try {
        mkdirSync(dir, { recursive: true });
        accessSync(dir, constants.W_OK);
      } catch (error) {
        throw new Error(`recordDir ${dir}: ${(error as NodeJS.ErrnoException).code === 'EACCES' ? 'not writable' : errorMessage(error)}`);
      }
    }
    if (this.options.hlsRoot === undefined) removeStaleHlsRoots(this.logger);
    this.root = this.options.hlsRoot ?? makeHlsRoot();
    this.sizing ??= new EncoderSizing(this.logger);
  }

  /** Settles once `auto`'s presets are measured (at once when nothing measures them). */
  async presetsMeasured(): Promise<void> {
    await this.sizing?.measured;
  }

  /** Whether streams can start: open, and not stopped. */
  get ready(): boolean {
    return this.root !== undefined && !this.stopped;
  }

  /** From now on every publisher is dropped instead of started (the server is closing). */
  stop(): void {
    this.stopped = true;
  }

  /** A stream's id and logger, made as its publisher arrives so its first lines carry them. */
  identity(key: string): StreamIdentity {
    const id = randomUUID().slice(0, 8);
    return { id, log: childLogger(this.logger, { stream: key, streamId: id }) };
  }

  /** Starts `key`'s stream reading `input` (`from` says who publishes, for the log); a closed launcher drops the publisher instead. */
  start(key: string, input: LiveInput, from: string, ids: StreamIdentity): LiveStream | undefined {
    if (!this.ready) {
      input.abort();
      return undefined;
    }
    const { record, encoderPreset, ...settings } = streamSettingsFor(this.options, this.limits, key);
    const stream = new LiveStream({
      ...this.options,
      ...settings,
      encoderPreset: encoderPreset === 'auto' ? this.sizing!.choose : encoderPreset,
      key,
      input,
      dir: mkdtempSync(join(this.root!, `${key}-`)),
      push: this.options.push === undefined ? undefined : pushUrl(this.options.push, key),
      record: record ? join(this.recordDir, recordingName(key, ids.id)) : undefined,
      id: ids.id,
      logger: ids.log,
    });
    ids.log.info(`stream '${key}' published from ${from}`);
    stream.on('state', (state) => ids.log.info(`stream '${key}' is ${state}`));
    this.registry.add(stream);
    return stream;
  }

  /** Stops, and deletes the HLS root it made; call once the streams are closed. */
  close(): void {
    this.stop();
    this.sizing?.close();
    if (this.root && !this.options.hlsRoot) rmSync(this.root, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private get recordDir(): string {
    return this.options.recordDir ?? 'recordings';
  }
}
