import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO } from './helpers.js';

/**
 * The source folders, bottom layer first: a folder may import only folders
 * before it in this list. docs/architecture.md lists the same folders in the
 * same order; both tests below fail when either drifts from the tree.
 */
const LAYERS = ['base', 'metrics', 'engine', 'ingest', 'egress', 'protocols', 'pipeline', 'live', 'convert', 'eval', 'config', 'server'];
/** Files directly under src/ sit on top of every folder. */
const TOP = '(src)';

const SRC = join(REPO, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative module a file names: static and dynamic imports, re-exports, and worker URLs. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((spec) => relative(SRC, resolve(dirname(file), spec)));
}

const folderOf = (pathUnderSrc: string): string => (pathUnderSrc.includes('/') ? pathUnderSrc.split('/')[0]! : TOP);

/** Folder-level edges, each with one import that makes it (for the failure message). */
function folderEdges(): Map<string, string> {
  const edges = new Map<string, string>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(relative(SRC, file));
    for (const target of importsOf(file)) {
      const to = folderOf(target);
      if (to !== from && !edges.has(`${from} -> ${to}`)) edges.set(`${from} -> ${to}`, `${relative(REPO, file)} imports src/${target}`);
    }
  }
  return edges;
}

test('the folders under src/ are the layers, and no folder imports one above it', () => {
  const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
  assert.deepEqual([...folders].sort(), [...LAYERS].sort(), 'a folder was added or removed under src/: place it in LAYERS and in docs/architecture.md');
  const rank = (folder: string) => (folder === TOP ? LAYERS.length : LAYERS.indexOf(folder));
  const upward = [...folderEdges()].filter(([edge]) => {
    const [from, to] = edge.split(' -> ') as [string, string];
    return rank(to) > rank(from);
  });
  assert.deepEqual(upward.map(([edge, why]) => `${edge}: ${why}`), []);
});

test('the import graph between folders has no cycle', () => {
  const next = new Map<string, string[]>();
  for (const edge of folderEdges().keys()) {
    const [from, to] = edge.split(' -> ') as [string, string];
    next.set(from, [...(next.get(from) ?? []), to]);
  }
  // Depth-first search; a folder met again while still on the path closes a cycle.
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (folder: string, path: string[]) => {
    if (state.get(folder) === 'done') return;
    if (state.get(folder) === 'open') {
      cycles.push([...path.slice(path.indexOf(folder)), folder].join(' -> '));
      return;
    }
    state.set(folder, 'open');
    for (const to of next.get(folder) ?? []) visit(to, [...path, folder]);
    state.set(folder, 'done');
  };
  for (const folder of next.keys()) visit(folder, []);
  assert.deepEqual(cycles, []);
});

test('the import reader finds edges that exist', () => {
  // Guards the regex above: were it to find nothing, the two tests before would pass for nothing.
  const edges = folderEdges();
  assert.ok(edges.has(`${TOP} -> server`), 'cli.ts -> server/ should be an edge');
  assert.ok([...edges.keys()].some((edge) => edge.startsWith('live -> ')), 'live/ imports lower folders');
});

/**
 * The engine's sub-folders, bottom layer first, as LAYERS is for src/: a
 * sub-folder may import only those before it, and the files directly under
 * src/engine/ (upconverter.ts) sit on top. runtime runs graphs and native
 * kernels; timing is pure slot arithmetic; model loads cards and models;
 * semantic analyses frames (and corrects a flow model's fields); synthesis
 * makes frames from models, taking semantic's correction.
 */
const ENGINE_LAYERS = ['runtime', 'timing', 'model', 'semantic', 'synthesis'];

test('the engine sub-folders are its layers, and none imports one above it', () => {
  const engine = join(SRC, 'engine');
  // native/ holds the C kernels only: not a TypeScript layer.
  const folders = readdirSync(engine).filter((name) => statSync(join(engine, name)).isDirectory() && sourceFiles(join(engine, name)).length > 0);
  assert.deepEqual([...folders].sort(), [...ENGINE_LAYERS].sort(), 'a folder was added or removed under src/engine/: place it in ENGINE_LAYERS');
  const layerOf = (pathUnderEngine: string) => (pathUnderEngine.includes('/') ? pathUnderEngine.split('/')[0]! : TOP);
  const rank = (layer: string) => (layer === TOP ? ENGINE_LAYERS.length : ENGINE_LAYERS.indexOf(layer));
  const edges = new Map<string, string>();
  for (const file of sourceFiles(engine)) {
    const from = layerOf(relative(engine, file));
    for (const target of importsOf(file).filter((t) => t.startsWith('engine/'))) {
      const to = layerOf(target.slice('engine/'.length));
      if (to !== from && !edges.has(`${from} -> ${to}`)) edges.set(`${from} -> ${to}`, `${relative(REPO, file)} imports src/${target}`);
    }
  }
  // Guards the reading: were it to find nothing, the check below would pass for nothing.
  assert.ok(edges.has('synthesis -> model') && edges.has(`${TOP} -> synthesis`), [...edges.keys()].join(', '));
  const upward = [...edges].filter(([edge]) => {
    const [from, to] = edge.split(' -> ') as [string, string];
    return rank(to) > rank(from);
  });
  assert.deepEqual(upward.map(([edge, why]) => `${edge}: ${why}`), []);
});

test('docs/architecture.md names every source folder, in layer order, and every path it names exists', () => {
  const page = readFileSync(join(REPO, 'docs', 'architecture.md'), 'utf8');
  const named = [...page.matchAll(/`((?:src|test|bench|models|train|web|deploy|docs)\/[\w./-]*)`/g)].map((m) => m[1]!);
  const missing = named.filter((path) => !existsSync(join(REPO, path)));
  assert.deepEqual(missing, [], 'paths named in docs/architecture.md that do not exist');
  const topFolders = named
    .map((path) => /^src\/([\w-]+)\/?$/.exec(path)?.[1])
    .filter((folder): folder is string => folder !== undefined)
    .filter((folder, i, all) => all.indexOf(folder) === i);
  assert.deepEqual(topFolders, LAYERS, 'docs/architecture.md should list the src/ folders bottom layer first, as LAYERS does');
});
