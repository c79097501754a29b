/*
 * The Lucas-Kanade steps of an interpolator in parts whose card says "lk" (see
 * parted-session.ts and train/ifnet.py's lk_refine): after an IFBlock, at its
 * scale, each step warps the grey frame pair by the running intermediate
 * flows, solves per pixel (over a 5x5 window) for the symmetric displacement
 * d that makes the two warped frames agree to first order, clamps it to one
 * pixel, averages it over 7x7 weighted by how well posed it was, and adds it
 * as linear-motion flows (-2t d for frame 0, 2(1-t) d for frame 1).
 *
 * Inside the ONNX graph the same steps were a large share of quality's time
 * per in-between frame, most of it ONNX Runtime's GridSample (see
 * bench/history/, "Lucas-Kanade steps in the network"); here they run on the
 * inference thread between two part runs. The order of operations follows
 * train/ifnet_infer.py's lk(), so that the model in parts equals the single
 * graph up to float rounding (test/engine/synthesis/lk-refine.test.ts and
 * test/engine/runtime/parted-session.test.ts).
 *
 * lk_pyramid gives the first block its flows the same way, from zero flow,
 * coarse to fine over average-pooled copies of its grey pair (the card's
 * "lkPyramid"; train/ifnet.py's lk_pyramid_flow): inside the first part's
 * graph those dozen steps on tiny images took a large share of its time.
 * ifblock.c calls both after a part (lk-refine.h).
 *
 * lkFine does the steps once more after the whole network, above its
 * resolution (the card's "lkFine"): on the frames' luma at `scale` times the
 * model's input size, the flows and mask upsampled to it. It runs on the
 * libuv pool, like the warp that follows it.
 *
 * Also here: the resamplings with PyTorch's semantics (bilinear upsampling
 * as interpolate(align_corners=False), average pooling) that carry a step's
 * update to the working-resolution flows and the flows to a block's scale,
 * so that the parts' inputs are what the single graph computes; ifblock.c
 * uses them too.
 */
#include <math.h>
#include <stdint.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cpu-dispatch.h"
#include "lk-refine.h"

void ifblock_register(napi_env env, napi_value exports); /* ifblock.c: the rest of the work between parts */

#define LK_WINDOW 5
#define LK_SMOOTH 7
#define LK_LAMBDA 1e-4f

/* bilinear sample of a plane at (x, y), grid_sample(border, align_corners=False) semantics */
PIXEL_INLINE float sample(const float *p, int w, int h, float x, float y) {
  const float px = clampf(x, 0.f, (float)(w - 1)), py = clampf(y, 0.f, (float)(h - 1));
  const int x0 = clampi((int)px, 0, w - 1), y0 = clampi((int)py, 0, h - 1);
  const int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
  const float ax = px - (float)x0, ay = py - (float)y0;
  const float top = p[(size_t)y0 * w + x0] + (p[(size_t)y0 * w + x1] - p[(size_t)y0 * w + x0]) * ax;
  const float bot = p[(size_t)y1 * w + x0] + (p[(size_t)y1 * w + x1] - p[(size_t)y1 * w + x0]) * ax;
  return top + (bot - top) * ay;
}

/*
 * Working memory of at least `count` floats, kept per thread between calls:
 * a fresh allocation each call cost more than a whole step here (the pages of
 * a few MB faulted in anew every time). Each inference thread keeps its own
 * (a few MB at quality's working size) until it ends, and then frees it:
 * every live stream runs its model on a worker thread of its own, and
 * buffers a thread left behind stayed allocated for good (RSS grew by them
 * with each publish; issue #28). C11's _Thread_local has no destructor, a
 * POSIX thread key has. That destructor is this file's code, so the addon is
 * linked never to be unloaded (binding.gyp, `-z nodelete`): Node unloads an
 * addon when the last thread that loaded it ends, and where that was an
 * inference thread alone, the thread then ran a destructor that was gone
 * (a crash at its exit: test/engine/runtime/worker-session.test.ts).
 */

typedef struct {
  float *buf[SCRATCH_SLOTS];
  size_t cap[SCRATCH_SLOTS];
} Scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_key_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *data) {
  Scratch *s = (Scratch *)data;
  for (int slot = 0; slot < SCRATCH_SLOTS; slot++) free(s->buf[slot]);
  free(s);
}

static void scratch_key_create(void) { pthread_key_create(&scratch_key, scratch_free); }

float *scratch(int slot, size_t count) {
  pthread_once(&scratch_key_once, scratch_key_create);
  Scratch *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      return NULL;
    }
  }
  if (count > s->cap[slot]) {
    float *grown = realloc(s->buf[slot], sizeof(float) * count);
    if (!grown) return NULL;
    s->buf[slot] = grown;
    s->cap[slot] = count;
  }
  return s->buf[slot];
}

/*
 * The passes of one Lucas-Kanade step, each over whole planes. They take their planes as `restrict`
 * parameters: the planes are distinct parts of one scratch buffer, and without saying so the
 * compiler keeps these loops scalar (too many pointer pairs for its run-time alias checks). The
 * arithmetic is the same either way.
 */

/*
 * `sample` of n points of one row (x0 + i + fx[i], y + fy[i]), in three passes so that only the tap
 * fetches are scalar: positions (vectorized), the four taps, the lerps (vectorized). The same
 * arithmetic as `sample`, so the same floats.
 */
