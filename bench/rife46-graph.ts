/**
 * A graph with the architecture of RIFE v4.6 (Practical-RIFE's IFNet_HDv3)
 * and random weights, in frc's contract (img0, img1, timestep → frame), for
 * timing a RIFE-class network where no trained file may be shipped or
 * fetched (bench/gpu-check.ts). Its output is noise; its cost is the
 * network's: a feature encoder (conv 3→16 stride 2, transposed conv 16→4)
 * on each frame, then four IFBlocks at 1/8, 1/4, 1/2 and 1/1 of the frame
 * (widths 192, 128, 96, 64), each two stride-2 convs, eight 3x3 convs with a
 * residual, a transposed conv and a pixel shuffle, the flows and mask
 * resized back to the frame, and backward warps (GridSample) of the frames
 * and features between blocks; then the mask blend. Activations are leaky
 * ReLU. It follows the published layer list, not the checkpoint's exact
 * tensors: close in cost, not a model.
 */
import { buildOnnxModel, type GraphSpec, type Initializer } from '../src/engine/runtime/onnx-builder.js';

const SCALES = [8, 4, 2, 1];
const WIDTHS = [192, 128, 96, 64];

export function rife46Graph(seed = 1): Uint8Array {
  let state = seed;
  // A small LCG: the weights only need to be reproducible and small, not good.
  const random = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const initializers: Initializer[] = [];
  const nodes: GraphSpec['nodes'] = [];
  let n = 0;
  const name = (prefix: string) => `${prefix}${n++}`;
  const constant = (values: number[], dims: number[], type: 'float' | 'int64' = 'float') => {
    const id = name('k');
    initializers.push({ name: id, dims, type, values });
    return id;
  };
  const op = (type: string, inputs: string[], attributes?: GraphSpec['nodes'][number]['attributes']) => {
    const out = name(type);
    nodes.push({ op: type, inputs, outputs: [out], ...(attributes ? { attributes } : {}) });
    return out;
  };
  const weights = (dims: number[], fanIn: number) => {
    const count = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    const bound = Math.sqrt(1 / fanIn);
    for (let i = 0; i < count; i++) values[i] = random() * bound;
    const id = name('w');
    initializers.push({ name: id, dims, type: 'float', values });
    return id;
  };
  const conv = (x: string, cin: number, cout: number, stride = 1, act = true) => {
    const y = op('Conv', [x, weights([cout, cin, 3, 3], cin * 9), weights([cout], cin * 9)], { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1] });
    return act ? op('LeakyRelu', [y], { alpha: { float: 0.2 } }) : y;
  };
  const deconv = (x: string, cin: number, cout: number) =>
    op('ConvTranspose', [x, weights([cin, cout, 4, 4], cin * 16), weights([cout], cin * 16)], { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] });
  const resize = (x: string, factor: number) => op('Resize', [x, '', constant([1, 1, factor, factor], [4])], { mode: { string: 'linear' } });
  const slice = (x: string, from: number, to: number) => op('Slice', [x, constant([from], [1], 'int64'), constant([to], [1], 'int64'), constant([1], [1], 'int64')]);
  const concat = (xs: string[]) => op('Concat', xs, { axis: 1 });

  // The frame's sampling grid in GridSample's -1..1 units, and the factors from pixels to those units.
  const zero = constant([0], []);
  const one = constant([1], []);
  const two = constant([2], []);
  const shape = op('Shape', ['img0']);
  const zeros = op('Mul', [slice('img0', 0, 1), zero]);
  const axisGrid = (axis: number, reshape: number[]) => {
    const size = op('Cast', [op('Gather', [shape, constant([axis], [], 'int64')], { axis: 0 })], { to: 1 });
    const step = op('Div', [two, op('Sub', [size, one])]);
    const line = op('Sub', [op('Mul', [op('Range', [zero, size, one]), step]), one]);
    return { plane: op('Add', [zeros, op('Reshape', [line, constant(reshape, [4], 'int64')])]), step };
  };
  const gx = axisGrid(3, [1, 1, 1, -1]);
  const gy = axisGrid(2, [1, 1, -1, 1]);
  const base = concat([gx.plane, gy.plane]);
  const unitsPerPixel = concat([op('Reshape', [gx.step, constant([1, 1, 1, 1], [4], 'int64')]), op('Reshape', [gy.step, constant([1, 1, 1, 1], [4], 'int64')])]);
  const warp = (x: string, flow2: string) => {
    const grid = op('Transpose', [op('Add', [base, op('Mul', [flow2, unitsPerPixel])])], { perm: [0, 2, 3, 1] });
    return op('GridSample', [x, grid], { mode: { string: 'bilinear' }, padding_mode: { string: 'border' }, align_corners: 1 });
  };

  const tPlane = op('Add', [zeros, 'timestep']);
  const encode = (x: string) => deconv(conv(x, 3, 16, 2, false), 16, 4);
  const f0 = encode('img0');
  const f1 = encode('img1');
  let flow: string | undefined;
  let mask: string | undefined;
  let warped0 = 'img0';
  let warped1 = 'img1';
  SCALES.forEach((scale, i) => {
    const cin = i === 0 ? 15 : 20;
    const c = WIDTHS[i]!;
    let x = i === 0 ? concat(['img0', 'img1', f0, f1, tPlane]) : concat([warped0, warped1, warp(f0, slice(flow!, 0, 2)), warp(f1, slice(flow!, 2, 4)), tPlane, mask!, flow!]);
    if (scale !== 1) x = resize(x, 1 / scale);
    const feat = conv(conv(x, cin, c / 2, 2), c / 2, c, 2);
    let body = feat;
    for (let k = 0; k < 8; k++) body = conv(body, c, c);
    let tmp = op('DepthToSpace', [deconv(op('Add', [body, feat]), c, 24)], { blocksize: 2 });
    if (scale !== 1) tmp = resize(tmp, scale);
    const delta = op('Mul', [slice(tmp, 0, 4), constant([scale], [])]);
    flow = flow ? op('Add', [flow, delta]) : delta;
    mask = slice(tmp, 4, 5);
    warped0 = warp('img0', slice(flow, 0, 2));
    warped1 = warp('img1', slice(flow, 2, 4));
  });
  const m = op('Sigmoid', [mask!]);
  const blended = op('Add', [op('Mul', [warped0, m]), op('Mul', [warped1, op('Sub', [one, m])])]);
  nodes.push({ op: 'Identity', inputs: [blended], outputs: ['frame'] });
  const image = [1, 3, 'height', 'width'];
  return buildOnnxModel({
    name: 'rife46-architecture-random',
    inputs: [
      { name: 'img0', dims: image },
      { name: 'img1', dims: image },
      { name: 'timestep', dims: [1, 1, 1, 1] },
    ],
    outputs: [{ name: 'frame', dims: image }],
    initializers,
    nodes,
  });
}
