import { buildOnnxModel, type ElementType, type GraphSpec, onnxElementType } from '../runtime/onnx-builder.js';
import type { SessionAdapter, Signature, ValueInfo } from '../runtime/session.js';

/**
 * The community's RIFE ONNX layouts, told apart by their inputs, and the
 * small graphs (`SessionAdapter`) that feed them the engine's `img0`, `img1`
 * and `timestep` and give their frame back as float32. All of them take one
 * `[1,C,H,W]` tensor of 0..1 RGB and return the frame as output 0:
 *
 * - vs-mlrt "v2", C = 7: img0, img1, t; the graph pads internally.
 * - VSGAN-tensorrt, C = 8: img0, img1, t, scale (1).
 * - vs-mlrt "v1", C = 11: img0, img1, t, then the planes 2x/(W−1)−1 and
 *   2y/(H−1)−1 and the constants 2/(W−1) and 2/(H−1), W and H the padded size.
 *
 * float16 files are fed and read in float16 (the element type of the input).
 */
export type RifeFormat = 'vs-mlrt-v2' | 'vsgan' | 'vs-mlrt-v1';

const CHANNELS: Record<RifeFormat, number> = { 'vs-mlrt-v2': 7, vsgan: 8, 'vs-mlrt-v1': 11 };
const FORMAT_BY_CHANNELS = new Map(Object.entries(CHANNELS).map(([format, channels]) => [channels, format as RifeFormat]));

const CONTRACT = ['img0', 'img1', 'timestep'];
const EXPECTED =
  'expected inputs img0, img1, timestep (frc), or one [1,C,H,W] input with C = 7 (vs-mlrt v2), 8 (VSGAN-tensorrt) or 11 (vs-mlrt v1)';

export interface DetectedFormat {
  format: RifeFormat;
  /** The multiple the engine pads frames to (1 when the graph pads internally). */
  padMultiple: number;
  adapter: SessionAdapter;
}

/**
 * The format of a graph that is not frc's own contract: undefined for frc's
 * contract, else the format and its adapter; throws one line naming what the
 * graph has and what is expected.
 */
export function detectRifeFormat(name: string, fileName: string, signature: Signature | undefined, inputNames: readonly string[]): DetectedFormat | undefined {
  if (CONTRACT.every((n) => inputNames.includes(n))) return undefined;
  const input = signature?.inputs.length === 1 ? signature.inputs[0]! : undefined;
  const channels = input?.dims.length === 4 ? input.dims[1] : undefined;
  const format = typeof channels === 'number' ? FORMAT_BY_CHANNELS.get(channels) : undefined;
  const type = input && elementType(input.type);
  const output = signature?.outputs[0];
  const outType = output && elementType(output.type);
  if (!input || !format || !type || !output || !outType) {
    throw new Error(`model "${name}" does not follow a known interpolator contract: it has ${describe(signature, inputNames)}; ${EXPECTED}`);
  }
  const adapter: SessionAdapter = { before: packer(format, input.name, type) };
  if (outType === 'float16') adapter.after = unpacker(output.name);
  return { format, padMultiple: format === 'vs-mlrt-v2' ? 1 : padMultipleFromName(fileName), adapter };
}

/**
 * The pad multiple of a v1 or VSGAN file, which the graph does not tell: 128
 * for 4.25-lite, 32 for v4.0 to v4.24, 64 otherwise (v4.25-heavy, v4.26 and
 * later, and names that give no version). A card's `padMultiple` overrides it.
 */
