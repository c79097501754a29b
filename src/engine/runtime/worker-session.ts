import { Worker } from 'node:worker_threads';
import type { ort } from './ort.js';
import type { RunScope, Session, SessionAdapter, Signature } from './session.js';
import { fromWire, type SessionReply, type SessionRequest, type SessionStart, toWire } from './session-wire.js';

/**
 * An ONNX Runtime session in a worker thread of its own.
 *
 * onnxruntime-node's `run()` is only nominally asynchronous: it runs the whole
 * graph synchronously on the calling thread (a `setImmediate` around the
 * call). On the main thread a model run therefore froze the event loop for
 * its whole length, every frame: ingest sockets, decoder and encoder
 * completions and WHEP sends all waited, and two sessions (the interpolator
 * and the semantic encoder) could never overlap. Here each session has its
 * own thread, so the main thread only posts the inputs (a copy: callers keep
 * their arrays) and receives the outputs (handed over, not copied).
 *
 * The thread holds the process open only while runs are pending, so a
 * session that is never disposed does not keep a finished program alive.
 */
export class WorkerSession implements Session {
  private readonly pending = new Map<number, { resolve: (out: Record<string, ort.Tensor>) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure?: Error;
  private released?: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private names: { inputNames: readonly string[]; outputNames: readonly string[]; signature?: Signature; parts?: number },
  ) {
    worker.on('message', (reply: SessionReply) => {
      if (reply.kind !== 'result' && reply.kind !== 'error') return;
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.settle(reply.id);
      if (reply.kind === 'error') waiter.reject(new Error(reply.error));
      else waiter.resolve(fromWire(reply.outputs));
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const [id, waiter] of this.pending) {
        this.settle(id);
        waiter.reject(this.failure);
      }
    };
    worker.on('error', (error) => fail(new Error(`the inference thread failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`the inference thread exited (code ${code})`)));
    worker.unref();
  }

  /** Loads a model (a path, the graph's bytes, or a model's parts) in a new thread. Rejects with ONNX Runtime's message when it cannot. */
  static async create(model: SessionStart['model'], options: ort.InferenceSession.SessionOptions): Promise<WorkerSession> {
    const worker = new Worker(new URL('./ort-session-worker.js', import.meta.url), { workerData: { model, options } satisfies SessionStart });
    const reply = await new Promise<SessionReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the inference thread exited (code ${code}) while loading the model`)));
    });
    if (reply.kind !== 'ready') {
      await worker.terminate();
      throw new Error(reply.kind === 'failed' ? reply.error : `the inference thread answered ${reply.kind} while loading the model`);
    }
    return new WorkerSession(worker, reply);
  }

  get inputNames(): readonly string[] {
    return this.names.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.names.outputNames;
  }

  /** How many parts the model has, when it was loaded in parts. */
  get parts(): number | undefined {
    return this.names.parts;
  }

  /** The graph's signature as loaded (before any adapter). */
  get signature(): Signature | undefined {
    return this.names.signature;
  }

  /** Puts the adapter's graphs around the model (adapted-session.ts); call before the first run. Rejects with ONNX Runtime's message when it cannot. */
  async adapt(adapter: SessionAdapter): Promise<void> {
    if (this.failure) throw this.failure;
    this.worker.ref();
    const reply = await new Promise<SessionReply>((resolve) => {
      const done = (r: SessionReply) => {
        this.worker.off('message', onReply);
        this.worker.off('exit', onExit);
        resolve(r);
      };
      const onReply = (r: SessionReply) => (r.kind === 'ready' || r.kind === 'failed') && done(r);
      const onExit = (code: number) => done({ kind: 'failed', error: `the inference thread exited (code ${code}) while adapting the model` });
      this.worker.on('message', onReply);
      this.worker.on('exit', onExit);
      this.worker.postMessage({ kind: 'adapt', adapter } satisfies SessionRequest);
    });
    if (this.pending.size === 0) this.worker.unref();
    if (reply.kind === 'failed') throw new Error(reply.error);
    if (reply.kind === 'ready') this.names = { ...this.names, inputNames: reply.inputNames, outputNames: reply.outputNames };
  }

  run(feeds: Record<string, ort.Tensor>, options?: RunScope): Promise<Record<string, ort.Tensor>> {
    if (this.released) return Promise.reject(new Error('the session was released'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    // The caller keeps its arrays: posting copies them.
    const { wire, transfer } = toWire(feeds, false);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ kind: 'run', id, feeds: wire, ...(options ? { options } : {}) } satisfies SessionRequest, transfer);
    });
  }

  /** Lets the runs in flight finish, releases the session and ends its thread. */
  [Symbol.asyncDispose](): Promise<void> {
    this.released ??= this.shutDown();
    return this.released;
  }

  private async shutDown(): Promise<void> {
    this.worker.ref();
    if (!this.failure) {
      // The worker answers in order: 'released' comes after every run posted before it.
      const released = new Promise<void>((done) => {
        this.worker.on('message', (reply: SessionReply) => reply.kind === 'released' && done());
        this.worker.once('exit', () => done());
      });
      this.worker.postMessage({ kind: 'release' } satisfies SessionRequest);
      await released;
    }
    await this.worker.terminate();
  }

  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0 && !this.released) this.worker.unref();
  }
}