#define WARP_CHUNK 256
PIXEL_INLINE void sample_row(const float *restrict p, int w, int h, int x0, int y, const float *restrict fx, const float *restrict fy, int n,
                             float *restrict out) {
  int at[WARP_CHUNK], right[WARP_CHUNK], down[WARP_CHUNK];
  float ax[WARP_CHUNK], ay[WARP_CHUNK], t0[WARP_CHUNK], t1[WARP_CHUNK], b0[WARP_CHUNK], b1[WARP_CHUNK];
  const float xmax = (float)(w - 1), ymax = (float)(h - 1);
  for (int i = 0; i < n; i++) {
    const float px = clampf((float)(x0 + i) + fx[i], 0.f, xmax), py = clampf((float)y + fy[i], 0.f, ymax);
    const int ix = (int)px, iy = (int)py; /* within the plane: px, py are clamped to it */
    ax[i] = px - (float)ix;
    ay[i] = py - (float)iy;
    at[i] = iy * w + ix;
    right[i] = ix + 1 < w ? 1 : 0;
    down[i] = iy + 1 < h ? w : 0;
  }
  for (int i = 0; i < n; i++) {
    const float *q = p + at[i];
    t0[i] = q[0], t1[i] = q[right[i]], b0[i] = q[down[i]], b1[i] = q[down[i] + right[i]];
  }
  for (int i = 0; i < n; i++) {
    const float top = t0[i] + (t1[i] - t0[i]) * ax[i];
    const float bot = b0[i] + (b1[i] - b0[i]) * ax[i];
    out[i] = top + (bot - top) * ay[i];
  }
}

/* Both frames warped by their flows, and their blend 2t a + (2 - 2t) b. */
PIXEL_INLINE void lk_warp(const float *restrict ga, const float *restrict gb, const float *restrict f0x, const float *restrict f0y,
                          const float *restrict f1x, const float *restrict f1y, int w, int h, float c0, float c1, float *restrict wa,
                          float *restrict wb, float *restrict bl) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x += WARP_CHUNK) {
      const int n = w - x < WARP_CHUNK ? w - x : WARP_CHUNK;
      const size_t i = (size_t)y * w + x;
      sample_row(ga, w, h, x, y, f0x + i, f0y + i, n, wa + i);
      sample_row(gb, w, h, x, y, f1x + i, f1y + i, n, wb + i);
      for (int k = 0; k < n; k++) bl[i + k] = c0 * wa[i + k] + c1 * wb[i + k];
    }
}

/* One row of the gradient products gx², gy², gx gy, gx e, gy e: the blend's central differences
 * (neighbours clamped at the row's ends; `up` and `dn` are the rows above and below, clamped at the
 * plane's), the frames' difference e. */
PIXEL_INLINE void lk_product(float gx, float gy, float e, int x, float *restrict sxx, float *restrict syy, float *restrict sxy,
                             float *restrict sxe, float *restrict sye) {
  sxx[x] = gx * gx;
  syy[x] = gy * gy;
  sxy[x] = gx * gy;
  sxe[x] = gx * e;
  sye[x] = gy * e;
}

PIXEL_INLINE void lk_products_row(const float *restrict mid, const float *restrict up, const float *restrict dn, const float *restrict a,
                                  const float *restrict b, int w, float *restrict sxx, float *restrict syy, float *restrict sxy,
                                  float *restrict sxe, float *restrict sye) {
  const int ends[2] = {0, w - 1};
  for (int k = 0; k < (w > 1 ? 2 : 1); k++) {
    const int x = ends[k], right = x + 1 < w ? x + 1 : w - 1, left = x > 0 ? x - 1 : 0;
    lk_product(0.5f * mid[right] - 0.5f * mid[left], 0.5f * dn[x] - 0.5f * up[x], a[x] - b[x], x, sxx, syy, sxy, sxe, sye);
  }
  for (int x = 1; x < w - 1; x++) {
    const float gx = 0.5f * mid[x + 1] - 0.5f * mid[x - 1], gy = 0.5f * dn[x] - 0.5f * up[x], e = a[x] - b[x];
    sxx[x] = gx * gx;
    syy[x] = gy * gy;
    sxy[x] = gx * gy;
    sxe[x] = gx * e;
    sye[x] = gy * e;
  }
}

PIXEL_INLINE void lk_products(const float *restrict wa, const float *restrict wb, const float *restrict bl, int w, int h, float *restrict sxx,
                              float *restrict syy, float *restrict sxy, float *restrict sxe, float *restrict sye) {
  for (int y = 0; y < h; y++) {
    const size_t row = (size_t)y * w;
    lk_products_row(bl + row, bl + (size_t)(y > 0 ? y - 1 : 0) * w, bl + (size_t)(y + 1 < h ? y + 1 : h - 1) * w, wa + row, wb + row, w,
                    sxx + row, syy + row, sxy + row, sxe + row, sye + row);
  }
}

/* The 2x2 solve per sample from the window means: the update d (at most a pixel) times the confidence, and the confidence. */
PIXEL_INLINE void lk_solve(const float *restrict sxx, const float *restrict syy, const float *restrict sxy, const float *restrict sxe,
                           const float *restrict sye, size_t n, float *restrict dcx, float *restrict dcy, float *restrict conf) {
  for (size_t i = 0; i < n; i++) {
    const float xx = sxx[i] + LK_LAMBDA, yy = syy[i] + LK_LAMBDA, xy = sxy[i];
    const float det = xx * yy - xy * xy;
    const float dx = clampf((yy * sxe[i] - xy * sye[i]) / det, -1.f, 1.f);
    const float dy = clampf((xx * sye[i] - xy * sxe[i]) / det, -1.f, 1.f);
    const float c = det / (xx + yy);
    dcx[i] = dx * c;
    dcy[i] = dy * c;
    conf[i] = c;
  }
}

