import { ifBlockAddon, type NativeBlock } from './native.js';
import { buildOnnxModel } from './onnx-builder.js';
import { ort } from './ort.js';
import type { ModelParts, PartBlock, RunScope, Session } from './session.js';

/** Each part's only input and output (train/export_stages.py, which says "stage" for a part). */
const BLOCK_IN = 'block_in';
const BLOCK_OUT = 'block_out';

/** Memory a run reuses, for one working size: each part's input and grey pair, and the running field. */
interface RunBuffers {
  width: number;
  height: number;
  blockIn: Float32Array[];
  grey: Float32Array[];
  running: Float32Array;
}

/**
 * An interpolator cut into one ONNX graph per IFBlock, each holding only the
 * block's convolutions (its part), run in order with everything else done
 * natively between them (native/ifblock.c): the pooled pair, the backward
 * warp by the running flows, the matching cost, the soft-argmin matcher, the
 * upsampling, the Lucas-Kanade steps after a block (the card's `lk`) and the
 * first block's Lucas-Kanade pyramid (the card's `lkPyramid`; that block's
 * part then computes only the mask).
 *
 * Why: at the engine's working sizes ONNX Runtime spent about half of each
 * block's time on that work, a few hundred small nodes (GridSample, pads,
 * pools, reductions, concatenations, resizes); natively it costs a fraction
 * of that (bench/synthesis.ts, the network's steps; bench/model-parts.ts). The
 * result equals the single graph's up to float rounding
 * (test/engine/runtime/parted-session.test.ts).
 *
 * Each part reads `block_in` [1, channels, H/scale, W/scale] and answers
 * `block_out` [1, 5, H/(2 scale), W/(2 scale)] (flows and mask logit to add),
 * or [1, 1, ...] (the mask alone) for a first block with the pyramid. The
 * running field (4 flow planes and the mask logit at the working
 * resolution W x H) goes from block to block in this session's memory.
 *
 * A run may stop after its first parts (`RunScope.parts`): the running
 * field they leave is the answer (its mask logit through a sigmoid, as the
 * whole model does, in a small graph of its own: `fieldGraph`).
 *
 * Runs where its caller runs: the engine creates it inside an inference
 * thread (ort-session-worker.ts), like a plain session.
 */
export class PartedSession implements Session {
  readonly inputNames = ['img0', 'img1', 'timestep'] as const;
  readonly outputNames = ['flow', 'mask'] as const;
  /** Memory of finished runs, for the next: a run in flight holds its own. */
  private spare: RunBuffers[] = [];

  private constructor(
    private readonly graphs: ort.InferenceSession[],
    private readonly blocks: NativeBlock[],
    /** The card's entry for each part: its input's channels and scale. */
    private readonly settings: readonly PartBlock[],
    /** Turns the running field into `flow` and `mask`. */
    private readonly field: ort.InferenceSession,
  ) {}

  /** How many parts the model has. */
  get parts(): number {
    return this.graphs.length;
  }

