/**
 * Writes small ONNX graphs in code, so that graph-shaped work that needs no
 * training (the `blend` interpolator, the eval metrics, tiny test models) runs
 * in ONNX Runtime's vectorised kernels instead of per-pixel JavaScript loops.
 *
 * Only the corner of onnx.proto that such graphs need is encoded: nodes with
 * int/float/ints/floats/string/tensor attributes, float/int64 initializers, and inputs and
 * outputs with fixed or named (dynamic) dimensions.
 */

export type Dim = number | string; // a string names a dynamic axis
export type ElementType = 'float' | 'float16' | 'uint8' | 'int64';

export interface ValueSpec {
  name: string;
  dims: Dim[];
  /** Default `float`. */
  type?: ElementType;
}
export type AttributeValue = number | number[] | { float: number } | { floats: number[] } | { string: string } | Initializer;

export interface Initializer {
  name: string;
  dims: number[];
  type: ElementType;
  values: number[] | Float32Array;
}

export interface GraphSpec {
  name: string;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  nodes: { op: string; inputs: string[]; outputs: string[]; attributes?: Record<string, AttributeValue> }[];
  initializers?: Initializer[];
  opset?: number;
  /** Stored as the model's metadata_props. */
  metadata?: Record<string, string>;
}

const ELEMENT_TYPE: Record<ElementType, number> = { float: 1, uint8: 2, int64: 7, float16: 10 };

/** ONNX's number for an element type, as Cast's `to` attribute takes it. */
export function onnxElementType(type: ElementType): number {
  return ELEMENT_TYPE[type];
}

export function buildOnnxModel(spec: GraphSpec): Uint8Array {
  const graph = new Proto();
  spec.nodes.forEach((node, i) => {
    const n = new Proto();
    for (const input of node.inputs) n.string(1, input);
    for (const output of node.outputs) n.string(2, output);
    n.string(3, `${node.op}_${i}`);
    n.string(4, node.op);
    for (const [name, value] of Object.entries(node.attributes ?? {})) n.message(5, attribute(name, value));
    graph.message(1, n);
  });
  graph.string(2, spec.name);
  for (const init of spec.initializers ?? []) graph.message(5, tensor(init));
  for (const input of spec.inputs) graph.message(11, valueInfo(input));
  for (const output of spec.outputs) graph.message(12, valueInfo(output));

  const model = new Proto();
  model.varint(1, 8); // IR version 8 pairs with opsets up to 18
  model.string(2, 'frc');
  model.message(7, graph);
  const opset = new Proto();
  opset.string(1, '');
  opset.varint(2, spec.opset ?? 16);
  model.message(8, opset);
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    const entry = new Proto();
    entry.string(1, key);
    entry.string(2, value);
    model.message(14, entry);
  }
  return model.finish();
}

function attribute(name: string, value: AttributeValue): Proto {
  const a = new Proto();
  a.string(1, name);
  if (typeof value === 'number') {
    a.varint(3, value);
    a.varint(20, 2); // INT
  } else if (Array.isArray(value)) {
    for (const v of value) a.varint(8, v);
    a.varint(20, 7); // INTS
  } else if ('float' in value) {
    a.float32(2, value.float);
    a.varint(20, 1); // FLOAT
  } else if ('floats' in value) {
    for (const v of value.floats) a.float32(7, v);
    a.varint(20, 6); // FLOATS
  } else if ('string' in value) {
    a.string(4, value.string);
    a.varint(20, 3); // STRING
  } else {
    a.message(5, tensor(value));
    a.varint(20, 4); // TENSOR
  }
  return a;
}

function tensor(init: Initializer): Proto {
  const t = new Proto();
  for (const d of init.dims) t.varint(1, d);
  t.varint(2, ELEMENT_TYPE[init.type]);
  t.string(8, init.name);
  if (init.type === 'float16') throw new Error('float16 initializers are not supported');
  const data =
    init.type === 'float'
      ? Float32Array.from(init.values)
      : init.type === 'uint8'
        ? Uint8Array.from(init.values)
        : BigInt64Array.from(Array.from(init.values, (v) => BigInt(v)));
  t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return t;
}

function valueInfo({ name, dims, type = 'float' }: ValueSpec): Proto {
  const shape = new Proto();
  for (const d of dims) {
    const dim = new Proto();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new Proto();
  tensorType.varint(1, ELEMENT_TYPE[type]);
  tensorType.message(2, shape);
  const typeProto = new Proto();
  typeProto.message(1, tensorType);
  const info = new Proto();
  info.string(1, name);
  info.message(2, typeProto);
  return info;
}

/** Protobuf wire-format writer: varints, 32-bit floats and length-delimited fields. */
class Proto {
  private readonly parts: Uint8Array[] = [];

  varint(field: number, value: number): void {
    this.key(field, 0);
    this.raw(varintBytes(BigInt.asUintN(64, BigInt(value))));
  }

  float32(field: number, value: number): void {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.raw(b);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Proto): void {
    this.bytes(field, value.finish());
  }

  bytes(field: number, value: Uint8Array): void {
    this.key(field, 2);
    this.raw(varintBytes(BigInt(value.length)));
    this.raw(value);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private key(field: number, wireType: number): void {
    this.raw(varintBytes(BigInt((field << 3) | wireType)));
  }

  private raw(b: Uint8Array): void {
    this.parts.push(b);
  }
}

function varintBytes(value: bigint): Uint8Array {
  const out: number[] = [];
  do {
    let byte = Number(value & 0x7fn);
    value >>= 7n;
    if (value > 0n) byte |= 0x80;
    out.push(byte);
  } while (value > 0n);
  return Uint8Array.from(out);
}
