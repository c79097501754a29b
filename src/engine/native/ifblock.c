/*
 * Everything of an IFBlock but its convolutions, for an interpolator in parts (parted-session.ts,
 * train/export_stages.py): each part is one block's convolutions (block_in -> block_out), and the
 * engine computes here, on the inference thread, what goes in and what comes of it:
 *
 *   blockInput   the pair pooled to the block's scale; for later blocks the running flows and mask
 *                pooled to it and the pair backward-warped by them; the matching cost (|a(x - d) -
 *                b(x + d)| on the grey pair, d in [-r, r]^2); planes of t; in the part's channel order;
 *   blockOutput  block_out upsampled x2 plus the soft-argmin matcher's displacement over that cost,
 *                upsampled to the working resolution and added to the running flows and mask logit,
 *                then the block's Lucas-Kanade steps (lk-refine.c); or, for a first block whose flows
 *                the Lucas-Kanade pyramid gives, its mask logit and the pyramid's flows.
 *
 * Why: in ONNX Runtime that work was about half of each part's time at the engine's working sizes
 * (a few hundred small nodes: the warp's GridSample, pads, pools, reductions, concatenations,
 * resizes), and a fraction of that here (bench/synthesis.ts, the network's steps; bench/history,
 * the eighth stop). The order of operations follows
 * train/ifnet_infer.py's block(), so that the parts equal the single graph up to float rounding
 * (test/engine/runtime/parted-session.test.ts).
 *
 * A block is created once per part with its settings (createBlock) and held by the session.
 */
#include <math.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cpu-dispatch.h"
#include "lk-refine.h"

#define MAX_POOLS 8

typedef struct {
  int scale;    /* of the working resolution: the block runs at W / scale x H / scale */
  int channels; /* block_in's */
  int radius;   /* of the matching cost */
  int smooth;   /* the matcher's box before the soft-argmin */
  float inv_t;  /* the matcher's inverse temperature */
  bool first;   /* starts from no flows (block_in without the warped pair and the running field) */
  int lk_steps; /* Lucas-Kanade steps after the block */
  int pyramid_steps, levels, pools[MAX_POOLS]; /* a first block's flows from the pyramid, when levels > 0 */
} Block;

/* fminf(fmaxf(v, lo), hi) written as comparisons, so that a NaN goes to lo (the flows come from a network) */
static inline float clamp_nan(float v, float lo, float hi) { return v > lo ? (v < hi ? v : hi) : lo; }

/*
 * Both frames of a 6-channel pair backward-warped by their own flows, PyTorch's
 * grid_sample(bilinear, border, align_corners=False) with the grid of ifnet_infer.py's warp_pair:
 * out_k(x, y) = pair_k(x + fx_k, y + fy_k), coordinates clamped to the image, frame k = 0
 * (channels 0-2, flow planes 0-1) and k = 1 (channels 3-5, flow planes 2-3).
 */
PIXEL_INLINE void warp_frame(const float *restrict src, const float *restrict fx, const float *restrict fy, int w, int h,
                             float *restrict dst) {
  const size_t n = (size_t)w * h;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const size_t i = (size_t)y * w + x;
      const float px = clamp_nan((float)x + fx[i], 0.f, (float)(w - 1));
      const float py = clamp_nan((float)y + fy[i], 0.f, (float)(h - 1));
      /* integer clamps too, so that even a NaN flow cannot index outside the planes */
      const int x0 = clampi((int)px, 0, w - 1), y0 = clampi((int)py, 0, h - 1);
      const int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
      const float ax = px - (float)x0, ay = py - (float)y0;
      const int t0 = y0 * w, t1 = y1 * w;
      for (int c = 0; c < 3; c++) {
        const float *p = src + (size_t)c * n;
        const float top = p[t0 + x0] + (p[t0 + x1] - p[t0 + x0]) * ax;
        const float bot = p[t1 + x0] + (p[t1 + x1] - p[t1 + x0]) * ax;
        dst[(size_t)c * n + i] = top + (bot - top) * ay;
      }
    }
}

/* Compiled for the baseline and for AVX2+FMA (its gathers), one picked at run time (cpu-dispatch.h). */
static void warp_frame_baseline(const float *src, const float *fx, const float *fy, int w, int h, float *dst) { warp_frame(src, fx, fy, w, h, dst); }
#ifdef X86_DISPATCH
__attribute__((target("avx2,fma"))) static void warp_frame_avx2(const float *src, const float *fx, const float *fy, int w, int h, float *dst) {
  warp_frame(src, fx, fy, w, h, dst);
}
#endif