/* The confidence-weighted update applied to both flows: F(t->0) against it, F(t->1) along it. */
PIXEL_INLINE void lk_update(const float *restrict dcx, const float *restrict dcy, const float *restrict conf, size_t n, float c0, float c1,
                            float *restrict fx0, float *restrict fy0, float *restrict fx1, float *restrict fy1) {
  for (size_t i = 0; i < n; i++) {
    const float dx = dcx[i] / conf[i], dy = dcy[i] / conf[i];
    fx0[i] += dx * -c0;
    fy0[i] += dy * -c0;
    fx1[i] += dx * c1;
    fy1[i] += dy * c1;
  }
}

/*
 * `steps` Lucas-Kanade steps on flow [4,h,w] (F_t->0 x, y, F_t->1 x, y, in
 * pixels of this size), in place, from the grey pair [2,h,w]. Returns 0, or
 * -1 when out of memory.
 */
PIXEL_INLINE int lk_refine_body(const float *grey, float *flow, int w, int h, float t, int steps) {
  const size_t n = (size_t)w * h;
  /* warped a, warped b, blend, then the five products (later the smoothing planes), then tmp */
  float *buf = scratch(SCRATCH_STEPS, n * 9);
  if (!buf) return -1;
  float *wa = buf, *wb = buf + n, *bl = buf + 2 * n, *prod = buf + 3 * n, *tmp = buf + 8 * n;
  const float c0 = 2.f * t, c1 = 2.f - 2.f * t;
  float *f[4] = {flow, flow + n, flow + 2 * n, flow + 3 * n};
  float *p[5] = {prod, prod + n, prod + 2 * n, prod + 3 * n, prod + 4 * n};
  for (int s = 0; s < steps; s++) {
    lk_warp(grey, grey + n, f[0], f[1], f[2], f[3], w, h, c0, c1, wa, wb, bl);
    lk_products(wa, wb, bl, w, h, p[0], p[1], p[2], p[3], p[4]);
    box_mean(prod, 5, w, h, LK_WINDOW, tmp);
    /* d * conf (2 planes) and conf, over wa, wb, bl (no longer needed) */
    lk_solve(p[0], p[1], p[2], p[3], p[4], n, wa, wb, bl);
    box_mean(wa, 3, w, h, LK_SMOOTH, tmp);
    lk_update(wa, wb, bl, n, c0, c1, f[0], f[1], f[2], f[3]);
  }
  return 0;
}

/*
 * planes of w x h -> planes of (w s) x (h s), bilinear as PyTorch's interpolate(scale_factor=s,
 * align_corners=False) (source x = (X + 0.5) / s - 0.5, edges clamped), values times `gain`;
 * written to dst, or with `add` added to what it holds. 0, or -1 when out of memory.
 */
PIXEL_INLINE int upsample_body(const float *src, int planes, int w, int h, int s, float gain, float *dst, int add) {
  const int W = w * s, H = h * s;
  /* each output column's two source columns and weight, the same for every row and plane; then two
   * source rows upsampled across */
  int *cols = (int *)scratch(SCRATCH_COLUMNS, (size_t)5 * W);
  if (!cols) return -1;
  float *wx = (float *)(cols + 2 * W);
  float *across[2] = {wx + W, wx + 2 * W};
  const float inv = 1.f / (float)s;
  for (int X = 0; X < W; X++) {
    const float sx = fmaxf(((float)X + 0.5f) * inv - 0.5f, 0.f);
    const int x0 = clampi((int)sx, 0, w - 1);
    cols[2 * X] = x0;
    cols[2 * X + 1] = x0 + 1 < w ? x0 + 1 : x0;
    wx[X] = sx - (float)x0;
  }
  for (int c = 0; c < planes; c++) {
    const float *d = src + (size_t)c * w * h;
    float *o = dst + (size_t)c * W * H;
    int held[2] = {-1, -1}; /* the source row each of `across` holds */
    for (int Y = 0; Y < H; Y++) {
      const float sy = fmaxf(((float)Y + 0.5f) * inv - 0.5f, 0.f);
      const int y0 = clampi((int)sy, 0, h - 1), y1 = y0 + 1 < h ? y0 + 1 : y0;
      const float ay = sy - (float)y0;
      /* Each source row is upsampled across once, not once per output row that reads it (s + 1
       * of them): the column lookups are the scalar part. Same arithmetic, so the same floats. */
      const float *rows[2];
      for (int k = 0; k < 2; k++) {
        const int y = k ? y1 : y0;
        const int slot = held[0] == y ? 0 : held[1] == y ? 1 : -1;
        if (slot >= 0) {
          rows[k] = across[slot];
          continue;
        }
        const int free_slot = held[0] == y0 || held[0] == y1 ? 1 : 0; /* never the other row in use */
        const float *r = d + (size_t)y * w;
        float *row = across[free_slot];
        for (int X = 0; X < W; X++) row[X] = r[cols[2 * X]] + (r[cols[2 * X + 1]] - r[cols[2 * X]]) * wx[X];
        held[free_slot] = y;
        rows[k] = row;
      }
      const float *restrict top = rows[0], *restrict bot = rows[1];
      float *restrict out = o + (size_t)Y * W;
      if (add)
        for (int X = 0; X < W; X++) out[X] += (top[X] + (bot[X] - top[X]) * ay) * gain;
      else
        for (int X = 0; X < W; X++) out[X] = (top[X] + (bot[X] - top[X]) * ay) * gain;
    }
  }
  return 0;
}

