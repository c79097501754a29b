/**
 * A model in parts (its card lists them under `stages`) against its own
 * single graph: the network's time per call on the same input, in
 * alternating blocks so that both see the machine's slow and fast stretches
 * alike. The input is a smooth moving pattern at the size `fast` sees at
 * 720p (160x96).
 *
 *   node dist/bench/model-parts.js [--model fast] [--size 160x96] [--blocks 8] [--calls 10]
 */
import { parseArgs } from 'node:util';
import { FlowModel } from '../src/engine/model/flow-model.js';
import type { RgbImage } from '../src/engine/model/interpolator.js';
import { loadModel } from '../src/engine/model/load-model.js';
import { resolveModelPath } from '../src/engine/model/model-choice.js';
import { machine, today } from './common.js';

function pattern(width: number, height: number, phase: number): RgbImage {
  const n = width * height;
  const data = Float32Array.from({ length: 3 * n }, (_, i) => 0.5 + 0.4 * Math.sin((i % n) * 0.013 + phase + Math.floor(i / n)));
  return { width, height, paddedWidth: width, paddedHeight: height, data };
}

async function flowModel(path: string, parts: boolean): Promise<FlowModel> {
  const model = await loadModel(path, { parts });
  if (model instanceof FlowModel) return model;
  await model[Symbol.asyncDispose]();
  throw new Error(`${path} is not a flow model`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, size: { type: 'string' }, blocks: { type: 'string' }, calls: { type: 'string' } } });
  const path = resolveModelPath(values.model ?? 'fast');
  const [width, height] = (values.size ?? '160x96').split('x').map(Number) as [number, number];
  const [blocks, calls] = [Number(values.blocks ?? 8), Number(values.calls ?? 10)];
  const [a, b] = [pattern(width, height, 0), pattern(width, height, 0.7)];
  const arms = { single: await flowModel(path, false), parts: await flowModel(path, true) };
  const ms: Record<keyof typeof arms, number[]> = { single: [], parts: [] };
  try {
    for (let i = 0; i < 5; i++) for (const model of Object.values(arms)) await model.flows(a, b, 0.5);
    for (let block = 0; block < blocks; block++) {
      for (const [arm, model] of Object.entries(arms) as [keyof typeof arms, FlowModel][]) {
        const t0 = performance.now();
        for (let i = 0; i < calls; i++) await model.flows(a, b, 0.5);
        ms[arm].push((performance.now() - t0) / calls);
      }
    }
  } finally {
    await Promise.all(Object.values(arms).map((m) => m[Symbol.asyncDispose]()));
  }
  console.log(`\n${today()}, ${machine()} (\`node dist/bench/model-parts.js ${process.argv.slice(2).join(' ')}\`)\n`);
  console.log(`| ${values.model ?? 'fast'} at ${width}x${height} | ms per call, mean of ${calls}, each block (sorted) | median |`);
  console.log('|---|---|---|');
  for (const [arm, xs] of Object.entries(ms)) {
    xs.sort((p, q) => p - q);
    console.log(`| ${arm} | ${xs.map((x) => x.toFixed(1)).join(' ')} | ${xs[Math.floor(xs.length / 2)]!.toFixed(1)} |`);
  }
}

await main();
