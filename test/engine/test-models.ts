import { buildOnnxModel, type GraphSpec, type Initializer } from '../../src/engine/runtime/onnx-builder.js';

/**
 * A fake interpolator with a real model's shape constraints: it only
 * accepts sizes divisible by 32 (SpaceToDepth/DepthToSpace round trip fails
 * otherwise), returns the blend of its inputs as `frame`, and also has `flow`
 * ([1,4,H/4,W/4]) and `mask` ([1,1,H/4,W/4]) outputs.
 */
export function padSensitiveModel(): Uint8Array {
  const image = [1, 3, 'height', 'width'];
  const quarter = [1, 'c', 'qh', 'qw'];
  return buildOnnxModel({
    name: 'pad-sensitive-blend',
    inputs: [
      { name: 'img0', dims: image },
      { name: 'img1', dims: image },
      { name: 'timestep', dims: [1, 1, 1, 1] },
    ],
    outputs: [
      { name: 'frame', dims: image },
      { name: 'flow', dims: quarter },
      { name: 'mask', dims: quarter },
    ],
    initializers: [
      { name: 'c0', dims: [1], type: 'int64', values: [0] },
      { name: 'c1', dims: [1], type: 'int64', values: [1] },
      { name: 'c4', dims: [1], type: 'int64', values: [4] },
      { name: 'axis1', dims: [1], type: 'int64', values: [1] },
    ],
    nodes: [
      { op: 'SpaceToDepth', inputs: ['img0'], outputs: ['s0'], attributes: { blocksize: 32 } },
      { op: 'DepthToSpace', inputs: ['s0'], outputs: ['a'], attributes: { blocksize: 32 } },
      { op: 'SpaceToDepth', inputs: ['img1'], outputs: ['s1'], attributes: { blocksize: 32 } },
      { op: 'DepthToSpace', inputs: ['s1'], outputs: ['b'], attributes: { blocksize: 32 } },
      { op: 'Sub', inputs: ['b', 'a'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'timestep'], outputs: ['step'] },
      { op: 'Add', inputs: ['a', 'step'], outputs: ['frame'] },
      { op: 'Concat', inputs: ['a', 'b'], outputs: ['both'], attributes: { axis: 1 } },
      { op: 'Slice', inputs: ['both', 'c0', 'c4', 'axis1'], outputs: ['four'] },
      { op: 'AveragePool', inputs: ['four'], outputs: ['flow'], attributes: { kernel_shape: [4, 4], strides: [4, 4] } },
      { op: 'Slice', inputs: ['both', 'c0', 'c1', 'axis1'], outputs: ['one'] },
      { op: 'AveragePool', inputs: ['one'], outputs: ['pooled'], attributes: { kernel_shape: [4, 4], strides: [4, 4] } },
      { op: 'Sigmoid', inputs: ['pooled'], outputs: ['mask'] },
    ],
  });
}

/** A graph of no known input layout (one 5-channel input), to check the contract is enforced. */
export function wrongContractModel(): Uint8Array {
  return buildOnnxModel({
    name: 'wrong',
    inputs: [{ name: 'input', dims: [1, 5, 'h', 'w'] }],
    outputs: [{ name: 'output', dims: [1, 5, 'h', 'w'] }],
    nodes: [{ op: 'Identity', inputs: ['input'], outputs: ['output'] }],
  });
}

/**
 * A flow-only model for engine synthesis (card: synthesis "engine"): zero
 * flow and a constant 0.5 mask, so the engine's warp+blend must reproduce a
 * plain blend. Its outputs have the input's size, like a model run on
 * reduced inputs that estimates flow at its input resolution.
 */
export function zeroFlowModel(): Uint8Array {
  return constantFlowModel(0);
}

/** Like zeroFlowModel, with every flow component `px` pixels (of the model's input) instead of 0. */
export function constantFlowModel(px: number): Uint8Array {
  const image = [1, 3, 'height', 'width'];
  return buildOnnxModel({
    name: 'zero-flow',
    inputs: [
      { name: 'img0', dims: image },
      { name: 'img1', dims: image },
      { name: 'timestep', dims: [1, 1, 1, 1] },
    ],
    outputs: [
      { name: 'flow', dims: [1, 4, 'height', 'width'] },
      { name: 'mask', dims: [1, 1, 'height', 'width'] },
    ],
    initializers: [
      { name: 'c0', dims: [1], type: 'int64', values: [0] },
      { name: 'c1', dims: [1], type: 'int64', values: [1] },
      { name: 'c2', dims: [1], type: 'int64', values: [2] },
      { name: 'axis1', dims: [1], type: 'int64', values: [1] },
      { name: 'zero', dims: [], type: 'float', values: [0] },
      { name: 'half', dims: [], type: 'float', values: [0.5] },
      { name: 'px', dims: [], type: 'float', values: [px] },
    ],
    nodes: [
      { op: 'Slice', inputs: ['img0', 'c0', 'c2', 'axis1'], outputs: ['a2'] },
      { op: 'Slice', inputs: ['img1', 'c0', 'c2', 'axis1'], outputs: ['b2'] },
      { op: 'Concat', inputs: ['a2', 'b2'], outputs: ['four'], attributes: { axis: 1 } },
      { op: 'Mul', inputs: ['four', 'zero'], outputs: ['noFlow'] },
      { op: 'Add', inputs: ['noFlow', 'px'], outputs: ['flow'] },
      { op: 'Slice', inputs: ['img0', 'c0', 'c1', 'axis1'], outputs: ['one'] },
      { op: 'Mul', inputs: ['one', 'zero'], outputs: ['nothing'] },
      { op: 'Add', inputs: ['nothing', 'half'], outputs: ['mask'] },
    ],
  });
}

