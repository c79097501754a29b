import { lkRefineAddon, warpPairAddon } from './native.js';
import { buildOnnxModel } from './onnx-builder.js';
import { ort } from './ort.js';
import type { LkPyramid, RunScope, Session } from './session.js';

// The graphs' input and output names are fixed by the exported files (train/export_stages.py, which
// says "stage" for a part: the training side keeps its word, the engine uses "part" since a "stage" is
// a pipeline step here).

/** What each part hands to the next. */
const NEXT = { flowMask: 'next_flow_mask', pair: 'next_pair', pairFlow: 'next_pair_flow' } as const;
const FROM_PREVIOUS = ['flow_mask', 'pair_flow', 'warped_pair'] as const;
/** What a part followed by Lucas-Kanade steps hands to them: the grey pair and the flows at its block's scale. */
const LK = { pair: 'lk_pair', flow: 'lk_flow' } as const;
/**
 * What the first part hands to the Lucas-Kanade pyramid: the grey pair at its
 * block's scale. A first part with it computes no flows of its own (the
 * pyramid's replace them), so it runs only with the card's `lkPyramid`.
 */
const PYRAMID_PAIR = 'pyramid_pair';

/**
 * An interpolator cut into one ONNX graph per IFBlock (its parts), run in
 * order with the backward warp between blocks done natively
 * (native/warp-pair.c).
 *
 * Why: inside one graph that warp is ONNX Runtime's GridSample, a large share
 * of `fast`'s network time; natively it costs next to nothing (see
 * bench/RESULTS.md, Network alone). Each part hands on the running flow and
 * mask, the frame pair at the next block's scale and the flow at that scale;
 * the warped pair goes into the next part beside them. The result equals the
 * single graph's up to float rounding (test/engine/runtime/parted-session.test.ts).
 *
 * A model whose card says `lk` (steps per part) has Lucas-Kanade steps
 * after some blocks (train/ifnet.py's lk_refine); those run natively too
 * (native/lk-refine.c): a part followed by them also outputs `lk_pair` and
 * `lk_flow`, and the change they make to `lk_flow` is upsampled into the
 * running flows before the next block's flows are pooled and its pair warped.
 * A card with `lkPyramid` gives the first block Lucas-Kanade's flows from
 * zero flow instead of its own (train/ifnet.py's lk_pyramid_flow), also
 * natively: the first part outputs `pyramid_pair`, and its flows in
 * `next_flow_mask` (zeros: the part leaves out the work they took) are
 * replaced, and all of `next_pair_flow` pooled from them again. In
 * the graph those dozen steps on tiny images were a large share of the first
 * part (GridSample and a few hundred small nodes).
 *
 * A run may stop after its first parts (`RunScope.parts`): the running
 * field they leave, at the working resolution as every part hands it on,
 * is the answer (its mask logit through a sigmoid, as the last part does,
 * in a small graph of its own: `fieldGraph`).
 *
 * Runs where its caller runs: the engine creates it inside an inference
 * thread (ort-session-worker.ts), like a plain session.
 */
