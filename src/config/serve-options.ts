import { type InterpolatorChoice, resolveModelPath } from '../engine/create-interpolator.js';
import type { ServeOptions } from '../serve.js';
import { ConfigError } from './load-config.js';
import type { Config, StreamSettings } from './schema.js';

/** The interpolator a `model` setting names: `blend`/`dup` need no model; `fast` is the default (blend when it is not installed). */
export function interpolatorFor(model: string): Pick<InterpolatorChoice, 'kind' | 'modelPath'> {
  if (model === 'blend' || model === 'dup') return { kind: model };
  // Explicitly unset, so a stream's `fast` overrides a server-wide `blend`.
  if (model === 'fast') return { kind: undefined, modelPath: undefined };
  return { kind: 'model', modelPath: model };
}

/** The live server's options from a loaded config (the one place config names meet the server's). */
export function serveOptionsFrom(config: Config): ServeOptions & { host: string; drainSeconds: number } {
  if (config.push !== undefined && !/^rtmps?:\/\/[^/\s]+\/\S+$/.test(config.push)) {
    throw new ConfigError(`push must be an RTMP URL like rtmp://host/app/{key}, got "${config.push}"`);
  }
  if (config.authHook.url !== undefined && !/^https?:\/\/\S+$/.test(config.authHook.url)) {
    throw new ConfigError(`authHook.url must be an http:// or https:// URL, got "${config.authHook.url}"`);
  }
  const streams: Record<string, StreamSettings> = config.streams;
  return {
    ...interpolatorFor(config.model),
    provider: config.provider,
    threads: config.threads,
    host: config.host,
    httpPort: config.httpPort,
    rtmpPort: config.rtmpPort,
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
    testPattern: config.testPattern ? 'test' : undefined,
    endedRetentionMs: config.endedRetentionSeconds * 1000,
    drainSeconds: config.drainSeconds,
    admin: { ...config.admin },
    ...(config.authHook.url !== undefined ? { authHook: { url: config.authHook.url, timeoutMs: config.authHook.timeoutMs } } : {}),
    limits: { ...config.limits },
  };
}