export function padMultipleFromName(fileName: string): number {
  const base = fileName.replace(/^.*\//, '').toLowerCase();
  if (/4[._]?25.?lite/.test(base)) return 128;
  const version = /v?4[._](\d+)/.exec(base);
  if (version && Number(version[1]) < 25) return 32;
  return 64;
}

function elementType(type: string): 'float' | 'float16' | undefined {
  return type === 'float32' ? 'float' : type === 'float16' ? 'float16' : undefined;
}

function describe(signature: Signature | undefined, inputNames: readonly string[]): string {
  if (!signature) return `input(s) ${inputNames.join(', ')}`;
  const one = (v: ValueInfo) => `${v.name} [${v.dims.join(',')}] ${v.type}`;
  return `input(s) ${signature.inputs.map(one).join(', ')}`;
}

/** img0, img1, timestep → the file's packed input, in its element type. */
function packer(format: RifeFormat, inputName: string, type: ElementType): Uint8Array {
  const image = [1, 3, 'height', 'width'];
  const planes = ['img0', 'img1', 'tPlane'];
  const spec: GraphSpec = {
    name: `pack-${format}`,
    inputs: [
      { name: 'img0', dims: image },
      { name: 'img1', dims: image },
      { name: 'timestep', dims: [1, 1, 1, 1] },
    ],
    outputs: [{ name: inputName, dims: [1, CHANNELS[format], 'height', 'width'], type }],
    initializers: [
      { name: 'c0', dims: [1], type: 'int64', values: [0] },
      { name: 'c1', dims: [1], type: 'int64', values: [1] },
      { name: 'zero', dims: [], type: 'float', values: [0] },
      { name: 'one', dims: [], type: 'float', values: [1] },
      { name: 'two', dims: [], type: 'float', values: [2] },
    ],
    nodes: [
      // A [1,1,H,W] plane of zeros, to broadcast scalars and rows to.
      { op: 'Slice', inputs: ['img0', 'c0', 'c1', 'c1'], outputs: ['r'] },
      { op: 'Mul', inputs: ['r', 'zero'], outputs: ['zeros'] },
      { op: 'Add', inputs: ['zeros', 'timestep'], outputs: ['tPlane'] },
    ],
  };
  if (format === 'vsgan') {
    spec.nodes.push({ op: 'Add', inputs: ['zeros', 'one'], outputs: ['scalePlane'] });
    planes.push('scalePlane');
  }
  if (format === 'vs-mlrt-v1') {
    spec.initializers!.push({ name: 'rowShape', dims: [4], type: 'int64', values: [1, 1, 1, -1] }, { name: 'colShape', dims: [4], type: 'int64', values: [1, 1, -1, 1] });
    spec.nodes.push({ op: 'Shape', inputs: ['img0'], outputs: ['shape'] });
    for (const [axis, size, shape] of [[3, 'W', 'rowShape'], [2, 'H', 'colShape']] as const) {
      spec.nodes.push(
        { op: 'Gather', inputs: ['shape', axis === 3 ? 'c3' : 'c2'], outputs: [`${size}i`], attributes: { axis: 0 } },
        { op: 'Cast', inputs: [`${size}i`], outputs: [size], attributes: { to: onnxElementType('float') } },
        { op: 'Range', inputs: ['zero', size, 'one'], outputs: [`${size}at`] },
        { op: 'Sub', inputs: [size, 'one'], outputs: [`${size}1`] },
        { op: 'Div', inputs: ['two', `${size}1`], outputs: [`${size}step`] },
        { op: 'Mul', inputs: [`${size}at`, `${size}step`], outputs: [`${size}scaled`] },
        { op: 'Sub', inputs: [`${size}scaled`, 'one'], outputs: [`${size}line`] },
        { op: 'Reshape', inputs: [`${size}line`, shape], outputs: [`${size}shaped`] },
        { op: 'Add', inputs: ['zeros', `${size}shaped`], outputs: [`${size}grid`] },
        { op: 'Add', inputs: ['zeros', `${size}step`], outputs: [`${size}stepPlane`] },
      );
    }
    spec.initializers!.push({ name: 'c2', dims: [], type: 'int64', values: [2] }, { name: 'c3', dims: [], type: 'int64', values: [3] });
    planes.push('Wgrid', 'Hgrid', 'WstepPlane', 'HstepPlane');
  }
  const packed = type === 'float' ? inputName : 'packed';
  spec.nodes.push({ op: 'Concat', inputs: planes, outputs: [packed], attributes: { axis: 1 } });
  if (type === 'float16') spec.nodes.push({ op: 'Cast', inputs: [packed], outputs: [inputName], attributes: { to: onnxElementType('float16') } });
  return buildOnnxModel(spec);
}

/** The file's float16 frame → `frame`, float32. */
function unpacker(outputName: string): Uint8Array {
  return buildOnnxModel({
    name: 'unpack-float16',
    inputs: [{ name: outputName, dims: [1, 3, 'height', 'width'], type: 'float16' }],
    outputs: [{ name: 'frame', dims: [1, 3, 'height', 'width'] }],
    nodes: [{ op: 'Cast', inputs: [outputName], outputs: ['frame'], attributes: { to: onnxElementType('float') } }],
  });
}
