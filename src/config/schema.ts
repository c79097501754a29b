/**
 * Every setting of `frc serve`, in one place: its type, default and meaning.
 * The YAML loader, the `FRC_…` environment variables, the command-line
 * flags and docs/configuration.md are all derived from this object, so a
 * key cannot exist in one and be missing from another.
 *
 * Naming: YAML keys are camelCase (`limits.maxStreams`); the environment
 * variable is the path in upper snake case (`FRC_LIMITS_MAX_STREAMS`); the
 * flag is the key's own name in kebab case (`--max-streams`), unless `flag`
 * says otherwise (every flag must be unique; `schema.test.ts` checks).
 */

import { PROVIDER_REQUESTS, type ProviderRequest } from '../engine/runtime/provider.js';
import { ENCODER_PRESET_SETTINGS, type EncoderPresetSetting } from '../egress/x264-presets.js';
import { TEST_PATTERN_KINDS, type TestPatternKind } from '../ingest/test-pattern-graphs.js';

export type FieldType =
  | { name: 'string' }
  | { name: 'integer'; min?: number; max?: number }
  | { name: 'number'; min?: number }
  | { name: 'boolean' }
  | { name: 'port' }
  | { name: 'enum'; values: readonly string[] }
  /** Stream keys to URLs: a mapping in YAML, `key=url` as a flag (repeatable) or in the environment (space-separated pairs). */
  | { name: 'urls' };

export interface Field<T> {
  readonly kind: 'field';
  readonly type: FieldType;
  readonly default: T;
  readonly doc: string;
  /** Never printed or logged (tokens, keys). */
  readonly secret?: boolean;
  /** The command-line flag, when not the key's name in kebab case. */
  readonly flag?: string;
  /** @internal Carries T for the type of the loaded config. */
  readonly _type?: T;
}

export interface Section<S extends Shape> {
  readonly kind: 'section';
  readonly doc: string;
  readonly fields: S;
}

/** A map from names the operator chooses (stream keys) to entries of one shape; every entry field is optional. */
export interface MapOf<S extends Shape> {
  readonly kind: 'map';
  readonly doc: string;
  /** Names the map accepts. */
  readonly keyPattern: RegExp;
  readonly entry: S;
}

export type Node = Field<unknown> | Section<Shape> | MapOf<Shape>;
export type Shape = { readonly [key: string]: Node };

/** The loaded config's type, from the schema's. */
export type ConfigOf<S extends Shape> = {
  -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : S[K] extends Section<infer Inner> ? ConfigOf<Inner> : S[K] extends MapOf<infer E> ? Record<string, Partial<ConfigOf<E>>> : never;
};

const field = <T>(type: FieldType, defaultValue: T, doc: string, extra: { secret?: boolean; flag?: string } = {}): Field<T> => ({ kind: 'field', type, default: defaultValue, doc, ...extra });
const string = (doc: string, extra?: { secret?: boolean; flag?: string }) => field<string | undefined>({ name: 'string' }, undefined, doc, extra);
const section = <S extends Shape>(doc: string, fields: S): Section<S> => ({ kind: 'section', doc, fields });

/** What a `model` setting may name besides a path: the two shipped models and the two model-free synthesizers. */
export const MODEL_NAMES = ['fast', 'quality', 'blend', 'dup'] as const;

/** The per-stream settings (under `streams.<key>`): each overrides the server-wide one. */
const streamEntry = {
  factor: field<number | undefined>({ name: 'integer', min: 1, max: 16 }, undefined, 'Output frames per input frame for this stream.'),
  model: string('Interpolator for this stream: `fast`, `quality` (shipped models), `blend`, `dup`, or a path to an ONNX model.'),
  maxWidth: field<number | undefined>({ name: 'integer', min: 16 }, undefined, 'Largest video width this stream may publish.'),
  maxHeight: field<number | undefined>({ name: 'integer', min: 16 }, undefined, 'Largest video height this stream may publish.'),
  maxBitrateKbps: field<number | undefined>({ name: 'integer', min: 1 }, undefined, 'Largest media bitrate (kbit/s, 5 s average) this stream may publish.'),
  record: field<boolean | undefined>({ name: 'boolean' }, undefined, "Record this stream's output into `recordDir`."),
  semantic: field<boolean | undefined>({ name: 'boolean' }, undefined, 'Run the semantic stage (scene cuts) for this stream.'),
  encoderPreset: field<EncoderPresetSetting | undefined>({ name: 'enum', values: ENCODER_PRESET_SETTINGS }, undefined, "libx264 preset of this stream's output, or `auto`."),
  token: string('Publish secret for this key: WHIP `Authorization: Bearer <token>`, RTMP `rtmp://host/live/<key>?key=<token>`, SRT `streamid=publish:<key>?key=<token>`.', { secret: true }),
  viewToken: string('Bearer token WHEP viewers of this key must send.', { secret: true }),
} satisfies Shape;

