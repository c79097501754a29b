#!/usr/bin/env -S node --initial-old-space-size=64
import './base/polyfills.js';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { convert, type ConvertProgress, type ConvertSummary } from './convert/convert.js';
import { formatSummary } from './convert/convert-summary.js';
import { INTERPOLATOR_KINDS, type InterpolatorChoice, type InterpolatorKind, resolveModelPath } from './engine/model/model-choice.js';
import type { SemanticChoice } from './engine/semantic/semantic-stage.js';
import { parseRate, type RateTarget } from './engine/timing/slot-planner.js';
import { evaluate, formatEvalTable } from './eval/evaluate.js';
import { testPatternGraph } from './ingest/test-pattern-graphs.js';
import { captureFfmpegLog } from './base/ffmpeg-log.js';
import { Server } from './server/serve.js';
import { configDocs } from './config/config-docs.js';
import { ConfigError, configFlagOptions, loadConfig, redacted } from './config/load-config.js';
import type { Config } from './config/schema.js';
import { chooseProvider, describeProvider, PROVIDER_REQUESTS, type ProviderChoice, type ProviderRequest } from './engine/runtime/provider.js';
import { serveOptionsFrom } from './config/serve-options.js';
import { errorMessage } from './base/errors.js';

const USAGE = `frc: real-time frame-rate upconverter

usage:
  frc convert <input> <output> [--fps N | --factor K] [--interp model|blend|dup] [--model PATH]
  frc eval <dir> [--interp model|blend|dup] [--model PATH] [--rung NAME] [--json]
  frc demo [output]                 upconvert the built-in motion pattern, 640x360 (30 → 60 fps)
  frc serve [--config frc.yml] [--http-port 8080] [--rtmp-port 1935] [--srt-port N] [--host 127.0.0.1] [--token T]
            [--push URL] [--test-pattern] [--pull KEY=URL ...] [--model fast|quality|blend|dup|PATH] [--KEY VALUE ...]
                                    the live server: a page at http://host:8080/ to publish and watch;
                                    WHIP in (http://host:8080/whip/<key>) and RTMP in
                                    (rtmp://host:1935/live/<key>); 2x-rate WHEP out (/whep/<key>) and
                                    HLS out (/hls/<key>/index.m3u8); stats at /api/streams and every
                                    second over WebSocket at /api/ws; /healthz, /readyz; SIGTERM drains
  frc config [--config frc.yml] [--docs]
                                    print the effective serve configuration (secrets redacted), or
                                    with --docs every key, its default, variable and flag (Markdown)

serve: every configuration key is a flag and an FRC_... variable too: see docs/configuration.md.

options:
  --fps N          output frame rate (60, 59.94, 30000/1001); output on a fixed grid
  --factor K       K output frames per input frame (default 2); keeps variable timing
                   (serve: 1 passes frames through, for measuring transport alone)
  --deadline-ms N  per-slot time budget before blend/dup stand in (serve; default:
                   the slot's share of 1.5 input frame intervals)
  --no-deadline    always wait for the model (serve)
  --interp KIND    model (default when a model is available), blend or dup
  --model PATH     ONNX interpolator, or a shipped one by name: quality (models/)
  --semantic       the semantic stage: scene cuts found by a DINO-trained ViT are not
                   morphed across (the nearer frame repeats); with --semantic-model PATH
                   an official DINOv2 ONNX export instead of models/semantic.onnx;
                   with --flow-correction the flow head also corrects a flow model's
                   flows from the features (off by default: it does not carry beyond
                   the footage it was trained on, bench/RESULTS.md)
  --provider P     where the models run: cpu (default), auto (a working hardware GPU,
                   else the CPU), webgpu (any vendor's GPU through Vulkan), cuda or
                   tensorrt (where ONNX Runtime's libraries for them are installed);
                   one that fails to start is reported and the CPU is used
  --threads N      inference threads
  --json           machine-readable output (eval)
  --rung NAME      score a rung of the model's ladder instead of the model (eval):
                   bilinear or reuse (reuse needs prev.png beside frame0.png)
  --http-port N    HTTP port for HLS and /api/streams (serve; default 8080)
  --rtmp-port N    RTMP ingest port (serve; default 1935)
  --srt-port N     SRT ingest port, UDP: srt://host:N?streamid=publish:<key> (serve; default off)
  --host ADDR      address both listen on (serve; default 127.0.0.1)
  --stream-key KEY the only stream key allowed to publish (serve; default: any)
  --token T        WHIP publishers must send "Authorization: Bearer T" (serve)
  --test-pattern   also publish a built-in live source on the key "test" (serve): 1280x720
                   30 fps content that moves the way video does (a detailed background
                   panning, two objects moving over it, a frame counter), drawn by FFmpeg
  --test-pattern-kind K
                   motion (default, as above) or testsrc2 (FFmpeg's 480x270 test card)
  --pull KEY=URL   fetch URL as stream KEY (repeatable): rtsp://, srt:// (caller), udp://
                   (MPEG-TS), HLS over http(s)://, or a file played in real time, looped
                   with ?loop after its path; reconnects with backoff when it drops (serve)
  --push URL       also publish each upconverted stream to this RTMP server, e.g.
                   rtmp://host/app/{key} ({key} becomes the stream key); a push
                   whose server goes away reconnects with backoff, the rest goes on (serve)
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        // serve: one flag per configuration key (see src/config/schema.ts)
        ...configFlagOptions(),
        config: { type: 'string' },
        docs: { type: 'boolean' },
        fps: { type: 'string' },
        interp: { type: 'string' },
        json: { type: 'boolean' },
        rung: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined> & { fps?: string; factor?: string; interp?: string; model?: string; provider?: string; threads?: string; json?: boolean; help?: boolean; config?: string; docs?: boolean };
  const [command, ...args] = parsed.positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === 'serve' || command === 'config') {
    if (args.length) throw new UsageError(`${command} takes no positional arguments`);
    if (command === 'config' && values.docs) {
      process.stdout.write(configDocs());
      return 0;
    }
    const config = serveConfig(values);
    if (command === 'config') {
      process.stdout.write(toYaml(redacted(config)));
      return 0;
    }
    captureFfmpegLog();
    return serve(config);
  }
  captureFfmpegLog();
  const provider = await chooseProvider(providerRequest(values.provider));
  for (const warning of provider.warnings) process.stderr.write(`frc: warning: ${warning}\n`);
  if (provider.provider !== 'cpu') process.stderr.write(`frc: inference on ${describeProvider(provider)}\n`);
  const choice = { ...interpolatorChoice(values), provider: provider.provider, ...semanticChoice(values) };

  switch (command) {
    case 'convert': {
      if (args.length !== 2) throw new UsageError('convert needs <input> and <output>');
      const summary = await convert({ input: args[0]!, output: args[1]!, target: rateTarget(values), ...choice, onProgress: progressPrinter() });
      printSummary(summary, provider);
      return 0;
    }
    case 'demo': {
      const output = args[0] ?? 'out/demo-60fps.mp4';
      if (!args[0]) mkdirSync('out', { recursive: true });
      process.stderr.write(`frc demo: the motion pattern 640x360 30 fps, 6 s, with a tone → ${output}\n`);
      // The pattern `serve` shows by default (a pan, a card circling, a disc in front), smaller so it converts in seconds.
      const pattern = testPatternGraph('motion', { width: 640, height: 360, fps: 30 });
      const summary = await convert({
        input: `${pattern},trim=duration=6[out0];sine=frequency=440:duration=6[out1]`,
        inputFormat: 'lavfi',
        output,
        target: { factor: 2 },
        ...choice,
        onProgress: progressPrinter(),
      });
      printSummary(summary, provider);
      return 0;
    }
    case 'eval': {
      if (args.length !== 1) throw new UsageError('eval needs <dir>');
      const report = await evaluate(args[0]!, { ...choice, ...(typeof values.rung === 'string' ? { rung: values.rung } : {}) });
      process.stdout.write(values.json ? JSON.stringify(report) + '\n' : formatEvalTable(report));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * The serve configuration: `--config`, else $FRC_CONFIG, else ./frc.yml if
 * present; then FRC_… variables; then flags. `--interp` is the older
 * spelling of `--model blend|dup`.
 */
function serveConfig(values: Record<string, string | boolean | string[] | undefined>): Config {
  const path = (values.config as string | undefined) ?? process.env.FRC_CONFIG ?? (existsSync('frc.yml') ? 'frc.yml' : undefined);
  let file: { path: string; text: string } | undefined;
  if (path !== undefined) {
    try {
      file = { path, text: readFileSync(path, 'utf8') };
    } catch (error) {
      throw new ConfigError(`cannot read the config file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  const flags = { ...values };
  if (typeof values.interp === 'string') {
    if (!INTERPOLATOR_KINDS.includes(values.interp as InterpolatorKind)) throw new UsageError(`--interp must be one of ${INTERPOLATOR_KINDS.join(', ')}, got "${values.interp}"`);
    if (values.interp !== 'model') {
      if (values.model !== undefined) throw new UsageError('--model only applies to --interp model');
      flags.model = values.interp;
    }
  }
  return loadConfig({ file, env: process.env, flags });
}

