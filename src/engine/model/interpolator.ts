/**
 * The contract of a model that makes whole frames (a `FrameModel`: a
 * RIFE-style graph, or the `blend` graph), and the image layout every model
 * takes.
 *
 * Images are planar float RGB in 0..1, laid out exactly as the model's
 * `[1,3,H,W]` input tensor so they go to ONNX Runtime without a copy. The
 * picture occupies the top-left `width × height`; the rest, up to
 * `paddedWidth × paddedHeight` (the multiple the model needs), is zero.
 */
export interface RgbImage {
  width: number;
  height: number;
  paddedWidth: number;
  paddedHeight: number;
  /** `[3, paddedHeight, paddedWidth]`: the R, G and B planes one after another. */
  data: Float32Array;
}

export interface Interpolated {
  frame: RgbImage;
  /** Intermediate flows F(t→0), F(t→1) as `[1,4,h,w]`, when the model exposes them. */
  flow?: { dims: readonly number[]; data: Float32Array };
  /** Fusion mask `[1,1,h,w]`, when the model exposes it. */
  mask?: { dims: readonly number[]; data: Float32Array };
}

export interface Interpolator extends AsyncDisposable {
  /** `blend`, or the model's name. */
  readonly name: string;
  /** Inputs must be padded to a multiple of this in both dimensions. */
  readonly padMultiple: number;
  /** Synthesizes the frame at `t` ∈ (0,1) between `a` (t = 0) and `b` (t = 1). */
  interpolate(a: RgbImage, b: RgbImage, t: number): Promise<Interpolated>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function paddedSize(size: number, multiple: number): number {
  return Math.ceil(size / multiple) * multiple;
}
