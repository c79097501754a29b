import { randomUUID } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveKind } from '../engine/model/model-choice.js';
import { createSynthesizer } from '../engine/synthesis/create-synthesizer.js';
import { childLogger, type Logger } from '../base/logger.js';
import { flvInput } from '../protocols/rtmp/flv-source.js';
import { rtmpCapacity, threadPoolSize } from '../protocols/rtmp/thread-pool.js';
import { RtmpServer } from '../protocols/rtmp/rtmp-server.js';
import type { LiveInput } from '../ingest/live-source.js';
import { testPatternInput } from '../ingest/test-pattern.js';
import type { ParsedOffer as ParsedOfferType } from '../protocols/webrtc/sdp-offer.js';
import { LiveStream, type LiveStreamStats } from '../live/live-stream.js';
import { HttpServer, type OfferRequest, type Readiness, type SessionRequest, type SignalResult, type StreamCatalog } from './http-server.js';
import { WhepViewer } from '../protocols/webrtc/whep-viewer.js';
import { whipInput } from '../protocols/webrtc/whip-source.js';
import { chooseAudioCodec, chooseVideoCodec, h264PacketizationMode1, parseOffer } from '../protocols/webrtc/sdp-offer.js';
import { WhipSession } from '../protocols/webrtc/whip-session.js';
import { STREAM_KEY } from './routes.js';
import { metricsPage } from './metrics-page.js';
import { EventLoopDelay, processFigures } from '../metrics/process-metrics.js';
import { bearerToken, sameSecret } from './secrets.js';
import { DEFAULT_LIMITS, interpolatorFor, type ServeOptions, type ServerAddress, type ServerLimits } from '../config/serve-options.js';
import type { StreamSettings } from '../config/schema.js';
import { SemanticStage } from '../engine/semantic/semantic-stage.js';
import { AuthHook, type AuthQuery, type AuthVerdict } from './auth-hook.js';