/**
 * A graph in a community RIFE layout (engine/model/rife-formats.ts): one
 * `input` [1,channels,H,W] in `type`, output 0 `output` [1,3,H,W] =
 * img0·(1−t) + img1·t from the packed channels, so a wrong channel order or
 * t shows. With `extras`, the channels after t are added with distinct
 * weights (channel 7 + 2·ch8 + 4·ch9 + 8·ch10, or 100·(scale − 1) for 8
 * channels), so that a wrong plane shows too.
 */
export function packedRifeModel(channels: 7 | 8 | 11, type: 'float' | 'float16' = 'float', extras = false): Uint8Array {
  const dims = [1, channels, 'height', 'width'];
  const slice = (from: number, to: number, out: string) => [
    { op: 'Slice', inputs: ['x', `c${from}`, `c${to}`, 'c1'], outputs: [out] },
  ];
  const initializers: Initializer[] = [0, 1, 3, 6, 7, 8, 11].map((n) => ({ name: `c${n}`, dims: [1], type: 'int64', values: [n] }));
  const nodes: GraphSpec['nodes'] = [
    type === 'float16' ? { op: 'Cast', inputs: ['input'], outputs: ['x'], attributes: { to: 1 } } : { op: 'Identity', inputs: ['input'], outputs: ['x'] },
    ...slice(0, 3, 'a'),
    ...slice(3, 6, 'b'),
    ...slice(6, 7, 't'),
    { op: 'Sub', inputs: ['b', 'a'], outputs: ['d'] },
    { op: 'Mul', inputs: ['d', 't'], outputs: ['step'] },
    { op: 'Add', inputs: ['a', 'step'], outputs: ['blend'] },
  ];
  let frame = 'blend';
  if (extras && channels === 8) {
    initializers.push({ name: 'k', dims: [], type: 'float', values: [100] }, { name: 'one', dims: [], type: 'float', values: [1] });
    nodes.push(...slice(7, 8, 's'), { op: 'Sub', inputs: ['s', 'one'], outputs: ['s1'] }, { op: 'Mul', inputs: ['s1', 'k'], outputs: ['ks'] }, { op: 'Add', inputs: ['blend', 'ks'], outputs: ['withExtras'] });
    frame = 'withExtras';
  }
  if (extras && channels === 11) {
    initializers.push({ name: 'weights', dims: [1, 4, 1, 1], type: 'float', values: [1, 2, 4, 8] }, { name: 'axis1', dims: [1], type: 'int64', values: [1] });
    nodes.push(
      ...slice(7, 11, 'grid'),
      { op: 'Mul', inputs: ['grid', 'weights'], outputs: ['weighted'] },
      { op: 'ReduceSum', inputs: ['weighted', 'axis1'], outputs: ['sum'], attributes: { keepdims: 1 } },
      { op: 'Add', inputs: ['blend', 'sum'], outputs: ['withExtras'] },
    );
    frame = 'withExtras';
  }
  nodes.push(type === 'float16' ? { op: 'Cast', inputs: [frame], outputs: ['output'], attributes: { to: 10 } } : { op: 'Identity', inputs: [frame], outputs: ['output'] });
  return buildOnnxModel({
    name: `packed-${channels}`,
    inputs: [{ name: 'input', dims, type }],
    outputs: [{ name: 'output', dims: [1, 3, 'height', 'width'], type }],
    initializers,
    nodes,
  });
}

/**
 * `model` (ONNX bytes) with every float initializer of at least `minValues`
 * values (the weights, not the small constants shapes and scales are made
 * of) set to NaN, in place: a graph that loads and runs but computes
 * nothing. Returns the bytes and how many initializers were changed.
 */
export function withNanWeights(model: Uint8Array, minValues = 64): { bytes: Uint8Array; changed: number } {
  const bytes = Uint8Array.from(model);
  let changed = 0;
  // ModelProto.graph = 7, GraphProto.initializer = 5; TensorProto: data_type = 2 (1 = float), float_data = 4, raw_data = 9.
  for (const graph of fields(bytes, 0, bytes.length).filter((f) => f.field === 7)) {
    for (const tensor of fields(bytes, graph.start, graph.end).filter((f) => f.field === 5)) {
      const parts = fields(bytes, tensor.start, tensor.end);
      if (parts.find((f) => f.field === 2)?.value !== 1) continue;
      const data = parts.find((f) => (f.field === 9 || f.field === 4) && f.end > f.start);
      if (!data || data.end - data.start < 4 * minValues) continue;
      const view = new DataView(bytes.buffer);
      for (let at = data.start; at + 4 <= data.end; at += 4) view.setFloat32(at, Number.NaN, true);
      changed++;
    }
  }
  return { bytes, changed };
}

/** The protobuf fields in `bytes[start, end)`: varints with their value, length-delimited ones with their span. */
function fields(bytes: Uint8Array, start: number, end: number): { field: number; value?: number; start: number; end: number }[] {
  const out: { field: number; value?: number; start: number; end: number }[] = [];
  let at = start;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) return value;
    }
  };
  while (at < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) out.push({ field, value: varint(), start: at, end: at });
    else if (wire === 2) {
      const length = varint();
      out.push({ field, start: at, end: at + length });
      at += length;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`protobuf wire type ${wire} at ${at}`);
  }
  return out;
}