/*
 * On x86-64 the steps and the upsampling are compiled twice, for the baseline (SSE2) and for
 * AVX2+FMA, and cpu-dispatch.h picks one at run time, as for warp-blend.c (bench/kernels.ts compares builds).
 * The two differ only by float rounding (FMA). FRC_KERNEL_BASELINE=1 forces the baseline build, so
 * that tests cover it on any machine.
 */

#define LK_ARGS const float *grey, float *flow, int w, int h, float t, int steps
#define UP_ARGS const float *src, int planes, int w, int h, int s, float gain, float *dst, int add
static int lk_refine_baseline(LK_ARGS) { return lk_refine_body(grey, flow, w, h, t, steps); }
static int upsample_baseline(UP_ARGS) { return upsample_body(src, planes, w, h, s, gain, dst, add); }
#ifdef X86_DISPATCH
__attribute__((target("avx2,fma"))) static int lk_refine_avx2(LK_ARGS) { return lk_refine_body(grey, flow, w, h, t, steps); }
__attribute__((target("avx2,fma"))) static int upsample_avx2(UP_ARGS) { return upsample_body(src, planes, w, h, s, gain, dst, add); }
#endif

static int lk_refine(LK_ARGS) {
#ifdef X86_DISPATCH
  if (use_avx2()) return lk_refine_avx2(grey, flow, w, h, t, steps);
#endif
  return lk_refine_baseline(grey, flow, w, h, t, steps);
}

int upsample(UP_ARGS) {
#ifdef X86_DISPATCH
  if (use_avx2()) return upsample_avx2(src, planes, w, h, s, gain, dst, add);
#endif
  return upsample_baseline(src, planes, w, h, s, gain, dst, add);
}

/* The pooling of pool_field by a factor known here (the parts' usual 1 and 2), so that the
 * compiler unrolls the window and vectorizes the rows; the same sums in the same order. */
PIXEL_INLINE void pool_field_by(const float *fm, int W, int H, const int s, float *flows, float *mask) {
  const int w = W / s, h = H / s;
  const size_t N = (size_t)W * H, n = (size_t)w * h;
  const float area = 1.f / (float)(s * s);
  for (int c = 0; c < 5; c++) {
    const float k = c < 4 ? area / (float)s : area;
    float *out = c < 4 ? flows + (size_t)c * n : mask;
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        float sum = 0.f;
        for (int j = 0; j < s; j++)
          for (int i = 0; i < s; i++) sum += fm[(size_t)c * N + (size_t)(y * s + j) * W + (x * s + i)];
        out[(size_t)y * w + x] = sum * k;
      }
  }
}

void pool_field(const float *fm, int W, int H, int s, float *flows, float *mask) {
  if (s == 1) pool_field_by(fm, W, H, 1, flows, mask);
  else if (s == 2) pool_field_by(fm, W, H, 2, flows, mask);
  else pool_field_by(fm, W, H, s, flows, mask);
}

/* v's data and element count when it is a typed array of `want`, else 0 */
int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void *data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  return napi_get_typedarray_info(env, v, &type, length, (void **)data, &ab, &offset) == napi_ok && type == want;
}

int float_array(napi_env env, napi_value v, float **data, size_t *length) { return typed_array(env, v, napi_float32_array, data, length); }

static int get_ints(napi_env env, napi_value *argv, int count, int *out) {
  for (int i = 0; i < count; i++)
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) return 0;
  return 1;
}

/*
 * What the parted session does after a part with Lucas-Kanade steps: refine
 * a copy of the flows at the block's scale, add the change, upsampled, to the
 * running working-resolution flows (in place), and, when a next block
 * follows, pool its flows again from them (in place). Returns 0, or -1 when
 * out of memory.
 */
int lk_stage(const float *grey, const float *flow, int w, int h, float t, int steps, float *running, int scale,
                    float *next_flow, int next_scale) {
  const size_t n = (size_t)w * h;
  float *delta = scratch(SCRATCH_FLOW, 4 * n);
  if (!delta) return -1;
  memcpy(delta, flow, sizeof(float) * 4 * n);
  if (lk_refine(grey, delta, w, h, t, steps) != 0) return -1;
  for (size_t i = 0; i < 4 * n; i++) delta[i] -= flow[i];
  if (upsample(delta, 4, w, h, scale, (float)scale, running, 1) != 0) return -1;
  if (next_flow) {
    const size_t next_n = n * (size_t)scale * scale / ((size_t)next_scale * next_scale);
    pool_field(running, w * scale, h * scale, next_scale, next_flow, next_flow + 4 * next_n);
  }
  return 0;
}

/*
 * lkStage(grey: Float32Array [2,h,w], flow: Float32Array [4,h,w], width, height, t, steps,
 *         running: Float32Array [>=4, h*scale, w*scale], scale[, nextFlow: Float32Array [5, H/nextScale, W/nextScale], nextScale])
 * running's first four planes are the flows it corrects; with nextFlow, running must have 5 planes
 * (flows and mask logit) and nextFlow is overwritten with them pooled by nextScale.
 */
