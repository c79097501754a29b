import { createRequire } from 'node:module';
import { repoPath } from '../../base/paths.js';

/**
 * The native kernels, loaded and typed in this one place. `node-gyp rebuild`
 * (npm's install step) builds them from `src/engine/native/*.c` per
 * `binding.gyp`. Calls that return a promise run on the libuv pool; the
 * others run on the calling thread (a model worker's).
 */

/** Three 8-bit planes of two frames and the output, and the band of rows one call covers. */
export interface PlaneParams {
  planes: number;
  width: number[];
  height: number[];
  src0: Uint8Array[];
  src1: Uint8Array[];
  dst: Uint8Array[];
  stride0: number[];
  stride1: number[];
  dstStride: number[];
  rowStart: number;
  rowEnd: number;
}

/** `PlaneParams` plus the flow field and fusion mask to warp and blend with. */
export interface WarpBlendParams extends PlaneParams {
  flow: Float32Array;
  mask: Float32Array;
  flowWidth: number;
  flowHeight: number;
  cubic: boolean;
  /** Samples still in both frames keep their value (warp-blend.c, hold_still). */
  holdStill?: boolean;
}

/** Which build of a kernel's per-pixel code the CPU got (chosen at load; `FRC_KERNEL_BASELINE=1` forces the baseline). */
export type KernelBuild = 'avx2' | 'baseline';

/** `warp-blend.c`: full-resolution synthesis. */
export interface WarpBlendAddon {
  simd(): KernelBuild;
  warpBlend(p: WarpBlendParams): Promise<void>;
  blend(p: PlaneParams & { t: number }): Promise<void>;
  /** Whether no sample of the two frames differs by more than `limit` (on the calling thread). */
  pairWithin(p: Pick<PlaneParams, 'planes' | 'width' | 'height' | 'src0' | 'src1' | 'stride0' | 'stride1'> & { limit: number }): boolean;
}

/** A block as `createBlock` takes it: the card's `blocks` entry and where the block sits. */
export interface BlockSettings {
  scale: number;
  channels: number;
  radius: number;
  smooth: number;
  invT: number;
  /** The first block: no running flows yet. */
  first: boolean;
  /** Lucas-Kanade steps after it. */
  lkSteps: number;
  /** The first block's flows from the Lucas-Kanade pyramid (its part then outputs the mask alone). */
  pyramid?: { pools: Int32Array; steps: number };
}

/** A block's settings held natively (`createBlock`). */
export type NativeBlock = { readonly __brand: 'NativeBlock' };

/**
 * `ifblock.c`: everything of an IFBlock but its convolutions, between a
 * model's parts (parted-session.ts); in the Lucas-Kanade addon, whose
 * resampling and steps it uses. On the calling thread.
 */
export interface IfBlockAddon {
  createBlock(settings: BlockSettings): NativeBlock;
  /** block_in [channels, H/scale, W/scale] and the pooled grey pair from the frames (3 planes of W x H each) and, after the first block, the running field [5, H, W]. */
  blockInput(block: NativeBlock, img0: Float32Array, img1: Float32Array, width: number, height: number, t: number, running: Float32Array | null, blockIn: Float32Array, grey: Float32Array): void;
  /** The running field [5, H, W] after the block, from its part's block_out and what blockInput wrote. */
  blockOutput(block: NativeBlock, blockOut: Float32Array, blockIn: Float32Array, grey: Float32Array, width: number, height: number, t: number, running: Float32Array): void;
  /** Both frames of a 6-plane pair backward-warped by their own flows (planes 0-1 frame 0's, 2-3 frame 1's), as blockInput warps them; exposed on its own so that the tests check it against a plain reference. */
  warpPair(pair: Float32Array, flow: Float32Array, width: number, height: number, out: Float32Array): void;
}

/** `lk-refine.c`: Lucas-Kanade steps on flow fields. */
export interface LkRefineAddon {
  simd(): KernelBuild;
  /**
   * A block's steps, as blockOutput (IfBlockAddon) takes them after a part
   * (the C name is older than the word "part"): refines flow's copy, adds
   * the change (upsampled by scale) to running; with nextFlow, pools running
   * into it. Exposed on its own so that the tests check the kernel against a
   * plain reference.
   */
  lkStage(
    grey: Float32Array, flow: Float32Array, width: number, height: number, t: number, steps: number,
    running: Float32Array, scale: number, nextFlow?: Float32Array, nextScale?: number,
  ): void;
  /** Steps above the model's resolution, on the frames' luma (the card's `lkFine`). */
  lkFine(
    grey0: Uint8Array, grey1: Uint8Array, flow: Float32Array, mask: Float32Array, w: number, h: number, scale: number,
    t: number, steps: number, outFlow: Float32Array, outMask: Float32Array, shift?: boolean,
  ): Promise<number>;
}

const require = createRequire(import.meta.url);
const load = <T>(name: string): T => require(repoPath('build', 'Release', `${name}.node`)) as T;

export const warpBlendAddon = load<WarpBlendAddon>('frc_native');
export const lkRefineAddon = load<LkRefineAddon>('frc_lk_refine');
export const ifBlockAddon = load<IfBlockAddon>('frc_lk_refine');

/** A Vulkan device as the loader lists it (`vulkan-adapters.c`). */
export interface VulkanAdapter {
  name: string;
  /** VkPhysicalDeviceType: `cpu` is a software rasteriser (SwiftShader, llvmpipe). */
  type: 'discrete' | 'integrated' | 'virtual' | 'other' | 'cpu';
}

/**
 * The Vulkan devices of this machine, or undefined where the addon was not
 * built (an older build folder): loaded on first use, unlike the kernels,
 * since only the provider choice needs it.
 */
export function vulkanAdapters(): VulkanAdapter[] | undefined {
  try {
    return load<{ adapters(): VulkanAdapter[] }>('frc_vulkan_adapters').adapters();
  } catch {
    return undefined;
  }
}

/**
 * `heap-trim.c`: glibc's malloc_trim(0) on the libuv pool; undefined where
 * the addon was not built (an older build folder), loaded on first use.
 */
export function heapTrimAddon(): { trim(): Promise<boolean> } | undefined {
  try {
    return load<{ trim(): Promise<boolean> }>('frc_heap_trim');
  } catch {
    return undefined;
  }
}