  /**
   * Loads the part graphs (in order) with their blocks' settings; rejects,
   * naming the part, when one does not follow the contract.
   */
  static async create(model: ModelParts, options: ort.InferenceSession.SessionOptions): Promise<PartedSession> {
    const { parts: paths, blocks, lk = [], lkPyramid: pyramid } = model;
    if (paths.length < 2) throw new Error(`a model in parts needs at least two parts (got ${paths.length})`);
    if (!Array.isArray(blocks) || blocks.length !== paths.length) throw new Error(`the card needs one entry in blocks per part (${paths.length}), got ${Array.isArray(blocks) ? blocks.length : 'none'}`);
    if (lk.length > paths.length || !lk.every((n) => Number.isInteger(n) && n >= 0 && n <= 16)) {
      throw new Error(`lk must list at most one step count (0-16) per part, got [${lk.join(', ')}]`);
    }
    if (pyramid) {
      const { pools, steps } = pyramid;
      const chained = Array.isArray(pools) && pools.length >= 1 && pools.length <= 8 && pools.every((q, k) => Number.isInteger(q) && q >= 1 && (k === 0 || pools[k - 1]! % q === 0));
      if (!chained || !(Number.isInteger(steps) && steps >= 0 && steps <= 16)) {
        throw new Error('lkPyramid must be { pools: 1-8 pool factors, each dividing the one before; steps: 0-16 }');
      }
      if ((lk[0] ?? 0) > 0) throw new Error('lkPyramid replaces the first block\'s flows: the first part cannot also have lk steps');
    }
    const native = blocks.map((b, i) => {
      try {
        return ifBlockAddon.createBlock({
          ...b,
          first: i === 0,
          lkSteps: lk[i] ?? 0,
          ...(i === 0 && pyramid ? { pyramid: { pools: Int32Array.from(pyramid.pools), steps: pyramid.steps } } : {}),
        });
      } catch (error) {
        throw new Error(`block ${i} of the card: ${(error as Error).message}`);
      }
    });
    const graphs: ort.InferenceSession[] = [];
    try {
      for (const path of paths) graphs.push(await ort.InferenceSession.create(path, options));
      graphs.forEach((part, i) => {
        if (!part.inputNames.includes(BLOCK_IN) || !part.outputNames.includes(BLOCK_OUT)) {
          throw new Error(`part ${i} (${paths[i]}) is not a block's convolutions: it must read ${BLOCK_IN} and answer ${BLOCK_OUT} (train/export_stages.py)`);
        }
        const input = part.inputMetadata.find((m) => m.name === BLOCK_IN);
        const channels = input?.isTensor ? input.shape[1] : undefined;
        if (typeof channels === 'number' && channels !== blocks[i]!.channels) {
          throw new Error(`part ${i} (${paths[i]}) reads ${channels} channels, its block in the card says ${blocks[i]!.channels}`);
        }
        const output = part.outputMetadata.find((m) => m.name === BLOCK_OUT);
        const maskOnly = output?.isTensor && output.shape[1] === 1;
        if (i === 0 && maskOnly && !pyramid) {
          throw new Error(`part 0 (${paths[i]}) computes the mask alone: its flows come from the Lucas-Kanade pyramid, which the card must give (lkPyramid)`);
        }
        if (i === 0 && pyramid && !maskOnly) throw new Error(`part 0 (${paths[i]}) computes flows of its own: a first part for the Lucas-Kanade pyramid (lkPyramid) computes the mask alone`);
      });
      graphs.push(await ort.InferenceSession.create(fieldGraph(), options));
    } catch (error) {
      await Promise.all(graphs.map((s) => s.release()));
      throw error;
    }
    const field = graphs.pop()!;
    return new PartedSession(graphs, native, blocks, field);
  }

  async run(feeds: Record<string, ort.Tensor>, options: RunScope = {}): Promise<Record<string, ort.Tensor>> {
    const count = options.parts ?? this.graphs.length;
    if (!(Number.isInteger(count) && count >= 1 && count <= this.graphs.length)) {
      throw new Error(`cannot run ${count} of the model's ${this.graphs.length} parts`);
    }
    const [img0, img1] = [feeds.img0, feeds.img1];
    if (!img0 || !img1 || img0.dims.length !== 4 || img0.dims[1] !== 3 || img1.dims.join() !== img0.dims.join()) {
      throw new Error(`a model in parts takes img0 and img1 of [1,3,h,w] alike, got ${img0?.dims.join('x')} and ${img1?.dims.join('x')}`);
    }
    const [height, width] = [img0.dims[2]!, img0.dims[3]!];
    const t = (feeds.timestep?.data as Float32Array | undefined)?.[0] ?? 0.5;
    const b = this.takeBuffers(width, height);
    try {
      return await this.runParts(b, img0, img1, t, count);
    } finally {
      this.spare = [...this.spare.slice(-1), b];
    }
  }

  private async runParts(b: RunBuffers, img0: ort.Tensor, img1: ort.Tensor, t: number, count: number): Promise<Record<string, ort.Tensor>> {
    const { width, height } = b;
    for (let i = 0; i < count; i++) {
      const { scale, channels } = this.settings[i]!;
      ifBlockAddon.blockInput(this.blocks[i]!, img0.data as Float32Array, img1.data as Float32Array, width, height, t, i === 0 ? null : b.running, b.blockIn[i]!, b.grey[i]!);
      const input = new ort.Tensor('float32', b.blockIn[i]!, [1, channels, height / scale, width / scale]);
      const out = (await this.graphs[i]!.run({ [BLOCK_IN]: input }))[BLOCK_OUT]!;
      ifBlockAddon.blockOutput(this.blocks[i]!, out.data as Float32Array, b.blockIn[i]!, b.grey[i]!, width, height, t, b.running);
    }
    // the field graph's outputs are its own arrays: the running field's memory serves the next run
    return this.field.run({ flow_mask: new ort.Tensor('float32', b.running, [1, 5, height, width]) });
  }

  /** A run's memory for this size: a finished run's while the size stays (a live stream's does), else new. */
  private takeBuffers(width: number, height: number): RunBuffers {
    const i = this.spare.findIndex((b) => b.width === width && b.height === height);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    const size = ({ scale }: PartBlock) => (width / scale) * (height / scale);
    return {
      width,
      height,
      blockIn: this.settings.map((block) => new Float32Array(block.channels * size(block))),
      grey: this.settings.map((block) => new Float32Array(2 * size(block))),
      running: new Float32Array(5 * width * height),
    };
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
