import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { pullTarget } from '../ingest/pull-target.js';
import type { ExecutionProvider } from '../engine/runtime/provider.js';
import { type InterpolatorChoice, resolveModelPath } from '../engine/model/model-choice.js';
import type { SemanticChoice } from '../engine/semantic/semantic-stage.js';
import type { Logger } from '../base/logger.js';
import type { LiveStreamOptions } from '../live/live-stream.js';
import type { EncoderPresetSetting } from '../egress/x264-presets.js';
import type { TestPatternKind } from '../ingest/test-pattern-graphs.js';
import { ConfigError } from './load-config.js';
import type { Config, StreamSettings } from './schema.js';


export interface ServeOptions extends InterpolatorChoice, SemanticChoice {
  /** HTTP port for HLS and the stats API (default 8080; 0 picks a free one). */
  httpPort?: number;
  /** RTMP ingest port (default 1935; 0 picks a free one). */
  rtmpPort?: number;
  /** SRT ingest port, UDP (off when undefined; 0 picks a free one). */
  srtPort?: number;
  /** Address both listen on (default 127.0.0.1). */
  host?: string;
  /** When set, only this key may publish. */
  streamKey?: string;
  /**
   * When set, publishers must present it: WHIP as `Authorization: Bearer
   * <token>`, RTMP as `rtmp://host/live/<key>?key=<token>`. `streams.<key>.token` overrides it per key.
   */
  token?: string;
  /** When set, WHEP viewers must send `Authorization: Bearer <viewToken>` (`streams.<key>.viewToken` overrides it). */
  viewToken?: string;
  /**
   * This instance's own absolute URL: session `Location`s start with it, so
   * that behind a load balancer the DELETE goes to the pod holding the session.
   */
  publicUrl?: string;
  /** Per-stream-key settings: each overrides the server-wide one for that key. */
  streams?: Record<string, StreamSettings>;
  /** Whether keys not listed in `streams` may publish (default true). */
  openPublishing?: boolean;
  limits?: Partial<ServerLimits>;
  /**
   * An external auth service: every publish and view is POSTed to `url`
   * (after the token checks, which still apply) and let in only on a 2xx
   * answer; see `AuthHook`.
   */
  authHook?: { url: string; timeoutMs?: number };
  /** The admin surface (`/api/…`, `/metrics`): a token, and optionally its own port and address. */
  admin?: { token?: string; port?: number; host?: string };
  /**
   * Addresses offered to WebRTC peers as ICE host candidates besides the
   * machine's interfaces (default: 127.0.0.1, which werift's interface scan skips).
   */
  iceHosts?: string[];
  /** A WHIP publisher that sends no video for this long has vanished: its stream ends (default 5 s). */
  whipIdleTimeoutMs?: number;
  /**
   * A publish whose first video frame has not been decoded this long after it
   * began (not counting the engine's loading) fails, and its publisher is
   * dropped (default 15 s): a publisher sending no video held its slot for good.
   */
  startTimeoutMs?: number;
  /**
   * Reverse proxies (IP addresses) whose `X-Forwarded-For` names the client,
   * for the rate limit and the auth hook's `ip`; from any other peer the header is ignored.
   */
  trustedProxies?: string[];
  /** An RTMP connection with no publish accepted this long after connecting is dropped (default 10 s). */
  rtmpHandshakeTimeoutMs?: number;
  /** A WHEP viewer not connected (ICE and DTLS) this long after its offer is closed, freeing its slot (default 15 s). */
  whepConnectTimeoutMs?: number;
  /** Publish a built-in test pattern (30 fps) on this key while the server runs, so there is always something to watch. */
  testPattern?: string;
  /** Which test pattern (default `motion`: 720p that moves the way video does; `testsrc2`: FFmpeg's small test card). */
  testPatternKind?: TestPatternKind;
  /**
   * Sources the server fetches itself, by stream key: any FFmpeg input
   * (`rtsp://`, `srt://`, `udp://`, HLS over `http(s)://`, a file played in
   * real time, looped with `?loop`). Each reconnects with backoff when it drops.
   */
  pull?: Record<string, string>;
  /** A pulled network source that sends nothing this long has dropped and is reconnected (default 5 s). */
  pullStallMs?: number;
  /** Output frames per input frame (default 2; 1 passes the input through, for measuring transport alone). */
  factor?: number;
  /** Per-slot deadlines with fast/blend/dup fallbacks (default on; see `LiveStreamOptions.deadline`). */
  deadline?: boolean;
  /** The time the slots of one input frame interval may take, ms (default: one and a half input frame intervals). */
  deadlineMs?: number;
  /** libx264 preset of every stream's output, or `auto` (the default): chosen per stream from the machine's idle cores (encoder-sizing.ts). */
  encoderPreset?: EncoderPresetSetting;
  /** Cap of every stream's output video bitrate, kbit/s (default: 0.1 bit per pixel and frame; 0: none). */
  videoBitrateKbps?: number;
  /** How long an ended stream stays listed and its HLS served, so players can finish (default 30 s). */
  endedRetentionMs?: number;
  /**
   * Also publish each stream's output to this RTMP URL; `{key}` in it becomes
   * the stream key. A push that fails ends alone: the stream and its HLS go on.
   */
  push?: string;
  /** Record every stream's output (`streams.<key>.record` per key) into `recordDir`, one MPEG-TS file per publish. */
  record?: boolean;
  /** Where recordings go (default `recordings`, created at start); they outlive their streams and the server. */
  recordDir?: string;
  /** Where per-stream HLS directories go (default: a new directory under the system temp dir). */
  hlsRoot?: string;
  /** Where the server logs; with pino, each stream's lines carry `stream` (its key) and `streamId`. */
  logger?: Logger;
  /** Wraps each stream's synthesizer (see LiveStreamOptions.wrapSynthesizer; the reliability tests inject faults). */
  wrapSynthesizer?: LiveStreamOptions['wrapSynthesizer'];
}

