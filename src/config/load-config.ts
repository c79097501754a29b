import { parse as parseYaml, YAMLParseError } from 'yaml';
import { withoutPassword } from '../base/url-text.js';
import { type Config, type Field, type FieldType, type MapOf, type Node, SCHEMA, type Shape } from './schema.js';

/**
 * Builds the effective config from, lowest to highest precedence: the
 * schema's defaults, a YAML file, `FRC_…` environment variables, and
 * command-line flags. Pure: text, environment and flags in, config out;
 * anything wrong is a `ConfigError` whose one-line message names the source,
 * the key and what was expected.
 */
export class ConfigError extends Error {}

export interface ConfigSources {
  /** The YAML text and where it came from (for messages). */
  file?: { path: string; text: string };
  env?: Record<string, string | undefined>;
  /** Flag name (without `--`) to value, as `parseArgs` gives them with `configFlagOptions()` (a repeatable flag: every value). */
  flags?: Record<string, string | boolean | string[] | undefined>;
}

/** `FRC_` variables that are not config keys but are known: the rest are refused as typos. */
const OTHER_ENV = new Set(['FRC_CONFIG', 'FRC_DEBUG', 'FRC_DATA_DIR']);

interface Leaf {
  path: string[];
  node: Field<unknown> | MapOf<Shape>;
}

function leaves(shape: Shape, prefix: string[] = []): Leaf[] {
  return Object.entries(shape).flatMap(([key, node]) => (node.kind === 'section' ? leaves(node.fields, [...prefix, key]) : [{ path: [...prefix, key], node }]));
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (path: string[]) => `FRC_${path.map((p) => p.replace(/[A-Z]/g, (c) => `_${c}`)).join('_').toUpperCase()}`;
export const flagName = (leaf: Leaf) => (leaf.node.kind === 'field' && leaf.node.flag) || kebab(leaf.path[leaf.path.length - 1]!);

/** Every config key as the docs and tests see it: path, env variable, flag. */
export function configKeys(): { path: string; env: string; flag: string; node: Leaf['node'] }[] {
  return leaves(SCHEMA).map((leaf) => ({ path: leaf.path.join('.'), env: envName(leaf.path), flag: flagName(leaf), node: leaf.node }));
}

/** `parseArgs` options for every config key: string flags, booleans as `--x` / `--no-x`, `key=url` pairs repeatable. */
export function configFlagOptions(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const leaf of leaves(SCHEMA)) {
    const flag = flagName(leaf);
    if (leaf.node.kind === 'field' && leaf.node.type.name === 'boolean') {
      options[flag] = { type: 'boolean' };
      options[`no-${flag}`] = { type: 'boolean' };
    } else if (leaf.node.kind === 'field' && leaf.node.type.name === 'urls') {
      options[flag] = { type: 'string', multiple: true };
    } else {
      options[flag] = { type: 'string' };
    }
  }
  return options;
}

export function defaults(shape: Shape = SCHEMA): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(shape)) {
    if (node.kind === 'section') out[key] = defaults(node.fields);
    else if (node.kind === 'map') out[key] = {};
    else if (node.default !== undefined) out[key] = node.default;
  }
  return out;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const config = defaults();
  if (sources.file) {
    const where = sources.file.path;
    let document: unknown;
    try {
      document = parseYaml(sources.file.text);
    } catch (error) {
      const message = error instanceof YAMLParseError ? `line ${error.linePos?.[0]?.line ?? '?'}: ${error.message.split('\n')[0]}` : String(error);
      throw new ConfigError(`${where}: not valid YAML: ${message}`);
    }
    if (document !== null && document !== undefined) mergeDocument(config, document, SCHEMA, [], where);
  }
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (value === undefined || !name.startsWith('FRC_') || OTHER_ENV.has(name)) continue;
    const leaf = leaves(SCHEMA).find((l) => envName(l.path) === name);
    if (!leaf) throw new ConfigError(`environment: unknown variable ${name}${suggest(name, leaves(SCHEMA).map((l) => envName(l.path)))}`);
    setLeaf(config, leaf, fromText(leaf, value, `environment: ${name}`));
  }
  for (const leaf of leaves(SCHEMA)) {
    const flag = flagName(leaf);
    const value = sources.flags?.[flag];
    const negated = sources.flags?.[`no-${flag}`];
    if (negated === true) setLeaf(config, leaf, false);
    else if (typeof value === 'boolean') setLeaf(config, leaf, value);
    else if (typeof value === 'string') setLeaf(config, leaf, fromText(leaf, value, `--${flag}`));
    else if (Array.isArray(value)) for (const one of value) setLeaf(config, leaf, fromText(leaf, one, `--${flag}`));
  }
  return config as Config;
}