static napi_value lk_stage_js(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  float *grey, *flow, *running, *next = NULL;
  size_t greyLen, flowLen, runningLen, nextLen = 0;
  int wh[2], steps, scale, next_scale = 0;
  double t;
  const int with_next = argc >= 10;
  if (argc < 8 || !float_array(env, argv[0], &grey, &greyLen) || !float_array(env, argv[1], &flow, &flowLen) ||
      !get_ints(env, argv + 2, 2, wh) || napi_get_value_double(env, argv[4], &t) != napi_ok ||
      napi_get_value_int32(env, argv[5], &steps) != napi_ok || !float_array(env, argv[6], &running, &runningLen) ||
      napi_get_value_int32(env, argv[7], &scale) != napi_ok ||
      (with_next && (!float_array(env, argv[8], &next, &nextLen) || napi_get_value_int32(env, argv[9], &next_scale) != napi_ok))) {
    napi_throw_type_error(env, NULL, "lkStage(grey, flow, width, height, t, steps, running, scale[, nextFlow, nextScale]): Float32Arrays and numbers expected");
    return NULL;
  }
  const int w = wh[0], h = wh[1];
  const size_t n = (size_t)(w > 0 ? w : 0) * (size_t)(h > 0 ? h : 0);
  const size_t N = n * (size_t)(scale > 0 ? scale : 0) * (size_t)(scale > 0 ? scale : 0);
  if (n == 0 || scale <= 0 || greyLen < 2 * n || flowLen < 4 * n || steps < 0 || steps > 64 || !(t >= 0.0 && t <= 1.0) ||
      runningLen < (with_next ? 5 : 4) * N ||
      (with_next && (next_scale <= 0 || (w * scale) % next_scale || (h * scale) % next_scale ||
                     nextLen < 5 * (N / ((size_t)next_scale * next_scale))))) {
    napi_throw_range_error(env, NULL, "lkStage: sizes do not fit (grey 2, flow 4 planes of width x height; running 4 or 5 of "
                                      "(width x scale) x (height x scale); nextFlow 5 of that / nextScale; 0 <= t <= 1)");
    return NULL;
  }
  if (lk_stage(grey, flow, w, h, (float)t, steps, running, scale, next, next_scale) != 0) napi_throw_error(env, NULL, "lkStage: out of memory");
  return NULL;
}


/* out [planes, h/q, w/q] = q x q means of src [planes, h, w] (avg_pool2d(q), sizes rounded down); q a
 * constant where it is inlined, so that the window unrolls */
PIXEL_INLINE void pool_planes_by_q(const float *src, int planes, int w, int h, const int q, float *out) {
  const int ow = w / q, oh = h / q;
  const float area = 1.f / (float)(q * q);
  for (int c = 0; c < planes; c++)
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        float sum = 0.f;
        for (int j = 0; j < q; j++)
          for (int i = 0; i < q; i++) sum += src[(size_t)c * w * h + (size_t)(y * q + j) * w + (x * q + i)];
        out[(size_t)c * ow * oh + (size_t)y * ow + x] = sum * area;
      }
}

void pool_planes(const float *src, int planes, int w, int h, int q, float *out) {
  if (q == 1) memcpy(out, src, sizeof(float) * (size_t)planes * w * h);
  else if (q == 2) pool_planes_by_q(src, planes, w, h, 2, out);
  else if (q == 4) pool_planes_by_q(src, planes, w, h, 4, out);
  else pool_planes_by_q(src, planes, w, h, q, out);
}

/*
 * The first block's flows from the Lucas-Kanade pyramid: from zero flow at grey [2, h, w] pooled by
 * pools[0], `steps` steps at each level, the flows upsampled (bilinear, times the ratio) from one
 * level to the next, and from the last to running's W x H (W = w / pools[last] * up). They replace
 * running's four flow planes. 0, or -1 when out of memory.
 */
int lk_pyramid(const float *grey, int w, int h, float t, int steps, const int *pools, int levels, float *running, int W) {
  size_t most = 0;
  for (int k = 0; k < levels; k++) {
    const size_t n = (size_t)(w / pools[k]) * (h / pools[k]);
    if (n > most) most = n;
  }
  float *g = scratch(SCRATCH_PYRAMID_GREY, 2 * most), *f = scratch(SCRATCH_PYRAMID_FLOW, 8 * most);
  if (!g || !f) return -1;
  float *cur = f, *spare = f + 4 * most;
  int lw = 0, lh = 0;
  for (int k = 0; k < levels; k++) {
    const int q = pools[k], kw = w / q, kh = h / q;
    pool_planes(grey, 2, w, h, q, g);
    if (k == 0) {
      memset(cur, 0, sizeof(float) * 4 * (size_t)kw * kh);
    } else {
      const int r = pools[k - 1] / q;
      if (upsample(cur, 4, lw, lh, r, (float)r, spare, 0) != 0) return -1;
      float *swap = cur;
      cur = spare;
      spare = swap;
    }
    if (lk_refine(g, cur, kw, kh, t, steps) != 0) return -1;
    lw = kw;
    lh = kh;
  }
  return upsample(cur, 4, lw, lh, W / lw, (float)(W / lw), running, 0);
}


/*
 * lkFine's global shift candidate (the card's `lkFine.shift`, issue #25). Where the whole picture
 * moves by more than the network's field follows (a page scrolled by a hundred pixels and more
 * between input frames, a fast camera turn), the network, at a fraction of the frame's size, and
 * the steps after it, which move a flow by at most a pixel each, both miss it. Here one
 * displacement D for the whole pair is found on the luma: the row and the column means matched
 * first (cheap, and they separate vertical from horizontal motion), the best few of their
 * combinations checked on the planes, then followed downhill on the planes to a local minimum
 * and to a fraction of a pixel by a parabola. Its field (F_t0 = -t D, F_t1 = (1 - t) D) gets the
 * same Lucas-Kanade steps as the network's and is taken wherever it warps the pair into better
 * agreement than the network's field, errors compared over a window: things that move on their
 * own keep the network's field. Samples that one frame does
 * not show under the shift (rows scrolled in or out) cannot be compared: they follow the
 * majority, and their mask takes the frame that shows them.
 */