static void warp_pair(const float *pair, const float *flow, int w, int h, float *out) {
  const size_t n = (size_t)w * h;
  for (int k = 0; k < 2; k++) {
    const float *fx = flow + (size_t)(2 * k) * n, *fy = fx + n;
#ifdef X86_DISPATCH
    if (use_avx2()) {
      warp_frame_avx2(pair + (size_t)(3 * k) * n, fx, fy, w, h, out + (size_t)(3 * k) * n);
      continue;
    }
#endif
    warp_frame_baseline(pair + (size_t)(3 * k) * n, fx, fy, w, h, out + (size_t)(3 * k) * n);
  }
}

/*
 * e^x for x <= 0 (Cephes' expf: x = n ln 2 + r, a polynomial in r, 2^n put into the exponent), within
 * 2 ulp of expf. Written out so that the matcher's loop vectorizes: glibc's expf kept it scalar, one
 * call per displacement and sample.
 */
PIXEL_INLINE float exp_nonpositive(float x) {
  x = x > -87.f ? x : -87.f; /* e^-87 is nearly FLT_MIN: the weight of a displacement that far off is 0 anyway */
  const int k = (int)(x * 1.44269504088896341f - 0.5f); /* round to nearest, x <= 0 */
  const float n = (float)k;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int bits = (k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* grey [2, n] = the mean of each frame's three planes of pair [6, n] (ifnet_infer.py's grey) */
static void grey_pair(const float *restrict pair, size_t n, float *restrict grey) {
  for (int k = 0; k < 2; k++) {
    const float *r = pair + 3 * k * n, *g = r + n, *b = g + n;
    float *o = grey + k * n;
    for (size_t i = 0; i < n; i++) o[i] = (r[i] + g[i] + b[i]) / 3.f;
  }
}

static void fill(float *p, size_t count, float v) {
  for (size_t i = 0; i < count; i++) p[i] = v;
}

/*
 * The matching cost of the grey pair (a, b) for every d in [-r, r]^2, dy outer, dx inner
 * (ifnet.symmetric_cost): out_d(x) = |a(x - d) - b(x + d)|, coordinates clamped to the image
 * (replicate padding). Away from the left and right edges no column is clamped, so that the
 * compiler vectorizes the row.
 */
static void matching_cost(const float *a, const float *b, int w, int h, int r, float *out) {
  const size_t n = (size_t)w * h;
  for (int dy = -r; dy <= r; dy++)
    for (int dx = -r; dx <= r; dx++, out += n)
      for (int y = 0; y < h; y++) {
        const float *ra = a + (size_t)clampi(y - dy, 0, h - 1) * w, *rb = b + (size_t)clampi(y + dy, 0, h - 1) * w;
        float *o = out + (size_t)y * w;
        const int lo = r < w ? r : w, hi = w - r > lo ? w - r : lo; /* [lo, hi): no clamping */
        for (int x = 0; x < lo; x++) o[x] = fabsf(ra[clampi(x - dx, 0, w - 1)] - rb[clampi(x + dx, 0, w - 1)]);
        const float *restrict pa = ra - dx, *restrict pb = rb + dx;
        for (int x = lo; x < hi; x++) o[x] = fabsf(pa[x] - pb[x]);
        for (int x = hi; x < w; x++) o[x] = fabsf(ra[clampi(x - dx, 0, w - 1)] - rb[clampi(x + dx, 0, w - 1)]);
      }
}

/*
 * block_in [channels, h, w] and the grey pair of the pooled frames [2, h, w] (for the Lucas-Kanade
 * steps after the block); running [5, H, W] is read by later blocks only. 0, or -1 when out of memory.
 */
static int block_input(const Block *b, const float *img0, const float *img1, int W, int H, float t, const float *running,
                       float *in, float *grey) {
  const int s = b->scale, w = W / s, h = H / s, r = b->radius;
  const size_t n = (size_t)w * h, k = (size_t)(2 * r + 1) * (2 * r + 1);
  pool_planes(img0, 3, W, H, s, in);
  pool_planes(img1, 3, W, H, s, in + 3 * n);
  grey_pair(in, n, grey);
  size_t c; /* channels written */
  if (b->first) {
    fill(in + 6 * n, n, t);
    matching_cost(grey, grey + n, w, h, r, in + 7 * n);
    c = 7 + k;
  } else {
    float *warped = in + 6 * n, *flows = in + 14 * n;
    pool_field(running, W, H, s, flows, in + 12 * n);
    warp_pair(in, flows, w, h, warped);
    float *wgrey = scratch(SCRATCH_BLOCK_TMP, 2 * n);
    if (!wgrey) return -1;
    grey_pair(warped, n, wgrey);
    fill(in + 13 * n, n, t);
    matching_cost(wgrey, wgrey + n, w, h, r, in + 18 * n);
    c = 18 + k;
  }
  fill(in + c * n, ((size_t)b->channels - c) * n, t); /* zero-weight channels */
  return 0;
}

/* One displacement's cost row into the running minimum and sum of a row. The rows as `restrict`
 * parameters: they are parts of one scratch buffer, and without saying so the compiler kept these
 * loops scalar. */
PIXEL_INLINE void min_sum_row(const float *restrict c, int w, float *restrict lo, float *restrict sum) {
  for (int x = 0; x < w; x++) {
    lo[x] = fminf(lo[x], c[x]);
    sum[x] += c[x];
  }
}

/* One displacement (dx, dy) into a row's soft-argmin sums: weight e^((lo - c) gain). */
PIXEL_INLINE void soft_argmin_row(const float *restrict c, const float *restrict lo, const float *restrict gain, float dx, float dy,
                                   int w, float *restrict sum, float *restrict sx, float *restrict sy) {
  for (int x = 0; x < w; x++) {
    const float e = exp_nonpositive((lo[x] - c[x]) * gain[x]);
    sum[x] += e;
    sx[x] += e * dx;
    sy[x] += e * dy;
  }
}

/*
 * o [5, h, w] += the soft-argmin displacement over the cost [k, h, w] (smoothed in place) as
 * linear-motion flows: (-2t, -2t, 2(1 - t), 2(1 - t), 0) times (E dx, E dy, E dx, E dy, 0)
 * (ifnet_infer.py's match). Row by row, each pass over the k planes, so that the compiler
 * vectorizes across the row.
 */
PIXEL_INLINE int match_add_body(const Block *b, float *cost, int w, int h, float t, float *o) {
  const int r = b->radius, side = 2 * r + 1, k = side * side;
  const size_t n = (size_t)w * h;
  float *tmp = scratch(SCRATCH_BLOCK_TMP, n), *rows = scratch(SCRATCH_BLOCK_ROWS, 5 * (size_t)w);
  if (!tmp || !rows) return -1;
  switch (b->smooth) { /* the shipped windows as constants, so that box_mean's loops unroll */
    case 3: box_mean(cost, k, w, h, 3, tmp); break;
    case 5: box_mean(cost, k, w, h, 5, tmp); break;
    case 7: box_mean(cost, k, w, h, 7, tmp); break;
    default: box_mean(cost, k, w, h, b->smooth, tmp);
  }
  float *lo = rows, *gain = rows + w, *sum = rows + 2 * w, *sx = rows + 3 * w, *sy = rows + 4 * w;
  const float c0 = -2.f * t, c1 = 2.f - 2.f * t, inv_k = 1.f / (float)k;
  for (int y = 0; y < h; y++) {
    const float *first = cost + (size_t)y * w;
    memcpy(lo, first, sizeof(float) * w);
    memcpy(gain, first, sizeof(float) * w);
    for (int d = 1; d < k; d++) min_sum_row(first + d * n, w, lo, gain);
    for (int x = 0; x < w; x++) {
      gain[x] = b->inv_t / (gain[x] * inv_k - lo[x] + 0.02f);
      sum[x] = sx[x] = sy[x] = 0.f;
    }
    for (int d = 0; d < k; d++) soft_argmin_row(first + d * n, lo, gain, (float)(d % side - r), (float)(d / side - r), w, sum, sx, sy);
    float *restrict o0 = o + (size_t)y * w, *restrict o1 = o0 + n, *restrict o2 = o1 + n, *restrict o3 = o2 + n;
    for (int x = 0; x < w; x++) {
      const float ex = sx[x] / sum[x], ey = sy[x] / sum[x];
      o0[x] += ex * c0;
      o1[x] += ey * c0;
      o2[x] += ex * c1;
      o3[x] += ey * c1;
    }
  }
  return 0;
}

/* The matcher compiled for the baseline and for AVX2+FMA, one picked at run time (cpu-dispatch.h), as lk-refine.c's steps. */
static int match_add_baseline(const Block *b, float *cost, int w, int h, float t, float *o) { return match_add_body(b, cost, w, h, t, o); }
#ifdef X86_DISPATCH
__attribute__((target("avx2,fma"))) static int match_add_avx2(const Block *b, float *cost, int w, int h, float t, float *o) {
  return match_add_body(b, cost, w, h, t, o);
}
#endif

static int match_add(const Block *b, float *cost, int w, int h, float t, float *o) {
#ifdef X86_DISPATCH
  if (use_avx2()) return match_add_avx2(b, cost, w, h, t, o);
#endif
  return match_add_baseline(b, cost, w, h, t, o);
}

/*
 * running [5, H, W] after the block, from out [5 or 1, h/2, w/2] (block_out), the cost inside
 * block_in (smoothed in place) and the grey pair block_input made. 0, or -1 when out of memory.
 */
static int block_output(const Block *b, const float *out, int out_planes, float *in, const float *grey, int W, int H, float t,
                        float *running) {
  const int s = b->scale, w = W / s, h = H / s;
  const size_t n = (size_t)w * h, N = (size_t)W * H;
  float *o = scratch(SCRATCH_BLOCK, 5 * n);
  if (!o) return -1;
  if (out_planes == 1) { /* the mask logit alone: up(up(out, 2), s), behind the pyramid's flows (ifnet_infer.py's mask_only) */
    if (upsample(out, 1, w / 2, h / 2, 2, 1.f, o, 0) != 0 || upsample(o, 1, w, h, s, 1.f, running + 4 * N, 0) != 0) return -1;
    return lk_pyramid(grey, w, h, t, b->pyramid_steps, b->pools, b->levels, running, W);
  }
  if (upsample(out, 5, w / 2, h / 2, 2, 1.f, o, 0) != 0) return -1;
  if (match_add(b, in + (b->first ? 7 : 18) * n, w, h, t, o) != 0) return -1;
  if (b->first) memset(running, 0, sizeof(float) * 5 * N); /* the first block's field is its own */
  if (s > 1) {
    if (upsample(o, 4, w, h, s, (float)s, running, 1) != 0 || upsample(o + 4 * n, 1, w, h, s, 1.f, running + 4 * N, 1) != 0) return -1;
  } else {
    for (size_t i = 0; i < 5 * N; i++) running[i] += o[i];
  }
  if (b->lk_steps == 0) return 0;
  float *pooled = o; /* o is spent: its memory holds the flows at the block's scale */
  pool_field(running, W, H, s, pooled, pooled + 4 * n);
  return lk_stage(grey, pooled, w, h, t, b->lk_steps, running, s, NULL, 0);
}

/* ---- N-API ---- */

static int int_property(napi_env env, napi_value obj, const char *name, int *out) {
  napi_value v;
  bool has = false;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  return napi_get_named_property(env, obj, name, &v) == napi_ok && napi_get_value_int32(env, v, out) == napi_ok;
}

static void block_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/*
 * createBlock({ scale, channels, radius, smooth, invT, first, lkSteps, pyramid?: { pools: Int32Array, steps } })
 * -> an opaque block for blockInput and blockOutput. Throws a RangeError naming what does not fit.
 */
static napi_value create_block_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, v, result;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  Block b = {0};
  double inv_t = 0;
  bool has = false;
  if (argc < 1 || !int_property(env, arg, "scale", &b.scale) || !int_property(env, arg, "channels", &b.channels) ||
      !int_property(env, arg, "radius", &b.radius) || !int_property(env, arg, "smooth", &b.smooth) ||
      !int_property(env, arg, "lkSteps", &b.lk_steps) || napi_get_named_property(env, arg, "invT", &v) != napi_ok ||
      napi_get_value_double(env, v, &inv_t) != napi_ok || napi_get_named_property(env, arg, "first", &v) != napi_ok ||
      napi_get_value_bool(env, v, &b.first) != napi_ok) {
    napi_throw_type_error(env, NULL, "createBlock({ scale, channels, radius, smooth, invT, first, lkSteps[, pyramid] }): numbers and a boolean expected");
    return NULL;
  }
  b.inv_t = (float)inv_t;
  if (napi_has_named_property(env, arg, "pyramid", &has) == napi_ok && has) {
    napi_value pyramid, pools;
    size_t levels = 0;
    int *data = NULL;
    napi_get_named_property(env, arg, "pyramid", &pyramid);
    if (napi_get_named_property(env, pyramid, "pools", &pools) != napi_ok || !typed_array(env, pools, napi_int32_array, &data, &levels) ||
        !int_property(env, pyramid, "steps", &b.pyramid_steps) || levels < 1 || levels > MAX_POOLS) {
      napi_throw_type_error(env, NULL, "createBlock: pyramid must be { pools: Int32Array of 1-8 pools, steps }");
      return NULL;
    }
    b.levels = (int)levels;
    for (size_t i = 0; i < levels; i++) b.pools[i] = data[i];
  }
  const int side = 2 * b.radius + 1, used = (b.first ? 7 : 18) + side * side;
  int ok = b.scale >= 1 && b.scale <= 64 && b.radius >= 0 && b.radius <= 8 && b.smooth >= 1 && b.smooth % 2 == 1 &&
           b.channels >= used && b.channels <= 1024 && b.lk_steps >= 0 && b.lk_steps <= 16 && isfinite(inv_t) &&
           (b.levels == 0 || (b.first && b.pyramid_steps >= 0 && b.pyramid_steps <= 16));
  for (int i = 0; ok && i < b.levels; i++) ok = b.pools[i] >= 1 && (i == 0 || b.pools[i - 1] % b.pools[i] == 0);
  if (!ok) {
    napi_throw_range_error(env, NULL, "createBlock: settings out of range (scale 1-64, radius 0-8, smooth odd, channels at least "
                                      "the block's own planes, lkSteps 0-16, a pyramid only for a first block)");
    return NULL;
  }
  Block *held = malloc(sizeof *held);
  if (!held) {
    napi_throw_error(env, NULL, "createBlock: out of memory");
    return NULL;
  }
  *held = b;
  if (napi_create_external(env, held, block_free, NULL, &result) != napi_ok) {
    free(held);
    return NULL;
  }
  return result;
}