/** Checks a parsed YAML value against a schema shape and writes it into `target`. */
function mergeDocument(target: Record<string, unknown>, value: unknown, shape: Shape, path: string[], where: string): void {
  if (!isPlainObject(value)) throw new ConfigError(`${where}: ${path.length ? path.join('.') : 'the file'} must be a mapping of keys, got ${describe(value)}`);
  for (const [key, child] of Object.entries(value)) {
    const node: Node | undefined = Object.hasOwn(shape, key) ? shape[key] : undefined;
    const keyPath = [...path, key];
    if (!node) throw new ConfigError(`${where}: unknown key "${keyPath.join('.')}"${suggest(key, Object.keys(shape), path)}`);
    if (child === null) continue; // `key:` left empty means its default.
    if (node.kind === 'section') {
      mergeDocument(target[key] as Record<string, unknown>, child, node.fields, keyPath, where);
    } else if (node.kind === 'map') {
      target[key] = { ...(target[key] as object), ...checkMap(node, child, keyPath, where) };
    } else {
      target[key] = checkValue(node, child, `${where}: ${keyPath.join('.')}`);
    }
  }
}

function checkMap(node: MapOf<Shape>, value: unknown, path: string[], where: string): Record<string, Record<string, unknown>> {
  if (value === null) return {};
  if (!isPlainObject(value)) throw new ConfigError(`${where}: ${path.join('.')} must be a mapping of stream keys to settings, got ${describe(value)}`);
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, entry] of Object.entries(value)) {
    if (!node.keyPattern.test(name)) throw new ConfigError(`${where}: ${path.join('.')}: "${name}" is not a stream key (letters, digits, _ and -, at most 64)`);
    out[name] = {};
    if (entry !== null) mergeDocument(out[name], entry, node.entry, [...path, name], where);
  }
  return out;
}

/** A YAML value: its type must already be right (a port is a number, not a string). */
function checkValue(field: Field<unknown>, value: unknown, where: string): unknown {
  const type = field.type;
  const wrong = () => new ConfigError(`${where} must be ${expected(type)}, got ${describe(value)}`);
  switch (type.name) {
    case 'string':
      if (typeof value !== 'string' && typeof value !== 'number') throw wrong();
      return String(value);
    case 'boolean':
      if (typeof value !== 'boolean') throw wrong();
      return value;
    case 'enum':
      if (typeof value !== 'string' || !type.values.includes(value)) throw wrong();
      return value;
    case 'port':
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535) throw wrong();
      return value;
    case 'integer':
      if (!Number.isInteger(value) || (value as number) < (type.min ?? -Infinity) || (value as number) > (type.max ?? Infinity)) throw wrong();
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < (type.min ?? -Infinity)) throw wrong();
      return value;
    case 'urls': {
      if (!isPlainObject(value)) throw wrong();
      const out: Record<string, string> = {};
      for (const [key, url] of Object.entries(value)) {
        if (!STREAM_KEY.test(key)) throw new ConfigError(`${where}: "${key}" is not a stream key (letters, digits, _ and -, at most 64)`);
        if (typeof url !== 'string' || url.trim() === '') throw new ConfigError(`${where}.${key} must be a URL or a file path, got ${describe(url)}`);
        out[key] = url.trim();
      }
      return out;
    }
  }
}

