/*
 * What lk-refine.c shares with ifblock.c, the other half of the native work between a model's parts
 * (both in the frc_lk_refine addon): the per-thread scratch memory, the resamplings with PyTorch's
 * semantics, the box mean, and the Lucas-Kanade steps after a block and the first block's pyramid.
 */
#ifndef FRC_LK_REFINE_H
#define FRC_LK_REFINE_H

#include <math.h>
#include <node_api.h>
#include <stddef.h>

/* Helpers of the per-pixel code: inlined into each compiled variant (see lk_refine), so they get its instruction set. */
#define PIXEL_INLINE static inline __attribute__((always_inline))

PIXEL_INLINE float clampf(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }
PIXEL_INLINE int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Slots of scratch(): each caller its own, since one call may hold several at once. */
enum {
  SCRATCH_STEPS, SCRATCH_FLOW, SCRATCH_COLUMNS, SCRATCH_GREY, SCRATCH_PYRAMID_GREY, SCRATCH_PYRAMID_FLOW, SCRATCH_SHIFT,
  SCRATCH_BLOCK, SCRATCH_BLOCK_TMP, SCRATCH_BLOCK_ROWS, SCRATCH_SLOTS
};

/* Working memory of at least `count` floats in `slot`, this thread's, kept between calls; NULL when out of memory. */
float *scratch(int slot, size_t count);

/*
 * avg_pool2d(k, stride 1, padding k/2, count_include_pad=False) of `planes`
 * planes of w x h, in place, separably (the sum over the window inside the
 * image, divided by its size). tmp holds one plane. The inner loops have no
 * bounds to check away from the edges, and k is a constant where it is
 * inlined, so that the compiler unrolls and vectorizes them.
 */
PIXEL_INLINE void box_mean(float *planes, int count, int w, int h, const int k, float *tmp) {
  const int r = k / 2;
  const size_t n = (size_t)w * h;
  const float inv = 1.f / (float)k;
  for (int c = 0; c < count; c++) {
    float *p = planes + (size_t)c * n;
    for (int y = 0; y < h; y++) { /* rows: tmp = horizontal mean */
      const float *row = p + (size_t)y * w;
      float *out = tmp + (size_t)y * w;
      for (int x = 0; x < w; x++) {
        if (x == r && w - r > r) { /* the interior, where the whole window is inside */
          for (; x < w - r; x++) {
            float s = 0.f;
            for (int i = -r; i <= r; i++) s += row[x + i];
            out[x] = s * inv;
          }
          if (x >= w) break;
        }
        const int a = x - r < 0 ? 0 : x - r, b = x + r >= w ? w - 1 : x + r;
        float s = 0.f;
        for (int i = a; i <= b; i++) s += row[i];
        out[x] = s / (float)(b - a + 1);
      }
    }
    for (int y = 0; y < h; y++) { /* columns: p = vertical mean of tmp */
      const int a = y - r < 0 ? 0 : y - r, b = y + r >= h ? h - 1 : y + r;
      float *out = p + (size_t)y * w;
      const float *first = tmp + (size_t)a * w;
      if (b - a + 1 == k) { /* the whole window: k rows summed in registers, one store per sample */
        for (int x = 0; x < w; x++) {
          float s = first[x];
          for (int i = 1; i < k; i++) s += first[(size_t)i * w + x];
          out[x] = s * inv;
        }
        continue;
      }
      for (int x = 0; x < w; x++) out[x] = first[x];
      for (int i = a + 1; i <= b; i++) {
        const float *row = tmp + (size_t)i * w;
        for (int x = 0; x < w; x++) out[x] += row[x];
      }
      const float m = 1.f / (float)(b - a + 1);
      for (int x = 0; x < w; x++) out[x] *= m;
    }
  }
}

/*
 * planes of w x h -> planes of (w s) x (h s), bilinear as PyTorch's interpolate(scale_factor=s,
 * align_corners=False), values times `gain`; written to dst, or with `add` added to what it holds.
 * 0, or -1 when out of memory.
 */
int upsample(const float *src, int planes, int w, int h, int s, float gain, float *dst, int add);

/* out [planes, h/q, w/q] = q x q means of src [planes, h, w] (avg_pool2d(q), sizes rounded down) */
void pool_planes(const float *src, int planes, int w, int h, int q, float *out);

/* A block's Lucas-Kanade steps (see lk-refine.c); next_flow may be NULL. 0, or -1 when out of memory. */
int lk_stage(const float *grey, const float *flow, int w, int h, float t, int steps, float *running, int scale,
             float *next_flow, int next_scale);

/* The first block's flows from the Lucas-Kanade pyramid, into running's flow planes (see lk-refine.c). 0, or -1 when out of memory. */
int lk_pyramid(const float *grey, int w, int h, float t, int steps, const int *pools, int levels, float *running, int W);

/* The running flows and mask of fm [5, H, W] pooled by s: flows [4, H/s, W/s] in pixels of the smaller size, mask [H/s, W/s]. */
void pool_field(const float *fm, int W, int H, int s, float *flows, float *mask);

/* v's data and element count when it is a typed array of `want` (a Float32Array for float_array), else 0 */
int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void *data, size_t *length);
int float_array(napi_env env, napi_value v, float **data, size_t *length);

#endif