export class PartedSession implements Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];

  /** The card's pyramid, its pools as the native call takes them. */
  private readonly pyramid?: { pools: Int32Array; steps: number };

  private constructor(
    private readonly graphs: ort.InferenceSession[],
    private readonly lkSteps: readonly number[],
    /** Turns a running field (`next_flow_mask`) into `flow` and `mask`, for runs that stop early. */
    private readonly field: ort.InferenceSession,
    pyramid?: LkPyramid,
  ) {
    if (pyramid) this.pyramid = { pools: Int32Array.from(pyramid.pools), steps: pyramid.steps };
    this.inputNames = graphs[0]!.inputNames;
    this.outputNames = graphs.at(-1)!.outputNames;
  }

  /** How many parts the model has. */
  get parts(): number {
    return this.graphs.length;
  }

  /**
   * Loads the part graphs (in order), with `lkSteps[i]` Lucas-Kanade steps
   * after part i and, with `pyramid`, the first block's flows from it;
   * rejects, naming the part, when one does not follow the contract.
   */
  static async create(
    paths: readonly string[],
    options: ort.InferenceSession.SessionOptions,
    lkSteps: readonly number[] = [],
    pyramid?: LkPyramid,
  ): Promise<PartedSession> {
    if (paths.length < 2) throw new Error(`a model in parts needs at least two parts (got ${paths.length})`);
    if (lkSteps.length > paths.length || !lkSteps.every((n) => Number.isInteger(n) && n >= 0 && n <= 16)) {
      throw new Error(`lk must list at most one step count (0-16) per part, got [${lkSteps.join(', ')}]`);
    }
    if (pyramid) {
      const { pools, steps } = pyramid;
      const chained = Array.isArray(pools) && pools.length >= 1 && pools.length <= 8 && pools.every((q, k) => Number.isInteger(q) && q >= 1 && (k === 0 || pools[k - 1]! % q === 0));
      if (!chained || !(Number.isInteger(steps) && steps >= 0 && steps <= 16)) {
        throw new Error('lkPyramid must be { pools: 1-8 pool factors, each dividing the one before; steps: 0-16 }');
      }
      if ((lkSteps[0] ?? 0) > 0) throw new Error('lkPyramid replaces the first block\'s flows: the first part cannot also have lk steps');
    }
    const parts: ort.InferenceSession[] = [];
    try {
      for (const path of paths) parts.push(await ort.InferenceSession.create(path, options));
      parts.forEach((part, i) => {
        const missing = [
          ...(i > 0 ? FROM_PREVIOUS.filter((n) => !part.inputNames.includes(n)) : []),
          ...(i < parts.length - 1 ? Object.values(NEXT).filter((n) => !part.outputNames.includes(n)) : []),
          ...((lkSteps[i] ?? 0) > 0 ? Object.values(LK).filter((n) => !part.outputNames.includes(n)) : []),
          ...(i === 0 && pyramid && !part.outputNames.includes(PYRAMID_PAIR) ? [PYRAMID_PAIR] : []),
        ];
        if (missing.length > 0) throw new Error(`part ${i} (${paths[i]}) lacks ${missing.join(', ')}`);
        if (i === 0 && !pyramid && part.outputNames.includes(PYRAMID_PAIR)) {
          throw new Error(`part 0 (${paths[i]}) outputs pyramid_pair: its flows come from the Lucas-Kanade pyramid, which the card must give (lkPyramid)`);
        }
      });
      parts.push(await ort.InferenceSession.create(fieldGraph(), options));
    } catch (error) {
      await Promise.all(parts.map((s) => s.release()));
      throw error;
    }
    const field = parts.pop()!;
    return new PartedSession(parts, lkSteps, field, pyramid);
  }

  async run(feeds: Record<string, ort.Tensor>, options: RunScope = {}): Promise<Record<string, ort.Tensor>> {
    const count = options.parts ?? this.graphs.length;
    if (!(Number.isInteger(count) && count >= 1 && count <= this.graphs.length)) {
      throw new Error(`cannot run ${count} of the model's ${this.graphs.length} parts`);
    }
    const t = (feeds.timestep?.data as Float32Array | undefined)?.[0] ?? 0.5;
    let out = this.refine(0, this.firstFlows(await this.graphs[0]!.run(feeds), t), t);
    for (const [k, part] of this.graphs.slice(1, count).entries()) {
      const pair = out[NEXT.pair]!;
      const pairFlow = out[NEXT.pairFlow]!;
      const [, channels, h, w] = pair.dims as number[];
      if (channels !== 6 || pairFlow.dims[2] !== h || pairFlow.dims[3] !== w) {
        throw new Error(`a part returned pair ${pair.dims.join('x')} and flow ${pairFlow.dims.join('x')}`);
      }
      const warped = new Float32Array(6 * h! * w!);
      warpPairAddon.warpPair(pair.data as Float32Array, pairFlow.data as Float32Array, w!, h!, warped);
      out = await part.run({
        ...feeds,
        flow_mask: out[NEXT.flowMask]!,
        pair_flow: pairFlow,
        warped_pair: new ort.Tensor('float32', warped, pair.dims),
      });
      out = this.refine(k + 1, out, t);
    }
    return count < this.graphs.length ? this.field.run({ flow_mask: out[NEXT.flowMask]! }) : out;
  }

  /**
   * The first part's outputs with its flows replaced by the pyramid's, where
   * the card has one, and the second block's flows pooled from them again.
   */
  private firstFlows(out: Record<string, ort.Tensor>, t: number): Record<string, ort.Tensor> {
    if (!this.pyramid) return out;
    const grey = out[PYRAMID_PAIR]!;
    const running = out[NEXT.flowMask]!;
    const next = out[NEXT.pairFlow]!;
    const [, channels, h, w] = grey.dims as number[];
    const [, , H, W] = running.dims as number[];
    const { pools, steps } = this.pyramid;
    const last = pools.at(-1)!;
    const up = (W! * last) / w!;
    const nextScale = W! / (next.dims[3] as number);
    if (channels !== 2 || !Number.isInteger(up) || H! * last !== h! * up || !Number.isInteger(nextScale)) {
      throw new Error(`part 0 returned pyramid_pair ${grey.dims.join('x')} for flows ${running.dims.join('x')}`);
    }
    lkRefineAddon.lkPyramid(grey.data as Float32Array, w!, h!, t, steps, pools, running.data as Float32Array, up, next.data as Float32Array, nextScale);
    return out;
  }

  /**
   * Part i's outputs after its Lucas-Kanade steps, if it has any: the
   * running flows (next_flow_mask, or the last part's flow) corrected in
   * place and, before a next part, next_pair_flow pooled from them again.
   */
  private refine(i: number, out: Record<string, ort.Tensor>, t: number): Record<string, ort.Tensor> {
    const steps = this.lkSteps[i] ?? 0;
    if (steps === 0) return out;
    const last = i === this.graphs.length - 1;
    const running = out[last ? 'flow' : NEXT.flowMask]!;
    const grey = out[LK.pair]!;
    const flow = out[LK.flow]!;
    const [, , h, w] = flow.dims as number[];
    const [, , H, W] = running.dims as number[];
    const scale = W! / w!;
    if (grey.dims[1] !== 2 || grey.dims[2] !== h || grey.dims[3] !== w || !Number.isInteger(scale) || H! !== h! * scale) {
      throw new Error(`part ${i} returned lk_pair ${grey.dims.join('x')}, lk_flow ${flow.dims.join('x')} for flows ${running.dims.join('x')}`);
    }
    if (last) {
      lkRefineAddon.lkStage(grey.data as Float32Array, flow.data as Float32Array, w!, h!, t, steps, running.data as Float32Array, scale);
    } else {
      const pairFlow = out[NEXT.pairFlow]!;
      const next = W! / (pairFlow.dims[3] as number);
      lkRefineAddon.lkStage(grey.data as Float32Array, flow.data as Float32Array, w!, h!, t, steps, running.data as Float32Array, scale, pairFlow.data as Float32Array, next);
    }
    return out;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.graphs, this.field].map((s) => s.release()));
  }
}

/** `flow_mask` [1,5,h,w] (4 flow channels, the mask's logit) -> `flow` [1,4,h,w], `mask` = sigmoid [1,1,h,w]. */
function fieldGraph(): Uint8Array {
  const ints = (name: string, values: number[]) => ({ name, dims: [values.length], type: 'int64' as const, values });
  return buildOnnxModel({
    name: 'running_field',
    inputs: [{ name: 'flow_mask', dims: [1, 5, 'h', 'w'] }],
    outputs: [
      { name: 'flow', dims: [1, 4, 'h', 'w'] },
      { name: 'mask', dims: [1, 1, 'h', 'w'] },
    ],
    initializers: [ints('zero', [0]), ints('four', [4]), ints('five', [5]), ints('axis', [1])],
    nodes: [
      { op: 'Slice', inputs: ['flow_mask', 'zero', 'four', 'axis'], outputs: ['flow'] },
      { op: 'Slice', inputs: ['flow_mask', 'four', 'five', 'axis'], outputs: ['logit'] },
      { op: 'Sigmoid', inputs: ['logit'], outputs: ['mask'] },
    ],
  });
}
