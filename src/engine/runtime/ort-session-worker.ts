/**
 * The body of a `WorkerSession`'s thread: loads one ONNX Runtime session (or
 * the chain of a model's parts) and runs it for every request the owning
 * thread posts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../base/errors.js';
import { ort } from './ort.js';
import { adaptedSession } from './adapted-session.js';
import { PartedSession } from './parted-session.js';
import { inlineSession, type Session } from './session.js';
import { fromWire, type SessionReply, type SessionRequest, type SessionStart, toWire } from './session-wire.js';

const port = parentPort!;
const { model, options } = workerData as SessionStart;

let session: Session;
try {
  session =
    typeof model === 'object' && 'parts' in model
      ? await PartedSession.create(model, options)
      : inlineSession(await ort.InferenceSession.create(model as string, options));
  port.postMessage(ready());
} catch (error) {
  port.postMessage({ kind: 'failed', error: errorMessage(error) } satisfies SessionReply);
  process.exit(0);
}

function ready(): SessionReply {
  return {
    kind: 'ready',
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    ...(session.signature ? { signature: session.signature } : {}),
    ...(session.parts !== undefined ? { parts: session.parts } : {}),
  };
}

async function handle(request: SessionRequest): Promise<void> {
  if (request.kind === 'adapt') {
    try {
      session = await adaptedSession(session, request.adapter, options);
      port.postMessage(ready());
    } catch (error) {
      port.postMessage({ kind: 'failed', error: errorMessage(error) } satisfies SessionReply);
    }
    return;
  }
  if (request.kind === 'release') {
    await session[Symbol.asyncDispose]();
    port.postMessage({ kind: 'released' } satisfies SessionReply);
    port.close();
    return;
  }
  try {
    const out = await session.run(fromWire(request.feeds), request.options);
    // The output buffers are this run's own: handed over, not copied.
    const { wire, transfer } = toWire(out, true);
    port.postMessage({ kind: 'result', id: request.id, outputs: wire } satisfies SessionReply, transfer);
  } catch (error) {
    port.postMessage({ kind: 'error', id: request.id, error: errorMessage(error) } satisfies SessionReply);
  }
}

// One request at a time, in the order posted: a release waits for the runs before it.
let queue = Promise.resolve();
port.on('message', (request: SessionRequest) => {
  queue = queue.then(() => handle(request));
});
