import { createRequire } from 'node:module';
import { ort } from './ort.js';
import type { Session } from './worker-session.js';

// Built by `node-gyp rebuild` (npm's install step) from src/engine/native/warp-pair.c.
const native = createRequire(import.meta.url)('../../../build/Release/frc_warp_pair.node') as {
  warpPair(pair: Float32Array, flow: Float32Array, width: number, height: number, out: Float32Array): void;
};

/** What each stage of a staged interpolator hands to the next (train/export_stages.py). */
const NEXT = { flowMask: 'next_flow_mask', pair: 'next_pair', pairFlow: 'next_pair_flow' } as const;
const FROM_PREVIOUS = ['flow_mask', 'pair_flow', 'warped_pair'] as const;

/**
 * An interpolator cut into one ONNX graph per IFBlock, run in order with the
 * backward warp between blocks done natively (native/warp-pair.c).
 *
 * Why: inside one graph that warp is ONNX Runtime's GridSample, about a
 * quarter of `fast`'s network time at 720p; natively it is a few hundredths
 * of a millisecond. Each stage hands on the running flow and mask, the frame
 * pair at the next block's scale and the flow at that scale; the warped pair
 * goes into the next stage beside them. The result equals the single graph's
 * up to float rounding (test/engine/staged-session.test.ts).
 *
 * Runs where its caller runs: the engine creates it inside an inference
 * thread (ort-session-worker.ts), like a plain session.
 */
export class StagedSession implements Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];

  private constructor(private readonly stages: ort.InferenceSession[]) {
    this.inputNames = stages[0]!.inputNames;
    this.outputNames = stages.at(-1)!.outputNames;
  }

  /** Loads the stage graphs (in order); rejects, naming the stage, when one does not follow the contract. */
  static async create(paths: readonly string[], options: ort.InferenceSession.SessionOptions): Promise<StagedSession> {
    if (paths.length < 2) throw new Error(`a staged model needs at least two stages (got ${paths.length})`);
    const stages: ort.InferenceSession[] = [];
    try {
      for (const path of paths) stages.push(await ort.InferenceSession.create(path, options));
      stages.forEach((stage, i) => {
        const missing = [
          ...(i > 0 ? FROM_PREVIOUS.filter((n) => !stage.inputNames.includes(n)) : []),
          ...(i < stages.length - 1 ? Object.values(NEXT).filter((n) => !stage.outputNames.includes(n)) : []),
        ];
        if (missing.length > 0) throw new Error(`stage ${i} (${paths[i]}) lacks ${missing.join(', ')}`);
      });
    } catch (error) {
      await Promise.all(stages.map((s) => s.release()));
      throw error;
    }
    return new StagedSession(stages);
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    let out = await this.stages[0]!.run(feeds);
    for (const stage of this.stages.slice(1)) {
      const pair = out[NEXT.pair]!;
      const pairFlow = out[NEXT.pairFlow]!;
      const [, channels, h, w] = pair.dims as number[];
      if (channels !== 6 || pairFlow.dims[2] !== h || pairFlow.dims[3] !== w) {
        throw new Error(`a stage returned pair ${pair.dims.join('x')} and flow ${pairFlow.dims.join('x')}`);
      }
      const warped = new Float32Array(6 * h! * w!);
      native.warpPair(pair.data as Float32Array, pairFlow.data as Float32Array, w!, h!, warped);
      out = await stage.run({
        ...feeds,
        flow_mask: out[NEXT.flowMask]!,
        pair_flow: pairFlow,
        warped_pair: new ort.Tensor('float32', warped, pair.dims),
      });
    }
    return out;
  }

  async release(): Promise<void> {
    await Promise.all(this.stages.map((s) => s.release()));
  }
}
