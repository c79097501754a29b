/**
 * The body of a `WorkerSession`'s thread: loads one ONNX Runtime session and
 * runs it for every request the owning thread posts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ort } from './ort.js';
import type { SessionReply, SessionRequest, SessionStart, WireTensor } from './worker-session.js';

const port = parentPort!;
const { model, options } = workerData as SessionStart;

function toWire(tensor: ort.Tensor): WireTensor {
  return { type: tensor.type, data: tensor.data as WireTensor['data'], dims: [...tensor.dims] };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(model as string, options);
  port.postMessage({ kind: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] } satisfies SessionReply);
} catch (error) {
  port.postMessage({ kind: 'failed', error: message(error) } satisfies SessionReply);
  process.exit(0);
}

async function handle(request: SessionRequest): Promise<void> {
  if (request.kind === 'release') {
    await session.release();
    port.postMessage({ kind: 'released' } satisfies SessionReply);
    port.close();
    return;
  }
  try {
    const feeds = Object.fromEntries(Object.entries(request.feeds).map(([name, t]) => [name, new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)]));
    const out = await session.run(feeds);
    const outputs = Object.fromEntries(Object.entries(out).map(([name, t]) => [name, toWire(t)]));
    // The output buffers are this run's own: hand them over instead of copying them.
    const transfer = [...new Set(Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer))];
    port.postMessage({ kind: 'result', id: request.id, outputs } satisfies SessionReply, transfer);
  } catch (error) {
    port.postMessage({ kind: 'error', id: request.id, error: message(error) } satisfies SessionReply);
  }
}

// One request at a time, in the order posted: a release waits for the runs before it.
let queue = Promise.resolve();
port.on('message', (request: SessionRequest) => {
  queue = queue.then(() => handle(request));
});