#define SHIFT_RANGE 0.3f /* searched: up to this share of the plane's width and height */
#define SHIFT_PEAKS 3    /* shifts kept from each profile */
#define SHIFT_CLIMB 16   /* steps of a pixel downhill from the profiles' best */
#define SHIFT_MIN 1.f    /* shorter shifts (pixels of the plane) are the network's to follow */
#define SHIFT_AGREE 0.05f /* a shift that the field follows to within a pixel everywhere but this share is left alone */
#define SHIFT_FIT 0.7f   /* a global shift leaves at most this share of the pair's difference at zero shift */
#define SHIFT_WINDOW 9   /* the box over which the two fields' errors are compared */
#define SHIFT_MARGIN (0.5f / 255.f) /* the shift's field must beat the network's by this (mean absolute grey) */

/* Mean |a[i] - b[i + d]| over the overlap, for d in [-r, r] (cost[d + r]), and the `k` lowest local minima, best first. */
static int profile_shifts(const float *a, const float *b, int n, int r, float *cost, int *best, int k) {
  for (int d = -r; d <= r; d++) {
    const int i0 = d < 0 ? -d : 0, i1 = d > 0 ? n - d : n;
    float s = 0.f;
    for (int i = i0; i < i1; i++) s += fabsf(a[i] - b[i + d]);
    cost[d + r] = s / (float)(i1 - i0);
  }
  int found = 0;
  for (int j = 0; j <= 2 * r; j++) {
    if ((j > 0 && cost[j - 1] < cost[j]) || (j < 2 * r && cost[j + 1] < cost[j])) continue;
    int at = found;
    if (found == k) {
      if (cost[best[k - 1] + r] <= cost[j]) continue;
      at = k - 1;
    } else {
      found++;
    }
    for (; at > 0 && cost[best[at - 1] + r] > cost[j]; at--) best[at] = best[at - 1];
    best[at] = j - r;
  }
  return found;
}

/* Mean |a(x, y) - b(x + dx, y + dy)| over the overlap (every other row), or +inf where it is under a quarter of the plane. */
PIXEL_INLINE float shifted_cost(const float *restrict a, const float *restrict b, int w, int h, int dx, int dy) {
  const int x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? w - dx : w, y0 = dy < 0 ? -dy : 0, y1 = dy > 0 ? h - dy : h;
  if (4 * (x1 - x0) < w || 4 * (y1 - y0) < h) return INFINITY;
  float s = 0.f;
  int rows = 0;
  for (int y = y0; y < y1; y += 2, rows++) {
    const float *restrict ra = a + (size_t)y * w, *restrict rb = b + (size_t)(y + dy) * w + dx;
    float r = 0.f;
    for (int x = x0; x < x1; x++) r += fabsf(ra[x] - rb[x]);
    s += r;
  }
  return s / ((float)rows * (float)(x1 - x0));
}

/* The vertex of the parabola through (-1, m), (0, c), (1, p), within half a step. */
static float parabola(float m, float c, float p) {
  const float den = m - 2.f * c + p;
  if (!(den > 0.f) || !isfinite(m) || !isfinite(p)) return 0.f;
  return clampf(0.5f * (m - p) / den, -0.5f, 0.5f);
}

/* Whether a sample at (x, y) + f lies on the plane (within half a pixel of its edge samples). */
PIXEL_INLINE int on_plane(float x, float y, int w, int h) { return x >= -0.5f && x <= (float)w - 0.5f && y >= -0.5f && y <= (float)h - 0.5f; }

/*
 * The candidate on grey [2, h, w] (0..1) against the field flow [4, h, w] / mask [h, w] (pixels of this
 * size; changed in place where the candidate is taken). Returns the number of samples that took it (0
 * where no global shift was found or the field follows it already), or -1 when out of memory.
 */