static Block *get_block(napi_env env, napi_value v) {
  Block *b = NULL;
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external || napi_get_value_external(env, v, (void **)&b) != napi_ok) return NULL;
  return b;
}

/* Whether W x H divides into the block's sizes: the scale, the x2 of block_out, and the pyramid's pools below it. */
static int sizes_fit(const Block *b, int W, int H) {
  if (W <= 0 || H <= 0 || W % (2 * b->scale) || H % (2 * b->scale)) return 0;
  for (int i = 0; i < b->levels; i++)
    if ((W / b->scale) % b->pools[i] || (H / b->scale) % b->pools[i]) return 0;
  return 1;
}

/* blockInput(block, img0 [3,H,W], img1 [3,H,W], W, H, t, running [5,H,W] | null, blockIn [channels,h,w], grey [2,h,w]) */
static napi_value block_input_js(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Block *b = argc >= 9 ? get_block(env, argv[0]) : NULL;
  float *img0, *img1, *running = NULL, *in, *grey;
  size_t len0, len1, runningLen = 0, inLen, greyLen;
  int W, H;
  double t;
  napi_valuetype runningType = napi_null;
  if (!b || !float_array(env, argv[1], &img0, &len0) || !float_array(env, argv[2], &img1, &len1) ||
      napi_get_value_int32(env, argv[3], &W) != napi_ok || napi_get_value_int32(env, argv[4], &H) != napi_ok ||
      napi_get_value_double(env, argv[5], &t) != napi_ok || napi_typeof(env, argv[6], &runningType) != napi_ok ||
      (runningType != napi_null && !float_array(env, argv[6], &running, &runningLen)) || !float_array(env, argv[7], &in, &inLen) ||
      !float_array(env, argv[8], &grey, &greyLen)) {
    napi_throw_type_error(env, NULL, "blockInput(block, img0, img1, W, H, t, running | null, blockIn, grey): a block, Float32Arrays and numbers expected");
    return NULL;
  }
  const size_t N = (size_t)(W > 0 ? W : 0) * (size_t)(H > 0 ? H : 0), n = N / ((size_t)b->scale * b->scale);
  if (!sizes_fit(b, W, H) || len0 < 3 * N || len1 < 3 * N || (!b->first && runningLen < 5 * N) || inLen < (size_t)b->channels * n ||
      greyLen < 2 * n || !(t >= 0.0 && t <= 1.0)) {
    napi_throw_range_error(env, NULL, "blockInput: sizes do not fit (W and H divisible by twice the block's scale; img0, img1 3 planes "
                                      "of W x H, running 5; blockIn the block's channels, grey 2 planes at its scale; 0 <= t <= 1)");
    return NULL;
  }
  if (block_input(b, img0, img1, W, H, (float)t, running, in, grey) != 0) napi_throw_error(env, NULL, "blockInput: out of memory");
  return NULL;
}

