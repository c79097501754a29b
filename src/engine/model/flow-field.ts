/** What a flow model outputs: intermediate flows and fusion mask at the model's (reduced) resolution. */
export interface FlowField {
  width: number;
  height: number;
  /** `[4, height, width]`: F(t→0) x, y then F(t→1) x, y, in pixels of this resolution. */
  flow: Float32Array;
  /** `[height, width]`: the weight of frame 0 (sigmoid already applied). */
  mask: Float32Array;
}

/** The top-left `width × height` of each of `planes` planes of `fw × fh` (row copies; `data` itself when nothing is cut). */
export function cropPlanes(data: Float32Array, planes: number, fw: number, fh: number, width: number, height: number): Float32Array {
  if (width === fw && height === fh) return data;
  const out = new Float32Array(planes * width * height);
  for (let p = 0; p < planes; p++)
    for (let y = 0; y < height; y++) out.set(data.subarray((p * fh + y) * fw, (p * fh + y) * fw + width), (p * height + y) * width);
  return out;
}