PIXEL_INLINE int shift_candidate_body(const float *grey, float *flow, float *mask, int w, int h, float t, int steps) {
  const size_t n = (size_t)w * h;
  const float *g0 = grey, *g1 = grey + n;
  const int ry = (int)(SHIFT_RANGE * (float)h), rx = (int)(SHIFT_RANGE * (float)w);
  /* the candidate's flows, the warped pair and blend, the errors and where they can be compared, a plane for box_mean; then the profiles */
  float *buf = scratch(SCRATCH_SHIFT, 11 * n + 2 * (size_t)(w + h) + (size_t)(2 * (rx > ry ? rx : ry) + 1));
  if (!buf) return -1;
  float *cand = buf, *wa = buf + 4 * n, *wb = buf + 5 * n, *bl = buf + 6 * n, *err = buf + 7 * n, *tmp = buf + 10 * n;
  float *prof = buf + 11 * n, *cost = prof + 2 * (size_t)(w + h);
  float *rows0 = prof, *rows1 = prof + h, *cols0 = prof + 2 * h, *cols1 = prof + 2 * h + w;
  for (int k = 0; k < 2; k++) {
    const float *g = k ? g1 : g0;
    float *rows = k ? rows1 : rows0, *cols = k ? cols1 : cols0;
    for (int x = 0; x < w; x++) cols[x] = 0.f;
    for (int y = 0; y < h; y++) {
      const float *r = g + (size_t)y * w;
      float s = 0.f;
      for (int x = 0; x < w; x++) s += r[x], cols[x] += r[x];
      rows[y] = s / (float)w;
    }
    for (int x = 0; x < w; x++) cols[x] /= (float)h;
  }
  int bx[SHIFT_PEAKS + 1], by[SHIFT_PEAKS + 1];
  const int nx = profile_shifts(cols0, cols1, w, rx, cost, bx, SHIFT_PEAKS), ny = profile_shifts(rows0, rows1, h, ry, cost, by, SHIFT_PEAKS);
  const float still = shifted_cost(g0, g1, w, h, 0, 0);
  float best = INFINITY;
  int dx = 0, dy = 0;
  for (int i = 0; i < nx; i++)
    for (int j = 0; j < ny; j++) {
      const float c = shifted_cost(g0, g1, w, h, bx[i], by[j]);
      if (c < best) best = c, dx = bx[i], dy = by[j];
    }
  /* downhill from there to the nearest local minimum: the profiles only point the way where rows or columns differ */
  for (int step = 0; step < SHIFT_CLIMB; step++) {
    const int mx[4] = {-1, 1, 0, 0}, my[4] = {0, 0, -1, 1};
    int k = -1;
    for (int j = 0; j < 4; j++) {
      const float c = shifted_cost(g0, g1, w, h, dx + mx[j], dy + my[j]);
      if (c < best) best = c, k = j;
    }
    if (k < 0) break;
    dx += mx[k], dy += my[k];
  }
  if (!(best < SHIFT_FIT * still)) return 0;
  const float Dx = (float)dx + parabola(shifted_cost(g0, g1, w, h, dx - 1, dy), best, shifted_cost(g0, g1, w, h, dx + 1, dy));
  const float Dy = (float)dy + parabola(shifted_cost(g0, g1, w, h, dx, dy - 1), best, shifted_cost(g0, g1, w, h, dx, dy + 1));
  if (fabsf(Dx) < SHIFT_MIN && fabsf(Dy) < SHIFT_MIN) return 0;
  size_t apart = 0;
  for (size_t i = 0; i < n; i++)
    apart += fabsf(flow[2 * n + i] - flow[i] - Dx) + fabsf(flow[3 * n + i] - flow[n + i] - Dy) > 1.f;
  if ((float)apart < SHIFT_AGREE * (float)n) return 0;

  const float u[4] = {-t * Dx, -t * Dy, (1.f - t) * Dx, (1.f - t) * Dy};
  for (int c = 0; c < 4; c++)
    for (size_t i = 0; i < n; i++) cand[c * n + i] = u[c];
  if (lk_refine_body(grey, cand, w, h, t, steps) != 0) return -1;
  /* err: the network's field's error, the candidate's, and 1 where the candidate's samples are both on the plane */
  float *en = err, *ec = err + n, *known = err + 2 * n;
  for (int k = 0; k < 2; k++) {
    const float *f = k ? cand : flow;
    lk_warp(g0, g1, f, f + n, f + 2 * n, f + 3 * n, w, h, 2.f * t, 2.f - 2.f * t, wa, wb, bl);
    float *e = k ? ec : en;
    for (size_t i = 0; i < n; i++) e[i] = fabsf(wa[i] - wb[i]);
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const size_t i = (size_t)y * w + x;
      const float k = (float)(on_plane((float)x + cand[i], (float)y + cand[n + i], w, h) & on_plane((float)x + cand[2 * n + i], (float)y + cand[3 * n + i], w, h));
      known[i] = k, en[i] *= k, ec[i] *= k;
    }
  box_mean(err, 3, w, h, SHIFT_WINDOW, tmp);
  /* wa: 1 where the candidate wins, 0 where the network's field does, -1 where neither does by the margin
   * (flat picture) or they cannot be compared: those follow the majority */
  size_t wins = 0, losses = 0;
  for (size_t i = 0; i < n; i++) {
    const float margin = SHIFT_MARGIN * known[i];
    const int seen = known[i] >= 0.25f, win = seen && ec[i] + margin < en[i], loss = seen && en[i] + margin < ec[i];
    wa[i] = win ? 1.f : loss ? 0.f : -1.f;
    wins += win, losses += loss;
  }
  const float rest = wins > losses ? 1.f : 0.f;
  int taken = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const size_t i = (size_t)y * w + x;
      if ((wa[i] < 0.f ? rest : wa[i]) == 0.f) continue;
      for (int c = 0; c < 4; c++) flow[c * n + i] = cand[c * n + i];
      const int on0 = on_plane((float)x + cand[i], (float)y + cand[n + i], w, h);
      const int on1 = on_plane((float)x + cand[2 * n + i], (float)y + cand[3 * n + i], w, h);
      mask[i] = on0 == on1 ? 1.f - t : (float)on0; /* the mask weighs frame 0 */
      taken++;
    }
  return taken;
}

#define SHIFT_ARGS const float *grey, float *flow, float *mask, int w, int h, float t, int steps
#define SHIFT_CALL grey, flow, mask, w, h, t, steps
static int shift_candidate_baseline(SHIFT_ARGS) { return shift_candidate_body(SHIFT_CALL); }
#ifdef X86_DISPATCH
__attribute__((target("avx2,fma"))) static int shift_candidate_avx2(SHIFT_ARGS) { return shift_candidate_body(SHIFT_CALL); }
#endif
static int shift_candidate(SHIFT_ARGS) {
#ifdef X86_DISPATCH
  if (use_avx2()) return shift_candidate_avx2(SHIFT_CALL);
#endif
  return shift_candidate_baseline(SHIFT_CALL);
}

