import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InterpolatorChoice } from './engine/create-interpolator.js';
import { type RtmpLogger, type RtmpPublish, RtmpServer } from './ingest/rtmp/rtmp-server.js';
import { LiveStream, type LiveStreamStats } from './live/live-stream.js';
import { HttpServer, type StreamCatalog } from './server/http-server.js';
import { STREAM_KEY } from './server/routes.js';

export interface ServeOptions extends InterpolatorChoice {
  /** HTTP port for HLS and the stats API (default 8080; 0 picks a free one). */
  httpPort?: number;
  /** RTMP ingest port (default 1935; 0 picks a free one). */
  rtmpPort?: number;
  /** Address both listen on (default 127.0.0.1). */
  host?: string;
  /** When set, only this key may publish. */
  streamKey?: string;
  /** Output frames per input frame (default 2). */
  factor?: number;
  /** How long an ended stream stays listed and its HLS served, so players can finish (default 30 s). */
  endedRetentionMs?: number;
  /**
   * Also publish each stream's output to this RTMP URL; `{key}` in it becomes
   * the stream key. A push that fails ends alone: the stream and its HLS go on.
   */
  push?: string;
  /** Where per-stream HLS directories go (default: a new directory under the system temp dir). */
  hlsRoot?: string;
  logger?: RtmpLogger;
}

export interface ServerAddress {
  httpPort: number;
  rtmpPort: number;
}

const stderrLogger: RtmpLogger = {
  info: () => {},
  warn: (message) => process.stderr.write(`frc serve: ${message}\n`),
};

/**
 * `frc serve`: RTMP publishers in, upconverted HLS out. Each publish on
 * `rtmp://host/live/<key>` becomes a `LiveStream` writing into its own
 * directory, served at `/hls/<key>/index.m3u8` (and, with `push`, published
 * onward over RTMP); `/api/streams` lists them, and `/api/ws` streams the
 * same list to WebSocket clients every second.
 *
 * A stream that ends stays listed (state `ended`) and served for
 * `endedRetentionMs`, so a player can play out the last segments, then its
 * files are deleted. A new publish on the same key replaces it at once.
 * Streams are independent: one failing or vanishing leaves the others and
 * the server running.
 */
export class Server implements StreamCatalog {
  private readonly rtmp: RtmpServer;
  private readonly http: HttpServer;
  private readonly live = new Map<string, LiveStream>();
  private readonly expiry = new Map<LiveStream, NodeJS.Timeout>();
  private readonly logger: RtmpLogger;
  private root?: string;
  private closing = false;

  constructor(private readonly options: ServeOptions = {}) {
    this.logger = options.logger ?? stderrLogger;
    this.rtmp = new RtmpServer({
      logger: this.logger,
      // Keys become URL path segments: refuse what could not be served.
      authorize: (key) => STREAM_KEY.test(key) && (options.streamKey === undefined || key === options.streamKey),
    });
    this.rtmp.on('publish', (publish) => this.start(publish));
    this.http = new HttpServer(this, this.logger);
  }

  async listen(): Promise<ServerAddress> {
    this.root = this.options.hlsRoot ?? mkdtempSync(join(tmpdir(), 'frc-live-'));
    const host = this.options.host ?? '127.0.0.1';
    const httpPort = await this.http.listen(this.options.httpPort ?? 8080, host);
    try {
      const rtmpPort = await this.rtmp.listen(this.options.rtmpPort ?? 1935, host);
      return { httpPort, rtmpPort };
    } catch (error) {
      await this.http.close();
      throw error;
    }
  }

  /** Drops every publisher, stops every stream, deletes their files and stops listening. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.rtmp.close();
    for (const timer of this.expiry.values()) clearTimeout(timer);
    this.expiry.clear();
    await Promise.all([...this.live.values()].map((stream) => stream.close()));
    this.live.clear();
    await this.http.close();
    if (this.root && !this.options.hlsRoot) rmSync(this.root, { recursive: true, force: true });
  }

  hlsDir(key: string): string | undefined {
    return this.live.get(key)?.dir;
  }

  streams(): LiveStreamStats[] {
    return [...this.live.values()].map((stream) => stream.stats());
  }

  private start(publish: RtmpPublish): void {
    if (this.closing || !this.root) {
      publish.close();
      return;
    }
    const key = publish.key;
    // The key is free at the RTMP level, so whatever is here is over or finishing: replace it.
    const previous = this.live.get(key);
    if (previous) this.retire(previous);

    const stream = new LiveStream({
      ...this.options,
      key,
      flv: publish.flv,
      dir: mkdtempSync(join(this.root, `${key}-`)),
      push: this.options.push === undefined ? undefined : pushUrl(this.options.push, key),
      logger: this.logger,
    });
    this.live.set(key, stream);
    this.logger.info(`stream '${key}' published from ${publish.remoteAddress}`);
    publish.on('end', (reason) => this.logger.info(`stream '${key}' publisher left: ${reason}`));
    stream.on('state', (state) => {
      this.logger.info(`stream '${key}' is ${state}`);
      if (!stream.finished) return;
      const timer = setTimeout(() => this.retire(stream), this.options.endedRetentionMs ?? 30_000);
      timer.unref();
      this.expiry.set(stream, timer);
    });
  }

  /** Unlists a stream and deletes its files. */
  private retire(stream: LiveStream): void {
    clearTimeout(this.expiry.get(stream));
    this.expiry.delete(stream);
    if (this.live.get(stream.key) === stream) this.live.delete(stream.key);
    stream.close().catch((error: unknown) => this.logger.warn(`stream '${stream.key}': cleanup failed: ${String(error)}`));
  }
}

/** The push URL for one stream: every `{key}` in the template becomes its key (which `STREAM_KEY` keeps URL-safe). */
export function pushUrl(template: string, key: string): string {
  return template.replaceAll('{key}', key);
}