/** Runs the live server until SIGINT or SIGTERM, then drains it and shuts it down cleanly. */
async function serve(config: Config): Promise<number> {
  const log = pino({ name: 'frc', level: config.logLevel }, pino.destination(2));
  const provider = await chooseProvider(config.provider);
  for (const warning of provider.warnings) log.warn(warning);
  log.info(`inference on ${describeProvider(provider)}`);
  const options = serveOptionsFrom(config, provider.provider);
  const server = new Server({ ...options, logger: log });
  log.info({ config: redacted(config) }, 'configuration');
  const { httpPort, rtmpPort, srtPort } = await server.listen();
  // The one line a person needs, on stdout; the JSON logs go to stderr.
  const page = `http://${options.host}:${httpPort}/` + (options.testPattern ? `?key=${options.testPattern}` : '');
  process.stdout.write(`frc serve: open ${page} to publish and watch` + (options.testPattern ? ` (the ${options.testPatternKind ?? 'motion'} test pattern is live on key "${options.testPattern}")` : '') + '\n');
  log.info(`WHIP ingest at http://${options.host}:${httpPort}/whip/<key>; RTMP ingest at rtmp://${options.host}:${rtmpPort}/live/<key>; ${srtPort !== undefined ? `SRT ingest at srt://${options.host}:${srtPort}?streamid=publish:<key>; ` : ''}WHEP at /whep/<key>; HLS at http://${options.host}:${httpPort}/hls/<key>/index.m3u8; stats at /api/streams and ws://${options.host}:${httpPort}/api/ws` + (options.push ? '; pushing each stream onward over RTMP' : ''));
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  // A second signal cuts the drain short: the operator means it.
  const again = () => {
    log.info('second signal: closing now');
    void server.close();
  };
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
  log.info(`${signal}: draining for up to ${options.drainSeconds} s, then shutting down`);
  const { closedStreams } = await server.drain(options.drainSeconds * 1000);
  log.info(`shut down${closedStreams ? ` (${closedStreams} stream(s) closed at the end of the drain)` : ''}`);
  return 0;
}

function providerRequest(value: string | undefined): ProviderRequest {
  if (value !== undefined && !PROVIDER_REQUESTS.includes(value as ProviderRequest)) throw new UsageError(`--provider must be one of ${PROVIDER_REQUESTS.join(', ')}, got "${value}"`);
  return (value as ProviderRequest | undefined) ?? 'cpu';
}

function interpolatorChoice(values: { interp?: string; model?: string; threads?: string }): InterpolatorChoice {
  if (values.interp && !INTERPOLATOR_KINDS.includes(values.interp as InterpolatorKind)) {
    throw new UsageError(`--interp must be one of ${INTERPOLATOR_KINDS.join(', ')}, got "${values.interp}"`);
  }
  if (values.model && values.interp && values.interp !== 'model') throw new UsageError(`--model only applies to --interp model`);
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) throw new UsageError(`--threads must be a positive integer`);
  return {
    kind: (values.interp as InterpolatorKind | undefined) ?? (values.model ? 'model' : undefined),
    modelPath: values.model,
    threads,
  };
}