const STREAM_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** `cam=rtsp://… clip=/videos/a.mp4?loop`: pairs separated by spaces (a URL has none). */
function urlPairs(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.trim().split(/\s+/).filter(Boolean)) {
    const match = /^([^=]+)=(.+)$/.exec(pair);
    if (!match) throw new ConfigError(`${where} must be KEY=URL (e.g. cam=rtsp://10.0.0.5/stream), got "${pair}"`);
    if (!STREAM_KEY.test(match[1]!)) throw new ConfigError(`${where}: "${match[1]}" is not a stream key (letters, digits, _ and -, at most 64)`);
    out[match[1]!] = match[2]!;
  }
  return out;
}

/** An environment variable's or flag's text, converted to the key's type. */
function fromText(leaf: Leaf, text: string, where: string): unknown {
  if (leaf.node.kind === 'map') {
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch {
      throw new ConfigError(`${where} must be YAML or JSON (e.g. {cam: {token: s3cret}}), got "${text}"`);
    }
    return checkMap(leaf.node, parsed, leaf.path, where);
  }
  const type = leaf.node.type;
  switch (type.name) {
    case 'string':
    case 'enum':
      return checkValue(leaf.node, text, where);
    case 'urls':
      return urlPairs(text, where);
    case 'boolean': {
      const value = { true: true, '1': true, yes: true, false: false, '0': false, no: false }[text.toLowerCase()];
      if (value === undefined) throw new ConfigError(`${where} must be true or false, got "${text}"`);
      return value;
    }
    default: {
      if (!/^-?\d+(\.\d+)?$/.test(text.trim())) throw new ConfigError(`${where} must be ${expected(type)}, got "${text}"`);
      return checkValue(leaf.node, Number(text), where);
    }
  }
}

function setLeaf(config: Record<string, unknown>, leaf: Leaf, value: unknown): void {
  let target = config;
  for (const part of leaf.path.slice(0, -1)) target = target[part] as Record<string, unknown>;
  const key = leaf.path[leaf.path.length - 1]!;
  // A map given whole (env, flag) is merged over the file's entries, key by key.
  const merged = leaf.node.kind === 'map' || leaf.node.type.name === 'urls';
  target[key] = merged ? { ...(target[key] as object | undefined), ...(value as object) } : value;
}

export function expected(type: FieldType): string {
  switch (type.name) {
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'port':
      return 'a port number (0–65535)';
    case 'enum':
      return `one of ${type.values.join(', ')}`;
    case 'integer':
      return `a whole number${type.min !== undefined ? ` ≥ ${type.min}` : ''}${type.max !== undefined ? ` and ≤ ${type.max}` : ''}`;
    case 'number':
      return `a number${type.min !== undefined ? ` ≥ ${type.min}` : ''}`;
    case 'urls':
      return 'a mapping of stream keys to URLs';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'nothing';
  if (typeof value === 'object') return 'a mapping';
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/** " (did you mean …?)" for a near miss: the closest candidate by edit distance, if close enough. */
function suggest(name: string, candidates: string[], prefix: string[] = []): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean "${[...prefix, best].join('.')}"?)` : '';
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The config as YAML-ready data with every secret replaced, for `frc config` and the start-up log. */
export function redacted(config: Config): Record<string, unknown> {
  const walk = (value: Record<string, unknown>, shape: Shape): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, node] of Object.entries(shape)) {
      const v = value[key];
      if (v === undefined) continue;
      if (node.kind === 'section') out[key] = walk(v as Record<string, unknown>, node.fields);
      else if (node.kind === 'map') out[key] = Object.fromEntries(Object.entries(v as Record<string, Record<string, unknown>>).map(([name, entry]) => [name, walk(entry, node.entry)]));
      else if (node.type.name === 'urls') out[key] = Object.fromEntries(Object.entries(v as Record<string, string>).map(([name, url]) => [name, withoutPassword(url)]));
      else out[key] = node.secret && v !== undefined ? '<redacted>' : v;
    }
    return out;
  };
  return walk(config as unknown as Record<string, unknown>, SCHEMA);
}
