import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { DEFAULT_LIMITS, type ServeOptions, type ServerLimits } from '../config/serve-options.js';
import { pullTarget } from '../ingest/pull-target.js';
import { pullInput } from '../ingest/pulled-source.js';
import { testPatternInput } from '../ingest/test-pattern.js';
import { TEST_PATTERN_LABELS } from '../ingest/test-pattern-graphs.js';
import type { LiveStream, LiveStreamStats } from '../live/live-stream.js';
import type { FrameKind } from '../live/frame-kind-ring.js';
import { EventLoopDelay, processFigures } from '../metrics/process-metrics.js';
import { flvInput } from '../protocols/rtmp/flv-source.js';
import { RtmpServer, type RtmpPublish } from '../protocols/rtmp/rtmp-server.js';
import { FfmpegReaderPool, ffmpegReaderCapacity } from '../ingest/ffmpeg-readers.js';
import type { WhepViewer } from '../protocols/webrtc/whep-viewer.js';
import { mpegtsInput } from '../protocols/srt/mpegts-source.js';
import { SrtServer, type SrtPublish, type SrtVerdict } from '../protocols/srt/srt-server.js';
import { AccessPolicy, type ServerState } from './access-policy.js';
import { AuthHook, type AuthQuery, type AuthVerdict } from './auth-hook.js';
import { HttpServer, type OfferRequest, type SessionRequest, type SignalResult, type StreamCatalog } from './http-server.js';
import { metricsPage } from './metrics-page.js';
import { EngineProbe, type Readiness } from './readiness.js';
import { StreamLauncher } from './stream-launcher.js';
import { StreamRegistry } from './stream-registry.js';
import { WhipWhepHandler } from './whip-whep-handler.js';

/** The ports bound, once listening. */
export interface ServerAddress {
  httpPort: number;
  rtmpPort: number;
  /** The SRT listener's UDP port, when `srtPort` is set. */
  srtPort?: number;
  /** The admin surface's own port, when it has one. */
  adminPort?: number;
}

const stderrLogger: Logger = {
  info: () => {},
  warn: (message) => process.stderr.write(`frc serve: ${message}\n`),
};

/**
 * `frc serve`: RTMP, SRT and WHIP publishers in, upconverted HLS and WHEP out.
 * Each publish on a key becomes a `LiveStream` writing into its own
 * directory, served at `/hls/<key>/index.m3u8` (and, with `push`, published
 * onward over RTMP); `/api/streams` lists them, and `/api/ws` streams the
 * same list to WebSocket clients every second.
 *
 * This class only wires the parts together and owns them:
 * - `AccessPolicy`: who may publish and view (and `AuthHook`, when set);
 * - `StreamRegistry`: the streams, the keys published now, and the sessions
 *   by id; `StreamLauncher` starts a stream for each publish;
 * - `RtmpServer` (protocols/rtmp), `SrtServer` (protocols/srt, when `srtPort`
 *   is set) and `WhipWhepHandler` (protocols/webrtc):
 *   the publishers and viewers;
 * - `HttpServer`: the HTTP face (one listener, or two with an admin port);
 * - `EngineProbe`: the engine half of `/readyz`.
 * Closing the server closes them, each closing what it owns.
 *
 * Streams are independent: one failing or vanishing leaves the others and
 * the server running.
 */
export class Server implements StreamCatalog, AsyncDisposable {
  private readonly logger: Logger;
  private readonly limits: ServerLimits;
  private readonly policy: AccessPolicy;
  private readonly registry: StreamRegistry<LiveStream, WhepViewer>;
  private readonly launcher: StreamLauncher;
  private readonly engine: EngineProbe;
  private readonly authHook?: AuthHook;
  private readonly webrtc: WhipWhepHandler;
  private readonly rtmp: RtmpServer;
  private readonly srt?: SrtServer;
  /** RTMP and SRT streams FFmpeg reads now, each holding a pool thread (see ingest/ffmpeg-readers.ts); RTMP H.264 streams are read without one. */
  private readonly ffmpegReaders: FfmpegReaderPool;
  private readonly http: HttpServer;
  /** The admin surface's own listener, when `admin.port` is set. */
  private readonly adminHttp?: HttpServer;
  private readonly eventLoop = new EventLoopDelay();
  private bound?: ServerAddress;
  /** Set by `drain()`: new publishers and viewers are refused, live streams run on. */
  private draining = false;
  private closing = false;