/** `--semantic [--semantic-model PATH] [--scene-cut-threshold X]` for convert and demo. */
function semanticChoice(values: Record<string, string | boolean | string[] | undefined>): SemanticChoice {
  const model = values['semantic-model'];
  const threshold = values['scene-cut-threshold'];
  if (values['flow-correction'] === true && values.semantic !== true) throw new UsageError('--flow-correction needs --semantic (the flow head reads its features)');
  if ((model !== undefined || threshold !== undefined) && values.semantic !== true) throw new UsageError('--semantic-model and --scene-cut-threshold need --semantic');
  const sceneCutThreshold = typeof threshold === 'string' ? Number(threshold) : undefined;
  if (sceneCutThreshold !== undefined && !(sceneCutThreshold > 0 && sceneCutThreshold <= 1)) throw new UsageError('--scene-cut-threshold must be a number in (0, 1]');
  return {
    semantic: values.semantic === true,
    flowCorrection: values['flow-correction'] === true && values['no-flow-correction'] !== true,
    ...(typeof model === 'string' ? { semanticModel: resolveModelPath(model) } : {}),
    ...(sceneCutThreshold !== undefined ? { sceneCutThreshold } : {}),
  };
}

function rateTarget(values: { fps?: string; factor?: string }): RateTarget {
  if (values.fps && values.factor) throw new UsageError('use either --fps or --factor, not both');
  try {
    if (values.fps) return { fps: parseRate(values.fps) };
    const factor = values.factor === undefined ? 2 : Number(values.factor);
    if (!Number.isInteger(factor) || factor < 1) throw new Error(`--factor must be a whole number ≥ 1, got "${values.factor}"`);
    return { factor };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A single self-overwriting status line, only when stderr is a terminal. */
function progressPrinter(): ((p: ConvertProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return ({ stats, expectedFrames, elapsedSeconds }) => {
    const now = performance.now();
    if (now - last < 250) return;
    last = now;
    const fps = stats.framesOut / Math.max(elapsedSeconds, 1e-3);
    let line = `frames in ${stats.framesIn}${expectedFrames ? `/${expectedFrames}` : ''}, out ${stats.framesOut}, ${fps.toFixed(1)} fps`;
    if (expectedFrames && stats.framesIn > 0) {
      const eta = (elapsedSeconds / stats.framesIn) * (expectedFrames - stats.framesIn);
      line += `, ETA ${Math.max(0, eta).toFixed(0)} s`;
    }
    process.stderr.write(`\r${line}\x1b[K`);
  };
}

function printSummary(s: ConvertSummary, provider: ProviderChoice): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  process.stdout.write(`${formatSummary(s)}; inference on ${describeProvider(provider)}\n`);
  for (const warning of s.warnings) process.stderr.write(`frc: warning: ${warning}\n`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    const message = errorMessage(err);
    process.stderr.write(`frc: error: ${message.split('\n')[0]}\n`);
    if (err instanceof UsageError) process.stderr.write(`run "frc --help" for usage\n`);
    if (process.env.FRC_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(err instanceof UsageError || err instanceof ConfigError ? 2 : 1);
  },
);