/* blockOutput(block, blockOut [5 or 1, h/2, w/2], blockIn, grey, W, H, t, running [5,H,W]) */
static napi_value block_output_js(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Block *b = argc >= 8 ? get_block(env, argv[0]) : NULL;
  float *out, *in, *grey, *running;
  size_t outLen, inLen, greyLen, runningLen;
  int W, H;
  double t;
  if (!b || !float_array(env, argv[1], &out, &outLen) || !float_array(env, argv[2], &in, &inLen) ||
      !float_array(env, argv[3], &grey, &greyLen) || napi_get_value_int32(env, argv[4], &W) != napi_ok ||
      napi_get_value_int32(env, argv[5], &H) != napi_ok || napi_get_value_double(env, argv[6], &t) != napi_ok ||
      !float_array(env, argv[7], &running, &runningLen)) {
    napi_throw_type_error(env, NULL, "blockOutput(block, blockOut, blockIn, grey, W, H, t, running): a block, Float32Arrays and numbers expected");
    return NULL;
  }
  const size_t N = (size_t)(W > 0 ? W : 0) * (size_t)(H > 0 ? H : 0), n = N / ((size_t)b->scale * b->scale);
  const int planes = outLen == n / 4 ? 1 : outLen == 5 * (n / 4) ? 5 : 0;
  if (!sizes_fit(b, W, H) || planes == 0 || (planes == 1) != (b->levels > 0) || inLen < (size_t)b->channels * n || greyLen < 2 * n ||
      runningLen < 5 * N || !(t >= 0.0 && t <= 1.0)) {
    napi_throw_range_error(env, NULL, "blockOutput: sizes do not fit (blockOut 5 planes at half the block's scale, or 1, the mask, "
                                      "exactly when the block has the pyramid; blockIn and grey as blockInput's; running 5 planes of W x H; 0 <= t <= 1)");
    return NULL;
  }
  if (block_output(b, out, planes, in, grey, W, H, (float)t, running) != 0) napi_throw_error(env, NULL, "blockOutput: out of memory");
  return NULL;
}

