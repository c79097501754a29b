import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../../../src/base/paths.js';
import { buildOnnxModel } from '../../../src/engine/runtime/onnx-builder.js';
import { ort, sessionOptions } from '../../../src/engine/runtime/ort.js';
import { WorkerSession } from '../../../src/engine/runtime/worker-session.js';

const N = 640;

/** x·x·…·x (eight products of an N×N matrix): tens of milliseconds of work on one thread. */
function slowGraph(): Uint8Array {
  const nodes = Array.from({ length: 8 }, (_, i) => ({ op: 'MatMul', inputs: [i === 0 ? 'x' : `p${i}`, 'x'], outputs: [i === 7 ? 'y' : `p${i + 1}`] }));
  return buildOnnxModel({ name: 'slow', inputs: [{ name: 'x', dims: [N, N] }], outputs: [{ name: 'y', dims: [N, N] }], nodes });
}

function input(): ort.Tensor {
  // Rows summing to ~1 keep the powers bounded.
  const data = Float32Array.from({ length: N * N }, (_, i) => (((i * 2654435761) >>> 0) % 1000) / 1000 / (N / 2));
  return new ort.Tensor('float32', data, [N, N]);
}

/** How often a 1 ms timer fired while `session` ran, and how long the run took. */
async function ticksDuring(session: { run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> }, feeds: Record<string, ort.Tensor>): Promise<{ ticks: number; ms: number; out: Record<string, ort.Tensor> }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  // Let the timer start first.
  await new Promise((resolve) => setTimeout(resolve, 5));
  ticks = 0;
  const start = performance.now();
  const out = await session.run(feeds);
  const ms = performance.now() - start;
  clearInterval(timer);
  return { ticks, ms, out };
}

test('a worker session runs the graph off the main thread: timers fire during the run, and the result equals an inline run', async (t) => {
  const graph = slowGraph();
  const worker = await WorkerSession.create(graph, sessionOptions('cpu', 1));
  const inline = await ort.InferenceSession.create(graph, sessionOptions('cpu', 1));
  t.after(() => Promise.all([worker[Symbol.asyncDispose](), inline.release()]));
  assert.deepEqual([...worker.inputNames], ['x']);
  assert.deepEqual([...worker.outputNames], ['y']);
  const x = input();
  await worker.run({ x }); // warm-up: the first run allocates
  await inline.run({ x });

  const inThread = await ticksDuring(worker, { x });
  const onMain = await ticksDuring(inline, { x });
  // The inline run blocks the event loop for its whole length: the check can tell the two apart.
  assert.ok(onMain.ms >= 10, `the graph must take a while to show anything (${onMain.ms.toFixed(1)} ms)`);
  assert.ok(onMain.ticks <= 1, `an inline run blocks the main thread (${onMain.ticks} ticks in ${onMain.ms.toFixed(1)} ms)`);
  assert.ok(inThread.ticks >= Math.min(5, inThread.ms / 4), `${inThread.ticks} ticks in ${inThread.ms.toFixed(1)} ms`);

  const a = inThread.out.y!;
  const b = onMain.out.y!;
  assert.deepEqual(a.dims, b.dims);
  assert.equal(a.type, 'float32');
  const da = a.data as Float32Array;
  const db = b.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < da.length; i++) worst = Math.max(worst, Math.abs(da[i]! - db[i]!) / Math.max(1e-6, Math.abs(db[i]!)));
  assert.ok(worst < 1e-5, `relative difference ${worst}`);
  assert.ok(Math.abs(db[0]!) > 1e-4, 'the product must not vanish, or equality says nothing');
});

test('a worker session passes ONNX Runtime errors on and keeps working, and refuses runs once disposed of', async () => {
  await assert.rejects(WorkerSession.create('/nonexistent/model.onnx', sessionOptions()), /nonexistent\/model\.onnx/);
  await assert.rejects(WorkerSession.create(new Uint8Array([1, 2, 3, 4, 5]), sessionOptions()), /./);

  const session = await WorkerSession.create(slowGraph(), sessionOptions('cpu', 1));
  await assert.rejects(session.run({ x: new ort.Tensor('float32', new Float32Array(6), [2, 3]) }), /dimension|shape|Got/i);
  const x = input();
  // Runs in flight when it is disposed of still finish.
  const runs = [session.run({ x }), session.run({ x })];
  const released = session[Symbol.asyncDispose]();
  const outs = await Promise.all(runs);
  assert.deepEqual(outs.map((o) => o.y!.dims), [[N, N], [N, N]]);
  await released;
  await assert.rejects(session.run({ x }), /released/);
  // The caller's input is untouched (inputs are copied, not handed over).
  assert.equal(x.data.length, N * N);
});

test('a process whose only user of the Lucas-Kanade kernels is an inference thread ends cleanly when that thread does (the kernels\' per-thread memory outlives no unloaded code)', (t) => {
  // The child loads `fast` in parts in a worker thread only: its main thread never loads the kernels,
  // so ending the thread once unloaded them while the thread's memory still named their destructor.
  const at = (path: string) => new URL(path, import.meta.url).href;
  const script = `
    import '${at('../../../src/base/polyfills.js')}';
    import { WorkerSession } from '${at('../../../src/engine/runtime/worker-session.js')}';
    import { ort, sessionOptions } from '${at('../../../src/engine/runtime/ort.js')}';
    import { partsToRun, readCard } from '${at('../../../src/engine/model/model-card.js')}';
    const path = ${JSON.stringify(repoPath('models', 'fast.onnx'))};
    const card = readCard(path);
    const session = await WorkerSession.create(partsToRun(path, card, {}), sessionOptions('cpu', 1));
    const dims = [1, 3, 96, 160];
    const img = (v) => new ort.Tensor('float32', new Float32Array(3 * 96 * 160).map((_, i) => v + 0.3 * Math.sin(i / 7)), dims);
    const out = await session.run({ img0: img(0.4), img1: img(0.5), timestep: new ort.Tensor('float32', Float32Array.of(0.5), [1, 1, 1, 1]) });
    await session[Symbol.asyncDispose]();
    console.log('disposed', out.flow.dims.join('x'));
  `;
  const dir = mkdtempSync(join(tmpdir(), 'frc-worker-exit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'child.mjs');
  writeFileSync(file, script);
  const child = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.signal, null, `the child died by ${child.signal}: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /^disposed 1x4x96x160/m);
});