typedef struct {
  const uint8_t *grey0, *grey1; /* [H, W] luma, packed */
  const float *flow, *mask;     /* [4, h, w], [h, w] */
  int w, h, scale, steps;
  float t;
  float *out_flow, *out_mask; /* [4, H, W], [H, W] */
  int shift;                  /* then the global shift candidate */
  int taken;                  /* samples that took it */
  int failed;
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep; /* the arrays, alive while the pool reads and writes them */
} FineCall;

static void fine_execute(napi_env env, void *data) {
  FineCall *c = (FineCall *)data;
  const int W = c->w * c->scale, H = c->h * c->scale;
  const size_t N = (size_t)W * H;
  float *grey = scratch(SCRATCH_GREY, 2 * N);
  if (!grey || upsample(c->flow, 4, c->w, c->h, c->scale, (float)c->scale, c->out_flow, 0) != 0 ||
      upsample(c->mask, 1, c->w, c->h, c->scale, 1.f, c->out_mask, 0) != 0) {
    c->failed = 1;
    return;
  }
  for (size_t i = 0; i < N; i++) {
    grey[i] = (float)c->grey0[i] * (1.f / 255.f);
    grey[N + i] = (float)c->grey1[i] * (1.f / 255.f);
  }
  c->failed = lk_refine(grey, c->out_flow, W, H, c->t, c->steps) != 0;
  if (!c->failed && c->shift) {
    c->taken = shift_candidate(grey, c->out_flow, c->out_mask, W, H, c->t, c->steps);
    c->failed = c->taken < 0;
  }
}

static void fine_complete(napi_env env, napi_status status, void *data) {
  FineCall *c = (FineCall *)data;
  napi_value v;
  if (status == napi_ok && !c->failed) {
    napi_create_int32(env, c->taken, &v);
    napi_resolve_deferred(env, c->deferred, v);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, "lkFine: out of memory", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &v);
    napi_reject_deferred(env, c->deferred, v);
  }
  napi_delete_reference(env, c->keep);
  napi_delete_async_work(env, c->work);
  free(c);
}

/*
 * lkFine(grey0, grey1: Uint8Array [h*scale, w*scale] luma, flow: Float32Array [4, h, w], mask: Float32Array [h, w],
 *        w, h, scale, t, steps, outFlow: Float32Array [4, h*scale, w*scale], outMask: Float32Array [h*scale, w*scale])
 *        shift?: boolean) -> Promise<number>
 * The field upsampled by scale into outFlow / outMask, then `steps` Lucas-Kanade steps on those flows; with
 * `shift`, then the global shift candidate. Resolves with the number of samples that took the candidate.
 */
static napi_value lk_fine_js(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *g0, *g1;
  float *flow, *mask, *of, *om;
  size_t l0, l1, lf, lm, lof, lom;
  int dims[3], steps;
  double t;
  if (argc < 11 || !typed_array(env, argv[0], napi_uint8_array, &g0, &l0) || !typed_array(env, argv[1], napi_uint8_array, &g1, &l1) || !float_array(env, argv[2], &flow, &lf) ||
      !float_array(env, argv[3], &mask, &lm) || !get_ints(env, argv + 4, 3, dims) || napi_get_value_double(env, argv[7], &t) != napi_ok ||
      napi_get_value_int32(env, argv[8], &steps) != napi_ok || !float_array(env, argv[9], &of, &lof) || !float_array(env, argv[10], &om, &lom)) {
    napi_throw_type_error(env, NULL, "lkFine(grey0, grey1, flow, mask, w, h, scale, t, steps, outFlow, outMask): Uint8Arrays, Float32Arrays and numbers expected");
    return NULL;
  }
  const int w = dims[0], h = dims[1], s = dims[2];
  const size_t n = (size_t)(w > 0 ? w : 0) * (size_t)(h > 0 ? h : 0);
  const size_t N = n * (size_t)(s > 0 ? s : 0) * (size_t)(s > 0 ? s : 0);
  if (n == 0 || s < 1 || s > 16 || l0 < N || l1 < N || lf < 4 * n || lm < n || lof < 4 * N || lom < N || steps < 0 || steps > 64 ||
      !(t >= 0.0 && t <= 1.0)) {
    napi_throw_range_error(env, NULL, "lkFine: sizes do not fit (flow 4 and mask 1 plane of w x h; grey and out planes of "
                                      "(w x scale) x (h x scale); 1 <= scale <= 16; 0 <= t <= 1)");
    return NULL;
  }
  FineCall *c = calloc(1, sizeof *c);
  if (!c) {
    napi_throw_error(env, NULL, "lkFine: out of memory");
    return NULL;
  }
  *c = (FineCall){.grey0 = g0, .grey1 = g1, .flow = flow, .mask = mask, .w = w, .h = h, .scale = s, .steps = steps, .t = (float)t,
                  .out_flow = of, .out_mask = om};
  bool shift = false;
  if (argc > 11 && napi_get_value_bool(env, argv[11], &shift) != napi_ok) shift = false;
  c->shift = shift;
  napi_value keep, promise, name;
  const int held[6] = {0, 1, 2, 3, 9, 10};
  napi_create_array_with_length(env, 6, &keep);
  for (int i = 0; i < 6; i++) napi_set_element(env, keep, i, argv[held[i]]);
  napi_create_reference(env, keep, 1, &c->keep);
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "frc.lkFine", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, fine_execute, fine_complete, c, &c->work);
  napi_queue_async_work(env, c->work);
  return promise;
}


NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"simd", NULL, simd_js, NULL, NULL, NULL, napi_default, NULL},
      {"lkStage", NULL, lk_stage_js, NULL, NULL, NULL, napi_default, NULL},
      {"lkFine", NULL, lk_fine_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  ifblock_register(env, exports);
  return exports;
}