export interface ServerLimits {
  /** Streams with a publisher at once (default 16). */
  maxStreams: number;
  /** WHEP viewers per stream (default 100). */
  maxViewersPerStream: number;
  /** Largest video a publisher may send (default 3840x2160). */
  maxWidth: number;
  maxHeight: number;
  /** Largest media bitrate a publisher may send, kbit/s over 5 s (default 50 000). */
  maxBitrateKbps: number;
  /** Largest WHIP/WHEP request body (default 64 KiB). */
  maxBodyBytes: number;
  /** HTTP requests per second per client IP, and the burst allowed (default 50, 100; health checks exempt). */
  requestsPerSecond: number;
  requestBurst: number;
  /** Open RTMP connections per client IP, before authentication (default 16). */
  maxRtmpConnectionsPerIp: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxStreams: 16,
  maxViewersPerStream: 100,
  maxWidth: 3840,
  maxHeight: 2160,
  maxBitrateKbps: 50_000,
  maxBodyBytes: 64 * 1024,
  requestsPerSecond: 50,
  requestBurst: 100,
  maxRtmpConnectionsPerIp: 16,
};

/** The interpolator a `model` setting names: `blend`/`dup` need no model; `fast` is the default (blend when it is not installed). */
export function interpolatorFor(model: string): Pick<InterpolatorChoice, 'kind' | 'modelPath'> {
  if (model === 'blend' || model === 'dup') return { kind: model };
  // Explicitly unset, so a stream's `fast` overrides a server-wide `blend`.
  if (model === 'fast') return { kind: undefined, modelPath: undefined };
  return { kind: 'model', modelPath: model };
}

/**
 * One stream key's settings as its stream runs them: its `streams` entry
 * over the server-wide options, and over the server's limits for what a
 * publisher may send.
 */
