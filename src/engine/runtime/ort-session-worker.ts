/**
 * The body of a `WorkerSession`'s thread: loads one ONNX Runtime session (or
 * a staged model's chain of them) and runs it for every request the owning
 * thread posts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ort } from './ort.js';
import { StagedSession } from './staged-session.js';
import { fromWire, type Session, type SessionReply, type SessionRequest, type SessionStart, toWire } from './worker-session.js';

const port = parentPort!;
const { model, options } = workerData as SessionStart;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let session: Session;
try {
  session =
    typeof model === 'object' && 'stages' in model
      ? await StagedSession.create(model.stages, options, model.lk, model.lkPyramid)
      : await ort.InferenceSession.create(model as string, options);
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
    const out = await session.run(fromWire(request.feeds));
    // The output buffers are this run's own: handed over, not copied.
    const { wire, transfer } = toWire(out, true);
    port.postMessage({ kind: 'result', id: request.id, outputs: wire } satisfies SessionReply, transfer);
  } catch (error) {
    port.postMessage({ kind: 'error', id: request.id, error: message(error) } satisfies SessionReply);
  }
}

// One request at a time, in the order posted: a release waits for the runs before it.
let queue = Promise.resolve();
port.on('message', (request: SessionRequest) => {
  queue = queue.then(() => handle(request));
});