const stderrLogger: Logger = {
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
  /** The admin surface's own listener, when `admin.port` is set. */
  private readonly adminHttp?: HttpServer;
  private readonly limits: ServerLimits;
  private readonly live = new Map<string, LiveStream>();
  private readonly expiry = new Map<LiveStream, NodeJS.Timeout>();
  private readonly logger: Logger;
  /** Keys whose publisher (RTMP or WHIP) is connected now: a second one gets 409 / a refusal. */
  private readonly publishing = new Set<string>();
  /** RTMP streams FFmpeg reads now (a pool thread each). */
  private ffmpegFlvReaders = 0;
  private readonly whip = new Map<string, { key: string; session: WhipSession }>();
  private readonly whep = new Map<string, { key: string; viewer: WhepViewer }>();
  private root?: string;
  private closing = false;
  private bound?: ServerAddress;
  /** Set by `drain()`: new publishers and viewers are refused, live streams run on. */
  private draining = false;
  /** Whether the engine can run a stream: the model is loaded once at start to find out. */
  private engine: Readiness = { ready: false, reason: 'the server is starting' };
  private engineCheck?: Promise<void>;
  private readonly authHook?: AuthHook;
  private readonly eventLoop = new EventLoopDelay();

  constructor(private readonly options: ServeOptions = {}) {
    this.logger = options.logger ?? stderrLogger;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    if (options.authHook) this.authHook = new AuthHook({ ...options.authHook, warn: (message) => this.logger.warn(message) });
    this.rtmp = new RtmpServer({
      logger: this.logger,
      authorize: async (key, secret, ip) => {
        if (this.draining) return 'the server is shutting down';
        const refusal = this.publishRefusal(key) ?? (this.mayPublish(key, secret) ? undefined : 'missing or wrong key: publish to rtmp://host/live/<key>?key=<secret>');
        if (refusal !== undefined) return refusal;
        const verdict = await this.askHook({ action: 'publish', protocol: 'rtmp', key, token: secret, ip });
        if (!verdict.allowed) return verdict.reason;
        // Things may have changed while the hook thought about it.
        if (this.draining || this.closing) return 'the server is shutting down';
        return this.publishRefusal(key) ?? true;
      },
      isLive: (key) => this.publishing.has(key),
    });
    this.rtmp.on('publish', (publish) => {
      this.publishing.add(publish.key);
      publish.on('end', () => {
        this.publishing.delete(publish.key);
      });
      const ids = this.streamIdentity(publish.key);
      this.start(publish.key, flvInput(publish.flv, { name: `stream '${publish.key}'`, ffmpegReaders: this.ffmpegReaders }), `RTMP from ${publish.remoteAddress}`, ids);
      publish.on('end', (reason) => ids.log.info(`stream '${publish.key}' publisher left: ${reason}`));
    });
    const rateLimit = { perSecond: this.limits.requestsPerSecond, burst: this.limits.requestBurst };
    const admin = options.admin ?? {};
    const http = { rateLimit, maxBodyBytes: this.limits.maxBodyBytes, adminToken: admin.token };
    this.http = new HttpServer(this, this.logger, {}, { ...http, surface: admin.port === undefined ? 'all' : 'public' });
    if (admin.port !== undefined) this.adminHttp = new HttpServer(this, this.logger, {}, { ...http, surface: 'admin' });
  }

  /** The settings for one key: its `streams` entry over the server-wide ones. */
  private settings(key: string): StreamSettings {
    return this.options.streams?.[key] ?? {};
  }

  /**
   * Pool threads for FFmpeg's FLV reader, which RTMP streams in codecs other
   * than H.264 and AAC need for their whole life (see thread-pool.ts); H.264
   * streams are read without one.
   */
  private readonly ffmpegReaders = {
    acquire: (): string | undefined => {
      if (this.ffmpegFlvReaders >= this.ffmpegReaderCapacity) return `all ${this.ffmpegReaderCapacity} of its readers are busy (each holds a thread of libuv's pool of ${threadPoolSize()}; UV_THREADPOOL_SIZE raises it)`;
      this.ffmpegFlvReaders++;
      return undefined;
    },
    release: (): void => void this.ffmpegFlvReaders--,
  };

  /** RTMP streams FFmpeg may read at once: the pool's share for readers, less the test pattern's (its paced reader holds a thread too). */
  get ffmpegReaderCapacity(): number {
    return Math.max(1, rtmpCapacity() - (this.options.testPattern ? 1 : 0));
  }

  /** Why `key` may not start publishing now (regardless of secrets), or undefined. */
  private publishRefusal(key: string): string | undefined {
    // Keys become URL path segments: refuse what could not be served.
    if (!STREAM_KEY.test(key)) return 'stream keys are letters, digits, _ and -';
    if (this.options.streamKey !== undefined && key !== this.options.streamKey) return 'this stream key may not publish here';
    if (this.options.openPublishing === false && !this.options.streams?.[key]) return 'this stream key may not publish here';
    if (this.publishing.size >= this.limits.maxStreams && !this.publishing.has(key)) return `the server is at its limit of ${this.limits.maxStreams} streams`;
    return undefined;
  }

  /** Whether `secret` is the key's publish secret (constant-time), or none is needed. */
  private mayPublish(key: string, secret: string | undefined): boolean {
    const expected = this.settings(key).token ?? this.options.token;
    return expected === undefined || sameSecret(secret, expected);
  }

  /** The external auth hook's verdict; everyone is allowed when none is configured. */
  private async askHook(query: AuthQuery): Promise<AuthVerdict> {
    return this.authHook ? this.authHook.check(query) : { allowed: true };
  }

  private mayView(key: string, authorization: string | undefined): boolean {
    const expected = this.settings(key).viewToken ?? this.options.viewToken;
    return expected === undefined || sameSecret(bearerToken(authorization), expected);
  }

  async listen(): Promise<ServerAddress> {
    if (this.options.record || Object.values(this.options.streams ?? {}).some((s) => s.record)) {
      const dir = this.recordDir;
      try {
        mkdirSync(dir, { recursive: true });
        accessSync(dir, constants.W_OK);
      } catch (error) {
        throw new Error(`recordDir ${dir}: ${(error as NodeJS.ErrnoException).code === 'EACCES' ? 'not writable' : error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.root = this.options.hlsRoot ?? mkdtempSync(join(tmpdir(), 'frc-live-'));
    const host = this.options.host ?? '127.0.0.1';
    const httpPort = await this.http.listen(this.options.httpPort ?? 8080, host).catch((error: unknown) => {
      throw listenError(error, 'httpPort', this.options.httpPort ?? 8080, host);
    });
    try {
      const rtmpPort = await this.rtmp.listen(this.options.rtmpPort ?? 1935, host).catch((error: unknown) => {
        throw listenError(error, 'rtmpPort', this.options.rtmpPort ?? 1935, host);
      });
      const admin = this.options.admin;
      const adminPort =
        this.adminHttp && admin?.port !== undefined
          ? await this.adminHttp.listen(admin.port, admin.host ?? host).catch(async (error: unknown) => {
              await this.rtmp.close();
              throw listenError(error, 'admin.port', admin.port!, admin.host ?? host);
            })
          : undefined;
      this.engineCheck = this.checkEngine();
      const key = this.options.testPattern;
      if (key !== undefined) {
        this.publishing.add(key);
        this.start(key, testPatternInput(), 'the built-in test pattern', this.streamIdentity(key));
      }
      this.bound = { httpPort, rtmpPort, ...(adminPort !== undefined ? { adminPort } : {}) };
      return this.bound;
    } catch (error) {
      await this.http.close();
      throw error;
    }
  }

  private get recordDir(): string {
    return this.options.recordDir ?? 'recordings';
  }

  /** What session `Location`s start with: `publicUrl` without a trailing slash, or nothing (relative). */
  private get urlBase(): string {
    return (this.options.publicUrl ?? '').replace(/\/+$/, '');
  }

  /** The ports bound, once listening. */
  get address(): ServerAddress | undefined {
    return this.bound;
  }

  /**
   * Readiness for `/readyz`: the engine loaded (a model, when the interpolator
   * is one) and the server not draining. A load balancer sends new streams
   * only where this is ready; live streams are unaffected either way.
   */
  readiness(): Readiness {
    if (this.closing || this.draining) return { ready: false, reason: 'draining: the server is shutting down' };
    if (this.publishing.size >= this.limits.maxStreams) return { ready: false, reason: `full: ${this.publishing.size} of ${this.limits.maxStreams} streams` };
    return this.engine;
  }

  /** Resolves once the start-up engine check has settled (`readiness()` then says how it went). */
  async engineChecked(): Promise<void> {
    await this.engineCheck;
  }

  /**
   * Graceful shutdown: new publishers and viewers are refused from now on
   * (503, RTMP `BadName`), `/readyz` turns 503 so load balancers stop
   * sending traffic, and the streams that are live run on until their
   * publishers leave, for at most `timeoutMs`; then `close()` ends whatever
   * is left. Viewers of live streams keep watching until their stream ends.
   */
  async drain(timeoutMs: number): Promise<{ closedStreams: number }> {
    if (this.closing) return { closedStreams: 0 };
    this.draining = true;
    const live = [...this.live.values()].filter((stream) => !stream.finished);
    this.logger.info(`draining: ${live.length} live stream(s), waiting up to ${Math.round(timeoutMs / 1000)} s for them to end`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([Promise.all(live.map((stream) => stream.done)).then(() => 'ended' as const), timeout]);
    clearTimeout(timer);
    const closedStreams = live.filter((stream) => !stream.finished).length;
    if (outcome === 'timeout') this.logger.info(`drain time is up: closing ${closedStreams} stream(s) still live`);
    await this.close();
    return { closedStreams };
  }

  /** Drops every publisher, stops every stream, deletes their files and stops listening. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.rtmp.close();
    for (const { session } of this.whip.values()) session.close('server closed');
    for (const { viewer } of this.whep.values()) viewer.close('server closed');
    for (const timer of this.expiry.values()) clearTimeout(timer);
    this.expiry.clear();
    await Promise.all([...this.live.values()].map((stream) => stream.close()));
    this.live.clear();
    await Promise.all([this.http.close(), this.adminHttp?.close()]);
    this.eventLoop.close();
    if (this.root && !this.options.hlsRoot) rmSync(this.root, { recursive: true, force: true });
  }

  hlsDir(key: string): string | undefined {
    return this.live.get(key)?.dir;
  }

  streams(): LiveStreamStats[] {
    return [...this.live.values()].map((stream) => stream.stats());
  }

  metrics(): string {
    return metricsPage(
      [...this.live.values()].map((stream) => stream.metrics()),
      processFigures(this.eventLoop),
    );
  }

  /** WHIP: a publisher's offer. WHEP: a viewer's. */
  async offer(request: OfferRequest): Promise<SignalResult> {
    if (this.closing || this.draining || !this.root) return { status: 503, error: 'the server is shutting down' };
    // Who may ask is settled before the offer is even parsed.
    const allowed = request.protocol === 'whip' ? this.mayPublish(request.key, bearerToken(request.authorization)) : this.mayView(request.key, request.authorization);
    if (!allowed) return { status: 401, error: 'missing or wrong bearer token' };
    const refusal = request.protocol === 'whip' ? this.publishRefusal(request.key) : undefined;
    if (refusal !== undefined) return { status: refusal.includes('limit') ? 503 : 403, error: refusal };
    const verdict = await this.askHook({
      action: request.protocol === 'whip' ? 'publish' : 'read',
      protocol: request.protocol,
      key: request.key,
      token: bearerToken(request.authorization),
      ip: request.remoteAddress,
      ...(request.variant ? { variant: request.variant } : {}),
    });
    if (!verdict.allowed) return { status: verdict.status, error: verdict.reason };
    if (this.closing || this.draining) return { status: 503, error: 'the server is shutting down' };
    const parsed = parseOffer(request.sdp);
    if (!parsed.ok) return { status: 400, error: parsed.reason };
    return request.protocol === 'whip' ? this.publishWhip(request, parsed.offer) : this.playWhep(request, parsed.offer);
  }

  /** `DELETE` on a WHIP or WHEP session resource. */
  endSession(request: SessionRequest): SignalResult {
    if (request.protocol === 'whip') {
      if (!this.mayPublish(request.key, bearerToken(request.authorization))) return { status: 401, error: 'missing or wrong bearer token' };
      const entry = this.whip.get(request.id);
      if (!entry || entry.key !== request.key) return { status: 404, error: 'no such session' };
      entry.session.close('deleted');
      return { status: 200 };
    }
    if (!this.mayView(request.key, request.authorization)) return { status: 401, error: 'missing or wrong bearer token' };
    const entry = this.whep.get(request.id);
    if (!entry || entry.key !== request.key) return { status: 404, error: 'no such session' };
    entry.viewer.close('deleted');
    return { status: 200 };
  }

  private async publishWhip(request: OfferRequest, offer: ParsedOfferType): Promise<SignalResult> {
    const { key } = request;
    const choice = chooseVideoCodec(offer, ['H264', 'VP8']);
    if ('reason' in choice) return { status: 406, error: choice.reason };
    if (choice.section.direction !== 'sendonly' && choice.section.direction !== 'sendrecv') return { status: 400, error: 'the offer\'s video section does not send: a WHIP offer must be sendonly' };
    if (this.publishing.has(key)) return { status: 409, error: 'this stream key is already live' };
    this.publishing.add(key);
    const ids = this.streamIdentity(key);
    let accepted: Awaited<ReturnType<typeof WhipSession.accept>>;
    try {
      accepted = await WhipSession.accept(request.sdp, choice, {
        name: `whip '${key}'`,
        // Opus, when the publisher sends audio: relayed to WebRTC viewers, transcoded to AAC for HLS.
        audio: chooseAudioCodec(offer, 'send'),
        logger: ids.log,
        idleTimeoutMs: this.options.whipIdleTimeoutMs,
        ...(this.options.iceHosts ? { hostAddresses: this.options.iceHosts } : {}),
      });
    } catch (error) {
      this.publishing.delete(key);
      return { status: 400, error: `cannot answer the offer: ${error instanceof Error ? error.message : String(error)}` };
    }
    const { session, answer } = accepted;
    if (this.closing || this.draining) {
      session.close('server closed');
      this.publishing.delete(key);
      return { status: 503, error: 'the server is shutting down' };
    }
    this.whip.set(session.id, { key, session });
    session.on('end', (reason) => {
      this.whip.delete(session.id);
      this.publishing.delete(key);
      ids.log.info(`stream '${key}' WHIP publisher left: ${reason}`);
    });
    this.start(key, whipInput(session), `WHIP (${session.codec})`, ids);
    return { status: 201, sdp: answer, location: `${this.urlBase}/whip/${key}/${session.id}` };
  }

  private async playWhep(request: OfferRequest, offer: ParsedOfferType): Promise<SignalResult> {
    const { key } = request;
    const stream = this.live.get(key);
    const viewers = [...this.whep.values()].filter((entry) => entry.key === key).length;
    if (viewers >= this.limits.maxViewersPerStream) return { status: 503, error: `this stream is at its limit of ${this.limits.maxViewersPerStream} viewers` };
    if (!stream || stream.finished) return { status: 404, error: stream ? 'this stream has ended' : 'no such stream: nothing is published on this key' };
    const original = request.variant === 'original';
    // The upconverted stream is encoded once, as H.264, for HLS and every viewer alike;
    // the original is relayed as the publisher sent it, so only its codec will do.
    const codec = original ? stream.originalCodec : 'H264';
    if (!codec) {
      if (stream.state === 'starting') return { status: 503, error: 'the stream is still starting: try again in a second' };
      return { status: 406, error: `the original is ${stream.stats().codec ?? 'in a codec'} that WebRTC viewers cannot be sent as it is (H.264 and VP8 can)` };
    }
    const choice = chooseVideoCodec(offer, [codec], h264PacketizationMode1);
    if ('reason' in choice) return { status: 406, error: original ? `${choice.reason} (the original is relayed in the publisher's codec)` : choice.reason };
    if (choice.section.direction !== 'recvonly' && choice.section.direction !== 'sendrecv') return { status: 400, error: 'the offer\'s video section does not receive: a WHEP offer must be recvonly' };
    let accepted: Awaited<ReturnType<typeof WhepViewer.accept>>;
    try {
      const keyframe = original ? () => stream.requestOriginalKeyframe() : () => stream.requestKeyframe();
      accepted = await WhepViewer.accept(request.sdp, choice, {
        name: `whep '${key}'${original ? ' (original)' : ''}`,
        logger: stream.logger,
        audio: chooseAudioCodec(offer, 'receive'),
        onKeyframeRequest: keyframe,
        onReady: keyframe,
        ...(this.options.iceHosts ? { hostAddresses: this.options.iceHosts } : {}),
      });
    } catch (error) {
      return { status: 400, error: `cannot answer the offer: ${error instanceof Error ? error.message : String(error)}` };
    }
    const { viewer, answer } = accepted;
    this.whep.set(viewer.id, { key, viewer });
    viewer.on('end', (reason) => {
      this.whep.delete(viewer.id);
      stream.logger.info(`stream '${key}' WHEP viewer left: ${reason}`);
    });
    if (original) stream.addOriginalViewer(viewer);
    else stream.addViewer(viewer);
    return { status: 201, sdp: answer, location: `${this.urlBase}/whep/${key}/${viewer.id}` };
  }

  /** A new stream's id, and its logger: every line it writes carries both (see `childLogger`). */
  private streamIdentity(key: string): { id: string; log: Logger } {
    const id = randomUUID().slice(0, 8);
    return { id, log: childLogger(this.logger, { stream: key, streamId: id }) };
  }

  /** Loads the engine once, as a stream would, so `/readyz` reports a missing or broken model before any publisher finds out. */
  private async checkEngine(): Promise<void> {
    const semantic = this.options.semantic || Object.values(this.options.streams ?? {}).some((s) => s.semantic);
    if (resolveKind(this.options) !== 'model' && !semantic) {
      this.engine = { ready: true };
      return;
    }
    this.engine = { ready: false, reason: 'loading the model' };
    try {
      if (resolveKind(this.options) === 'model') await (await createSynthesizer(this.options)).close();
      if (semantic) await (await SemanticStage.create(this.options)).close();
      this.engine = { ready: true };
    } catch (error) {
      const reason = `the model failed to load: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      this.logger.warn(reason);
      this.engine = { ready: false, reason };
    }
  }

  private start(key: string, input: LiveInput, from: string, ids: { id: string; log: Logger }): void {
    if (this.closing || !this.root) {
      input.abort();
      return;
    }
    // The key's publisher is new, so whatever is here is over or finishing: replace it.
    const previous = this.live.get(key);
    if (previous) this.retire(previous);

    const settings = this.settings(key);
    const stream = new LiveStream({
      ...this.options,
      ...(settings.model !== undefined ? interpolatorFor(settings.model) : {}),
      factor: settings.factor ?? this.options.factor,
      maxWidth: settings.maxWidth ?? this.limits.maxWidth,
      maxHeight: settings.maxHeight ?? this.limits.maxHeight,
      maxBitrateKbps: settings.maxBitrateKbps ?? this.limits.maxBitrateKbps,
      semantic: settings.semantic ?? this.options.semantic,
      key,
      input,
      dir: mkdtempSync(join(this.root, `${key}-`)),
      push: this.options.push === undefined ? undefined : pushUrl(this.options.push, key),
      record: (settings.record ?? this.options.record) ? join(this.recordDir, recordingName(key, ids.id)) : undefined,
      id: ids.id,
      logger: ids.log,
    });
    this.live.set(key, stream);
    ids.log.info(`stream '${key}' published from ${from}`);
    stream.on('state', (state) => {
      ids.log.info(`stream '${key}' is ${state}`);
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
    stream.close().catch((error: unknown) => stream.logger.warn(`stream '${stream.key}': cleanup failed: ${String(error)}`));
  }
}

/** A listen failure as one line naming the setting: "httpPort 8080 on 127.0.0.1 is already in use". */
function listenError(error: unknown, setting: string, port: number, host: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new Error(`${setting} ${port} on ${host} is already in use`);
  if (code === 'EACCES') return new Error(`${setting} ${port} on ${host}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL') return new Error(`${setting}: ${host} is not an address of this machine`);
  return new Error(`${setting} ${port} on ${host}: ${error instanceof Error ? error.message : String(error)}`);
}

/** A recording's file name: the key, the publish's UTC start and its id (`cam-20261121T104500-1a2b3c4d.ts`), so names never collide and sort by time. */
export function recordingName(key: string, id: string, at = new Date()): string {
  return `${key}-${at.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${id}.ts`;
}

/** The push URL for one stream: every `{key}` in the template becomes its key (which `STREAM_KEY` keeps URL-safe). */
export function pushUrl(template: string, key: string): string {
  return template.replaceAll('{key}', key);
}
