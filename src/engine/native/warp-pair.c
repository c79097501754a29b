/*
 * The warp between the parts of an interpolator in parts (see parted-session.ts):
 * both frames of a 6-channel float pair backward-warped by their own flows.
 *
 * Inside the ONNX graph this was GridSample, a large share of the network's
 * time (see bench/RESULTS.md, Network alone); here it costs next to nothing.
 * It runs synchronously on the calling thread, which is the inference
 * worker's own thread, between two part runs.
 *
 * Semantics are PyTorch's grid_sample(mode='bilinear', padding_mode='border',
 * align_corners=False) with the grid of train/ifnet_infer.py's warp_pair:
 * out_k(x, y) = pair_k(x + fx_k, y + fy_k), the coordinates clamped to the
 * image, for frame k = 0 (channels 0-2, flow channels 0-1) and k = 1
 * (channels 3-5, flow channels 2-3).
 */
#include <math.h>
#include <node_api.h>
#include <stddef.h>

/* fminf(fmaxf(v, lo), hi), a NaN to lo included, written as comparisons: without -ffast-math the
 * compiler calls libm for fminf and fmaxf (their signed zeros and NaNs), twice per coordinate. */
static inline float clampf(float v, float lo, float hi) { return v > lo ? (v < hi ? v : hi) : lo; }
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

static void warp_pair(const float *pair, const float *flow, int w, int h, float *out) {
  const size_t n = (size_t)w * h;
  for (int k = 0; k < 2; k++) {
    const float *fx = flow + (size_t)(2 * k) * n, *fy = fx + n;
    const float *src = pair + (size_t)(3 * k) * n;
    float *dst = out + (size_t)(3 * k) * n;
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        const size_t i = (size_t)y * w + x;
        const float px = clampf((float)x + fx[i], 0.f, (float)(w - 1));
        const float py = clampf((float)y + fy[i], 0.f, (float)(h - 1));
        /* integer clamps too, so that even a NaN flow cannot index outside the planes */
        const int x0 = clampi((int)px, 0, w - 1), y0 = clampi((int)py, 0, h - 1);
        const int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
        const float ax = px - (float)x0, ay = py - (float)y0;
        const size_t t0 = (size_t)y0 * w, t1 = (size_t)y1 * w;
        for (int c = 0; c < 3; c++) {
          const float *p = src + (size_t)c * n;
          const float top = p[t0 + x0] + (p[t0 + x1] - p[t0 + x0]) * ax;
          const float bot = p[t1 + x0] + (p[t1 + x1] - p[t1 + x0]) * ax;
          dst[(size_t)c * n + i] = top + (bot - top) * ay;
        }
      }
    }
  }
}

static int float_array(napi_env env, napi_value v, float **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  return napi_get_typedarray_info(env, v, &type, length, (void **)data, &ab, &offset) == napi_ok && type == napi_float32_array;
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

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "warpPair", NAPI_AUTO_LENGTH, warp_pair_js, NULL, &fn);
  napi_set_named_property(env, exports, "warpPair", fn);
  return exports;
}