/* warpPair(pair: Float32Array [6,h,w], flow: Float32Array [>=4,h,w], width, height, out: Float32Array [6,h,w]) */
static napi_value warp_pair_js(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  float *pair, *flow, *out;
  size_t pairLen, flowLen, outLen;
  int w, h;
  if (argc < 5 || !float_array(env, argv[0], &pair, &pairLen) || !float_array(env, argv[1], &flow, &flowLen) ||
      napi_get_value_int32(env, argv[2], &w) != napi_ok || napi_get_value_int32(env, argv[3], &h) != napi_ok ||
      !float_array(env, argv[4], &out, &outLen)) {
    napi_throw_type_error(env, NULL, "warpPair(pair, flow, width, height, out): Float32Arrays and integer sizes expected");
    return NULL;
  }
  const size_t n = (size_t)(w > 0 ? w : 0) * (size_t)(h > 0 ? h : 0);
  if (n == 0 || pairLen < 6 * n || flowLen < 4 * n || outLen < 6 * n) {
    napi_throw_range_error(env, NULL, "warpPair: the pair and out need 6, the flow 4 planes of width x height");
    return NULL;
  }
  warp_pair(pair, flow, w, h, out);
  return NULL;
}

void ifblock_register(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"createBlock", NULL, create_block_js, NULL, NULL, NULL, napi_default, NULL},
      {"blockInput", NULL, block_input_js, NULL, NULL, NULL, napi_default, NULL},
      {"blockOutput", NULL, block_output_js, NULL, NULL, NULL, napi_default, NULL},
      {"warpPair", NULL, warp_pair_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