export const SCHEMA = {
  host: field<string>({ name: 'string' }, '127.0.0.1', 'Address the HTTP, RTMP and SRT listeners bind (`0.0.0.0` for every interface, as in a container).'),
  httpPort: field<number>({ name: 'port' }, 8080, 'HTTP port: the page, WHIP/WHEP, HLS, health checks (and the admin API unless `admin.port` is set). 0 picks a free one.'),
  rtmpPort: field<number>({ name: 'port' }, 1935, 'RTMP ingest port (`rtmp://host:port/live/<key>`). 0 picks a free one.'),
  srtPort: field<number | undefined>({ name: 'port' }, undefined, 'SRT ingest port, UDP (`srt://host:port?streamid=publish:<key>`, OBS\'s SRT output); off unless set. 0 picks a free one.'),
  model: field<string>({ name: 'string' }, 'fast', 'Interpolator: `fast`, `quality` (shipped models), `blend`, `dup`, or a path to an ONNX model. A missing shipped model falls back to `blend`.'),
  provider: field<ProviderRequest>(
    { name: 'enum', values: PROVIDER_REQUESTS },
    'cpu',
    'ONNX Runtime execution provider. `auto` takes a working hardware GPU (CUDA where installed, else WebGPU on a Vulkan GPU of any vendor), else the CPU; it never takes a software adapter. `webgpu` may run on one (SwiftShader: correct but slow). A provider that fails to start is logged and the CPU is used.',
  ),
  threads: field<number | undefined>({ name: 'integer', min: 1 }, undefined, 'Inference threads per stream (default: ONNX Runtime decides).'),
  factor: field<number>({ name: 'integer', min: 1, max: 16 }, 2, 'Output frames per input frame (1 passes frames through, for measuring transport alone).'),
  semantic: field<boolean>({ name: 'boolean' }, false, 'The semantic stage: a DINO-trained vision transformer looks at every input frame, and at a scene cut the engine repeats the nearer frame instead of morphing one scene into the other. It runs beside the interpolator on one core.'),
  semanticModel: field<string>({ name: 'string' }, 'semantic', 'The semantic encoder: `semantic` (shipped, `models/semantic.onnx`) or a path to an ONNX model with input `pixel_values` and output `last_hidden_state` (an official DINOv2 export).'),
  flowCorrection: field<boolean>({ name: 'boolean' }, false, "Where the semantic stage runs and the interpolator is a flow model, correct its flows with the flow head trained behind that model (`models/flow-head.onnx`, `flow-head-fast.onnx`) from both frames' patch features. Off by default since the fourteenth session: behind the Lucas-Kanade models it gains +0.7 dB on footage validation but loses on the eval sets (quality: Middlebury −0.63, DAVIS −0.25, UCF101 +0.10 dB; bench/RESULTS.md)."),
  sceneCutThreshold: field<number | undefined>({ name: 'number', min: 0.001 }, undefined, "Cosine similarity of consecutive frames' pooled features below which they are different scenes (default: the model card's, else 0.5)."),
  deadline: field<boolean>({ name: 'boolean' }, true, 'Per-slot deadlines: a slot the model cannot finish in time is rendered by a cheaper one instead: a cheaper rung of the same model (`fast/2-parts`, `fast/reuse`), `fast` behind a slower model, then blend, then dup (`--no-deadline` waits for the model).'),
  deadlineMs: field<number | undefined>({ name: 'number', min: 0.001 }, undefined, 'Time the slots of one input frame interval may take from its closing frame\'s arrival, ms (default: one and a half input frame intervals, 50 ms at 30 fps; one interval is the least that keeps up, and gives the least delay).'),
  encoderPreset: field<EncoderPresetSetting>(
    { name: 'enum', values: ENCODER_PRESET_SETTINGS },
    'auto',
    "libx264 preset of the live output. `auto` chooses per stream as its first frame arrives: the slowest of `ultrafast`, `superfast` and `veryfast` whose encode, as measured on this machine at start, takes at most a third of the cores idle then (the model needs the rest); `/api/streams` shows the choice and why. A preset name fixes it.",
  ),
  videoBitrateKbps: field<number | undefined>({ name: 'integer', min: 0 }, undefined, 'Cap of the live output\'s video bitrate, kbit/s (x264 VBV over crf 23; 0: no cap). Default: 0.1 bit per pixel and frame, e.g. 5530 at 720p60, 2460 at 480p60.'),
  token: string('Publish secret for every key without its own (`streams.<key>.token`).', { secret: true }),
  viewToken: string('Bearer token WHEP viewers must send, for every key without its own.', { secret: true }),
  streamKey: string('When set, the only stream key that may publish.'),
  openPublishing: field<boolean>({ name: 'boolean' }, true, 'Whether keys not listed under `streams` may publish (`false`: only listed keys).'),
  publicUrl: string('Absolute URL of this instance (e.g. `https://frc-7f9c.example.com`) for the `Location` of WHIP/WHEP sessions, so a later DELETE reaches the pod that owns the session. Unset: relative paths.'),
  trustedProxies: string("Reverse proxies or load balancers in front of the server, as comma-separated IP addresses (e.g. `10.0.0.2,10.0.0.3`): for requests from them the client is the rightmost address in `X-Forwarded-For` that is not one of them, for the per-IP rate limit and the auth hook's `ip`. From any other address the header is ignored. Unset: every request is its socket's peer."),
  push: string('Also publish every stream onward to this RTMP URL; `{key}` becomes the stream key (e.g. `rtmp://cdn/app/{key}`). A push whose server refuses or goes away reconnects with backoff (1 s doubling to 30 s), resuming at the next keyframe; `/api/streams` shows its `push` state.'),
  record: field<boolean>({ name: 'boolean' }, false, "Record every stream's output (upconverted video and its audio) into `recordDir`, one MPEG-TS file per publish (`streams.<key>.record` per key)."),
  recordDir: field<string>({ name: 'string' }, 'recordings', 'Where recordings go, as `<key>-<UTC time>-<stream id>.ts`; created at start if missing. Recordings are kept: deleting them is up to the operator.'),
  pull: field<Record<string, string> | undefined>(
    { name: 'urls' },
    undefined,
    'Sources the server fetches itself, by stream key: any FFmpeg input, e.g. `rtsp://cam/stream`, `srt://host:port` (as caller), `udp://127.0.0.1:5000` (MPEG-TS), HLS over `http(s)://`, or a file played in real time (`?loop` after its path plays it forever). Each reconnects with backoff (1 s doubling to 30 s) when it drops or cannot be reached; `/api/streams` shows its `pull` state. The key\'s `streams.<key>` settings apply. `--pull cam=rtsp://…`, repeatable; `FRC_PULL="cam=rtsp://… clip=/videos/a.mp4?loop"`.',
  ),
  pullTimeoutSeconds: field<number>({ name: 'number', min: 0.1 }, 5, 'How long a pulled network source may send nothing (or take to answer) before it counts as dropped and is reconnected.'),
  testPattern: field<boolean>({ name: 'boolean' }, false, 'Publish a built-in test pattern at 30 fps on the key `test` (`testPatternKind` says which).'),
  testPatternKind: field<TestPatternKind>(
    { name: 'enum', values: TEST_PATTERN_KINDS },
    'motion',
    "What `testPattern` publishes: `motion`, 1280x720 content that moves the way video does (a detailed background panning, two objects moving over it and each other, a frame counter), drawn by FFmpeg's filters for 1 to 2 ms of CPU per frame; or `testsrc2`, FFmpeg's 480x270 test card.",
  ),
  drainSeconds: field<number>({ name: 'number', min: 0 }, 30, 'On SIGTERM: how long live streams may run on (new ones are refused) before they are closed and the process exits.'),
  endedRetentionSeconds: field<number>({ name: 'number', min: 0 }, 30, 'How long an ended stream stays listed and its HLS served, so players can finish.'),
  logLevel: field<'debug' | 'info' | 'warn' | 'error'>({ name: 'enum', values: ['debug', 'info', 'warn', 'error'] }, 'info', 'Lowest level written to the JSON log on stderr.'),
  admin: section('The admin surface: `/api/streams`, `/api/ws` and `/metrics`.', {
    token: string('Bearer token the admin surface requires (unset: open to whoever can reach it).', { secret: true, flag: 'admin-token' }),
    port: field<number | undefined>({ name: 'port' }, undefined, 'Serve the admin surface on this port instead, and not on `httpPort`.', { flag: 'admin-port' }),
    host: string('Address the admin port binds (default: `host`), e.g. `127.0.0.1` to keep it off the network.', { flag: 'admin-host' }),
  }),
  authHook: section('An external authentication service, asked about every publish and view (as MediaMTX does); the token checks still apply first.', {
    url: string('URL the server POSTs `{action, protocol, key, token, ip, variant}` to (JSON); a 2xx answer lets the client in, any other refuses it (403), and no answer in time or a 5xx refuses it too (503).', { flag: 'auth-hook-url' }),
    timeoutMs: field<number>({ name: 'integer', min: 1 }, 2000, 'How long the hook may take to answer, ms.', { flag: 'auth-hook-timeout-ms' }),
  }),
  limits: section('Limits that keep one client from exhausting the server.', {
    maxStreams: field<number>({ name: 'integer', min: 1 }, 16, 'Streams live at once; a publisher beyond is refused (WHIP 503, RTMP BadName) and `/readyz` reports full. RTMP streams in codecs other than H.264 also hold a thread of libuv\'s pool each (FFmpeg reads them), so at most `UV_THREADPOOL_SIZE` − 1 of those run at once (4 − 1 unless the process was started with it set; `npm start` and the container image set 20).'),
    maxViewersPerStream: field<number>({ name: 'integer', min: 1 }, 100, 'WHEP viewers per stream; one beyond gets 503.'),
    maxWidth: field<number>({ name: 'integer', min: 16 }, 3840, 'Largest video width a publisher may send; larger ends the stream with the reason.'),
    maxHeight: field<number>({ name: 'integer', min: 16 }, 2160, 'Largest video height a publisher may send.'),
    maxBitrateKbps: field<number>({ name: 'integer', min: 1 }, 50_000, 'Largest media bitrate a publisher may send (video plus audio, kbit/s, averaged over 5 s); over it the stream ends with the reason.'),
    maxBodyBytes: field<number>({ name: 'integer', min: 1024 }, 65536, 'Largest WHIP/WHEP request body (an SDP offer); larger gets 413.'),
    requestsPerSecond: field<number>({ name: 'number', min: 0.001 }, 50, 'HTTP requests per second per client IP, sustained; beyond gets 429 with Retry-After.'),
    requestBurst: field<number>({ name: 'integer', min: 1 }, 100, 'HTTP requests a client IP may make at once before `requestsPerSecond` applies.'),
    maxRtmpConnectionsPerIp: field<number>({ name: 'integer', min: 1 }, 16, 'Open RTMP connections per client IP, counted before any authentication; one beyond is closed at once (logged at most every 10 s per IP). Publishers behind one NAT share it.'),
  }),
  streams: {
    kind: 'map',
    doc: 'Per-stream-key settings, e.g. `streams: { cam: { token: s3cret, model: quality, factor: 2 } }`; each overrides the server-wide value.',
    keyPattern: /^[A-Za-z0-9_-]{1,64}$/,
    entry: streamEntry,
  } satisfies MapOf<typeof streamEntry>,
} satisfies Shape;

export type Config = ConfigOf<typeof SCHEMA>;
export type StreamSettings = Partial<ConfigOf<typeof streamEntry>>;