export function streamSettingsFor(options: ServeOptions, limits: ServerLimits, key: string) {
  const settings: StreamSettings = options.streams?.[key] ?? {};
  return {
    ...(settings.model !== undefined ? interpolatorFor(settings.model) : {}),
    factor: settings.factor ?? options.factor,
    maxWidth: settings.maxWidth ?? limits.maxWidth,
    maxHeight: settings.maxHeight ?? limits.maxHeight,
    maxBitrateKbps: settings.maxBitrateKbps ?? limits.maxBitrateKbps,
    semantic: settings.semantic ?? options.semantic,
    encoderPreset: settings.encoderPreset ?? options.encoderPreset ?? 'auto',
    record: settings.record ?? options.record ?? false,
  };
}

/** Whether any stream may be recorded: then `recordDir` must be writable at start. */
export function recordsAny(options: ServeOptions): boolean {
  return options.record === true || Object.values(options.streams ?? {}).some((s) => s.record);
}

/** `trustedProxies` as addresses; anything else is a config error (a name would never match a peer). */
function proxyAddresses(list: string): string[] {
  const addresses = list.split(',').map((address) => address.trim()).filter(Boolean);
  const wrong = addresses.filter((address) => isIP(address) === 0);
  if (wrong.length > 0) throw new ConfigError(`trustedProxies must be IP addresses, got "${wrong.join('", "')}"`);
  return addresses;
}

/**
 * The live server's options from a loaded config (the one place config
 * names meet the server's), with `provider` the one `chooseProvider` picked
 * for `config.provider`.
 */
export function serveOptionsFrom(config: Config, provider: ExecutionProvider = 'cpu'): ServeOptions & { host: string; drainSeconds: number } {
  if (config.push !== undefined && !/^rtmps?:\/\/[^/\s]+\/\S+$/.test(config.push)) {
    throw new ConfigError(`push must be an RTMP URL like rtmp://host/app/{key}, got "${config.push}"`);
  }
  if (config.authHook.url !== undefined && !/^https?:\/\/\S+$/.test(config.authHook.url)) {
    throw new ConfigError(`authHook.url must be an http:// or https:// URL, got "${config.authHook.url}"`);
  }
  const streams: Record<string, StreamSettings> = config.streams;
  for (const [key, url] of Object.entries(config.pull ?? {})) {
    const target = pullTarget(url);
    if (target.file && !target.url.startsWith('file:') && !existsSync(target.url)) throw new ConfigError(`pull.${key}: no such file: ${target.url}`);
    if (config.testPattern && key === 'test') throw new ConfigError('pull.test: the key "test" is the test pattern\'s');
  }
  return {
    ...interpolatorFor(config.model),
    provider,
    threads: config.threads,
    host: config.host,
    httpPort: config.httpPort,
    rtmpPort: config.rtmpPort,
    srtPort: config.srtPort,
    factor: config.factor,
    deadline: config.deadline,
    deadlineMs: config.deadlineMs,
    encoderPreset: config.encoderPreset,
    videoBitrateKbps: config.videoBitrateKbps,
    token: config.token,
    viewToken: config.viewToken,
    streamKey: config.streamKey,
    openPublishing: config.openPublishing,
    streams,
    push: config.push,
    semantic: config.semantic,
    flowCorrection: config.flowCorrection,
    semanticModel: resolveModelPath(config.semanticModel),
    ...(config.sceneCutThreshold !== undefined ? { sceneCutThreshold: config.sceneCutThreshold } : {}),
    record: config.record,
    recordDir: config.recordDir,
    publicUrl: config.publicUrl,
    ...(config.trustedProxies !== undefined ? { trustedProxies: proxyAddresses(config.trustedProxies) } : {}),
    testPattern: config.testPattern ? 'test' : undefined,
    testPatternKind: config.testPatternKind,
    ...(config.pull !== undefined ? { pull: config.pull } : {}),
    pullStallMs: config.pullTimeoutSeconds * 1000,
    endedRetentionMs: config.endedRetentionSeconds * 1000,
    drainSeconds: config.drainSeconds,
    admin: { ...config.admin },
    ...(config.authHook.url !== undefined ? { authHook: { url: config.authHook.url, timeoutMs: config.authHook.timeoutMs } } : {}),
    limits: { ...config.limits },
  };
}