  constructor(private readonly options: ServeOptions = {}) {
    this.logger = options.logger ?? stderrLogger;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.policy = new AccessPolicy(options, this.limits);
    this.registry = new StreamRegistry({ retentionMs: options.endedRetentionMs });
    this.launcher = new StreamLauncher(options, this.limits, this.registry, this.logger);
    this.engine = new EngineProbe(options, this.logger);
    if (options.authHook) this.authHook = new AuthHook({ ...options.authHook, warn: (message) => this.logger.warn(message) });
    const askHook = (query: AuthQuery) => this.askHook(query);
    this.webrtc = new WhipWhepHandler({ policy: this.policy, registry: this.registry, launcher: this.launcher, state: () => this.state, askHook, options });
    // The test pattern's paced reader holds a pool thread too, and so does each pull's (waiting on the network or the clock).
    this.ffmpegReaders = new FfmpegReaderPool(ffmpegReaderCapacity((options.testPattern ? 1 : 0) + Object.keys(options.pull ?? {}).length));
    this.rtmp = new RtmpServer({
      logger: this.logger,
      authorize: (key, secret, ip) => this.authorizeRtmp(key, secret, ip),
      isLive: (key) => this.registry.hasPublisher(key),
      maxConnectionsPerIp: this.limits.maxRtmpConnectionsPerIp,
      ...(options.rtmpHandshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.rtmpHandshakeTimeoutMs } : {}),
    });
    this.rtmp.on('publish', (publish) => this.startRtmp(publish));
    if (options.srtPort !== undefined) {
      this.srt = new SrtServer({
        logger: this.logger,
        admit: (key, secret) => this.admitSrt(key, secret),
        authorize: (key, secret, ip) => this.authorizeSrt(key, secret, ip),
        isLive: (key) => this.registry.hasPublisher(key),
      });
      this.srt.on('publish', (publish) => this.startSrt(publish));
    }
    const admin = options.admin ?? {};
    const http = {
      rateLimit: { perSecond: this.limits.requestsPerSecond, burst: this.limits.requestBurst },
      maxBodyBytes: this.limits.maxBodyBytes,
      adminToken: admin.token,
      trustedProxies: options.trustedProxies,
    };
    this.http = new HttpServer(this, this.logger, {}, { ...http, surface: admin.port === undefined ? 'all' : 'public' });
    if (admin.port !== undefined) this.adminHttp = new HttpServer(this, this.logger, {}, { ...http, surface: 'admin' });
  }

  /** RTMP streams FFmpeg may read at once: the pool's share for readers, less the test pattern's. */
  get ffmpegReaderCapacity(): number {
    return this.ffmpegReaders.capacity;
  }

  /** The server as the policy sees it now. */
  private get state(): ServerState {
    return {
      listening: this.launcher.ready,
      stopping: this.draining || this.closing,
      publishers: this.registry.publishers,
      hasPublisher: (key) => this.registry.hasPublisher(key),
    };
  }

  async listen(): Promise<ServerAddress> {
    this.launcher.open();
    // Measured before anything else runs in the process, which would count as the encoder's CPU.
    await this.launcher.presetsMeasured();
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
      const srtPort =
        this.srt && this.options.srtPort !== undefined
          ? await this.srt.listen(this.options.srtPort, host).catch(async (error: unknown) => {
              await Promise.all([this.rtmp.close(), this.adminHttp?.close()]);
              throw listenError(error, 'srtPort', this.options.srtPort!, host);
            })
          : undefined;
      this.engine.start();
      const key = this.options.testPattern;
      if (key !== undefined) {
        this.registry.publisherJoined(key);
        const kind = this.options.testPatternKind ?? 'motion';
        this.launcher.start(key, testPatternInput({ kind }), `the built-in ${TEST_PATTERN_LABELS[kind]}`, this.launcher.identity(key));
      }
      for (const [key, url] of Object.entries(this.options.pull ?? {})) this.startPull(key, url);
      this.bound = { httpPort, rtmpPort, ...(srtPort !== undefined ? { srtPort } : {}), ...(adminPort !== undefined ? { adminPort } : {}) };
      return this.bound;
    } catch (error) {
      await this.http.close();
      throw error;
    }
  }

  /** The ports bound, once listening. */
  get address(): ServerAddress | undefined {
    return this.bound;
  }

  /** Readiness for `/readyz` (see `AccessPolicy.readiness`); live streams are unaffected either way. */
  readiness(): Readiness {
    return this.policy.readiness(this.state, this.engine.readiness);
  }

  /** Resolves once the start-up engine check has settled (`readiness()` then says how it went). */
  async engineChecked(): Promise<void> {
    await this.engine.settled();
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
    const live = this.registry.list().filter((stream) => !stream.finished);
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
    this.launcher.stop();
    await this.rtmp.close();
    await this.srt?.close();
    // Each stream closes its input (a WHIP session among them) and its viewers.
    await this.registry.close();
    await Promise.all([this.http.close(), this.adminHttp?.close()]);
    this.eventLoop.close();
    this.launcher.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  hlsDir(key: string): string | undefined {
    return this.registry.get(key)?.dir;
  }

  /** HLS is kept to viewers with the key's view token, as WHEP is. */
  mayWatch(key: string, token: string | undefined): boolean {
    return this.policy.endView(key, token).ok;
  }

  streams(): LiveStreamStats[] {
    return this.registry.list().map((stream) => stream.stats());
  }

  /** The frame inspector's view of `key`: its last output frames, oldest first, on WebRTC's 90 kHz RTP clock. */
  frames(key: string): { key: string; clockRate: number; frames: FrameKind[] } | undefined {
    const stream = this.registry.get(key);
    return stream ? { key, clockRate: 90000, frames: stream.frameKinds.list() } : undefined;
  }

  metrics(): string {
    return metricsPage(
      this.registry.list().map((stream) => stream.metrics()),
      processFigures(this.eventLoop),
    );
  }

  offer(request: OfferRequest): Promise<SignalResult> {
    return this.webrtc.offer(request);
  }

  endSession(request: SessionRequest): SignalResult {
    return this.webrtc.endSession(request);
  }

  /** RTMP's publish check: the policy, then the auth hook, then the policy again on what may have changed while it thought. */
  private async authorizeRtmp(key: string, secret: string | undefined, ip: string): Promise<true | string> {
    const allowed = this.policy.publish('rtmp', key, secret, this.state);
    if (!allowed.ok) return allowed.reason;
    const verdict = await this.askHook({ action: 'publish', protocol: 'rtmp', key, token: secret, ip });
    if (!verdict.allowed) return verdict.reason;
    const still = this.policy.stillAccepting(this.state);
    if (!still.ok) return still.reason;
    const rules = this.policy.publishKey(key, this.state);
    return rules.ok ? true : rules.reason;
  }

  /** SRT's check in the handshake: the policy alone, which answers at once; a refusal's status becomes SRT's rejection code. */
  private admitSrt(key: string, secret: string | undefined): SrtVerdict {
    const allowed = this.policy.publish('srt', key, secret, this.state);
    return allowed.ok ? true : { status: allowed.status, reason: allowed.reason };
  }

  /** SRT's check once connected: the auth hook, then the policy again on what may have changed while it thought. */
  private async authorizeSrt(key: string, secret: string | undefined, ip: string): Promise<true | string> {
    const verdict = await this.askHook({ action: 'publish', protocol: 'srt', key, token: secret, ip });
    if (!verdict.allowed) return verdict.reason;
    const still = this.policy.stillAccepting(this.state);
    if (!still.ok) return still.reason;
    const rules = this.policy.publishKey(key, this.state);
    return rules.ok ? true : rules.reason;
  }

  private startSrt(publish: SrtPublish): void {
    this.registry.publisherJoined(publish.key);
    publish.on('end', () => this.registry.publisherLeft(publish.key));
    const ids = this.launcher.identity(publish.key);
    const input = mpegtsInput(publish.ts, { name: `stream '${publish.key}'`, ffmpegReaders: this.ffmpegReaders, receivedBytes: () => publish.bytesReceived });
    this.launcher.start(publish.key, input, `SRT from ${publish.remoteAddress}`, ids);
    publish.on('end', (reason) => ids.log.info(`stream '${publish.key}' publisher left: ${reason}`));
  }

  private startRtmp(publish: RtmpPublish): void {
    this.registry.publisherJoined(publish.key);
    publish.on('end', () => this.registry.publisherLeft(publish.key));
    const ids = this.launcher.identity(publish.key);
    this.launcher.start(publish.key, flvInput(publish.flv, { name: `stream '${publish.key}'`, ffmpegReaders: this.ffmpegReaders, receivedBytes: () => publish.bytesReceived }), `RTMP from ${publish.remoteAddress}`, ids);
    publish.on('end', (reason) => ids.log.info(`stream '${publish.key}' publisher left: ${reason}`));
  }

  /**
   * Pulls `url` as `key`'s publisher for as long as the server runs: it
   * reconnects by itself (see `pullInput`), and holds the key meanwhile, so
   * nobody else publishes on it. A stream that ends (a file played out) or
   * fails frees the key.
   */
  private startPull(key: string, url: string): void {
    const target = pullTarget(url);
    const ids = this.launcher.identity(key);
    this.registry.publisherJoined(key);
    const stream = this.launcher.start(key, pullInput(target, { logger: ids.log, ...(this.options.pullStallMs !== undefined ? { stallMs: this.options.pullStallMs } : {}) }), `a pull of ${target.name}`, ids);
    stream?.on('state', () => {
      if (stream.finished) this.registry.publisherLeft(key);
    });
  }

  /** The external auth hook's verdict; everyone is allowed when none is configured. */
  private async askHook(query: AuthQuery): Promise<AuthVerdict> {
    return this.authHook ? this.authHook.check(query) : { allowed: true };
  }
}

/** A listen failure as one line naming the setting: "httpPort 8080 on 127.0.0.1 is already in use". */
function listenError(error: unknown, setting: string, port: number, host: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new Error(`${setting} ${port} on ${host} is already in use`);
  if (code === 'EACCES') return new Error(`${setting} ${port} on ${host}: permission denied (ports below 1024 need privileges)`);
  if (code === 'EADDRNOTAVAIL') return new Error(`${setting}: ${host} is not an address of this machine`);
  return new Error(`${setting} ${port} on ${host}: ${errorMessage(error)}`);
}
