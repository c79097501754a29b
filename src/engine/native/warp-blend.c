/*
 * Fused full-resolution synthesis for flow-based interpolators.
 *
 * The model estimates the intermediate flows F(t->0), F(t->1) and the fusion
 * mask at reduced resolution. Doing the upsampling, the two backward warps
 * and the blend inside the ONNX graph costs several passes over full-size
 * float RGB (ONNX Runtime's CPU GridSample alone costs several times this whole
 * kernel). This kernel does all of it in one pass per output sample, directly on
 * 8-bit YUV planes, so no full-resolution RGB exists on the way to the encoder.
 *
 * Semantics match the PyTorch reference (train/ifnet.py):
 *  - flow and mask are upsampled bilinearly with align_corners=False
 *    (source index clamped at the borders), flow values scaled to the plane;
 *  - warp(img, f)(x) = img(x + f(x)), bilinear, coordinates clamped to the
 *    image (grid_sample padding_mode='border', align_corners=False); or, when
 *    the call asks for it, bicubic as grid_sample(mode='bicubic'): Keys' cubic
 *    with a = -0.75 over 4x4 taps, each tap clamped to the image (sharper: a
 *    bilinear sample between pixels is a low-pass filter);
 *  - out = m * warp(img0, F_t0) + (1 - m) * warp(img1, F_t1).
 * Warping and blending are linear, so doing them on YUV equals doing them on
 * RGB up to rounding; chroma planes use the flow at their own resolution.
 */
#include <math.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu-dispatch.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the 16-bit tap fetches assume a little-endian machine"
#endif

typedef struct {
  const uint8_t *src0[3], *src1[3];
  uint8_t *dst[3];
  int stride0[3], stride1[3], dstStride[3];
  int width[3], height[3];
  const float *flow; /* [4, fh, fw]: dx0, dy0, dx1, dy1 in flow-resolution pixels */
  const float *mask; /* [fh, fw]: weight of frame 0 */
  int fw, fh;
  int planes;
  int rowStart, rowEnd; /* luma rows of this slice; chroma rows follow proportionally */
  int blendOnly;        /* no field: out = (1 - t) * src0 + t * src1 (the engine's blend) */
  int blendWeight;      /* t in 1/256 */
  int cubic;            /* warp with bicubic instead of bilinear sampling */
  int holdStill;        /* samples still in both frames keep their value (hold_still) */
} Job;

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Bilinear sample of an 8-bit plane at (x, y), coordinates clamped to the plane. */
static inline float sample_u8(const uint8_t *p, int stride, int w, int h, float x, float y) {
  x = clampf(x, 0.f, (float)(w - 1));
  y = clampf(y, 0.f, (float)(h - 1));
  int x0 = (int)x, y0 = (int)y;
  int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
  float ax = x - (float)x0, ay = y - (float)y0;
  const uint8_t *r0 = p + (size_t)y0 * stride, *r1 = p + (size_t)y1 * stride;
  float top = r0[x0] + (r0[x1] - r0[x0]) * ax;
  float bot = r1[x0] + (r1[x1] - r1[x0]) * ax;
  return top + (bot - top) * ay;
}

/* Keys' cubic convolution weights (a = -0.75, PyTorch's and ONNX's bicubic) of the 4 taps
 * floor(x) - 1 .. floor(x) + 2 for the fraction t = x - floor(x). */
#define CUBIC_A (-0.75f)
static inline void cubic_weights(float t, float *w0, float *w1, float *w2, float *w3) {
  const float u = 1.f - t;
  *w0 = ((CUBIC_A * (t + 1.f) - 5.f * CUBIC_A) * (t + 1.f) + 8.f * CUBIC_A) * (t + 1.f) - 4.f * CUBIC_A;
  *w1 = ((CUBIC_A + 2.f) * t - (CUBIC_A + 3.f)) * t * t + 1.f;
  *w2 = ((CUBIC_A + 2.f) * u - (CUBIC_A + 3.f)) * u * u + 1.f;
  *w3 = 1.f - *w0 - *w1 - *w2;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Bicubic sample of an 8-bit plane at (x, y), each tap clamped to the plane (grid_sample's
 * 'border' for bicubic: the coordinate itself is not clamped, so it may overshoot near edges). */
static inline float sample_cubic_u8(const uint8_t *p, int stride, int w, int h, float x, float y) {
  x = clampf(x, -1.f, (float)w), y = clampf(y, -1.f, (float)h); /* beyond: every tap is the edge */
  const int ix = (int)(x + 2.f) - 2, iy = (int)(y + 2.f) - 2;     /* floor, as x, y >= -1 */
  float wx[4], wy[4];
  cubic_weights(x - (float)ix, &wx[0], &wx[1], &wx[2], &wx[3]);
  cubic_weights(y - (float)iy, &wy[0], &wy[1], &wy[2], &wy[3]);
  float v = 0.f;
  for (int j = 0; j < 4; j++) {
    const uint8_t *r = p + (size_t)clampi(iy - 1 + j, 0, h - 1) * stride;
    float row = 0.f;
    for (int i = 0; i < 4; i++) row += wx[i] * r[clampi(ix - 1 + i, 0, w - 1)];
    v += wy[j] * row;
  }
  return v;
}

/*
 * The hot path (planes of at least 2x2), one output row at a time in passes over arrays (one
 * chunk of the row each), so that everything but the pixel fetches is a plain loop the compiler
 * vectorizes:
 *  1. the field, upsampled horizontally once per *flow* row (cached: consecutive output rows
 *     share their two flow rows), then vertically for this row (for bilinear, inside pass 2:
 *     the flows are read once and never stored);
 *  2. sample positions -> integer offsets and fractions, for both frames;
 *  3. fetch the 2x2 neighbourhoods (scalar gathers, the only scalar loop: each row pair of taps
 *     is one unaligned 16-bit load, half the loads and stores of byte-wise fetches), or for
 *     bicubic the 4x4 ones (a 32-bit load per tap row);
 *  4. bilinear (or bicubic) taps, mask blend, rounding to 8 bits.
 * Much faster than doing all of it per pixel (see bench/history/, "A faster kernel"). A row goes through the passes
 * in chunks of CHUNK samples, so that the row arrays stay in L1. The chroma planes of one frame
 * share their geometry, so their sample positions are computed once for both.
 *
 * On x86-64 the row code is compiled twice, for the baseline (SSE2) and for AVX2+FMA, and the
 * CPU picks at run time (faster at every size: see bench/history/, "A faster kernel"). The tap
 * fetches stay scalar on purpose: AVX2 gathers measured slower than scalar loads on an earlier machine, and no
 * faster for the bicubic taps on the AMD EPYC of issue #24 (bench/history/, "Engine efficiency, a first slice").
 */
#ifndef CHUNK
#define CHUNK 128
#endif
#ifdef X86_DISPATCH
#include <immintrin.h>
#endif
/* Helpers of the row code: inlined into each compiled variant, so they get its instruction set. */
#if defined(__GNUC__) || defined(__clang__)
#define ROW_INLINE static inline __attribute__((always_inline))
#else
#define ROW_INLINE static inline
#endif
enum { F_DX0, F_DY0, F_DX1, F_DY1, F_M, F_CH };

/* Bilinear upsampling tap (align_corners=False, clamped at the borders) of output index i,
 * for a source of n samples at `s` source samples per output sample. */
ROW_INLINE void upsample_tap(int i, float s, int n, int *i0, int *i1, float *a) {
  float f = ((float)i + 0.5f) * s - 0.5f;
  if (f < 0.f) f = 0.f;
  int k = (int)f;
  if (k > n - 1) k = n - 1;
  const float frac = f - (float)k;
  *i0 = k;
  *i1 = k + 1 < n ? k + 1 : k;
  *a = frac > 1.f ? 1.f : frac;
}

typedef struct {
  float *cache[2][F_CH]; /* horizontally upsampled flow rows, plane width each */
  int cached[2];         /* which flow row each cache slot holds (-1: none) */
  /* The rest holds one chunk of the output row. */
  float *f[F_CH];        /* the field */
  float *fx[2], *fy[2];  /* per frame: fractions */
  int *off[2];           /* per frame: bilinear: offset of the top-left tap; bicubic: column of the left taps */
  int *rowOff[2];        /* per frame, bicubic only: offsets of the 4 tap rows (clamped), [4][CHUNK] */
  float *wx[2], *wy[2];  /* per frame, bicubic only: the taps' weights across and down, [4][CHUNK] */
  uint32_t *tap[2];      /* per frame: the taps, bytes left to right; bilinear: top row in the low half, bottom
                            row in the high half, [CHUNK]; bicubic: tap row j at [j][CHUNK] */
  /* AVX2 build only: the horizontal upsampling of a flow row by groups of 8 samples (see flow_row_avx2) */
  int *group;            /* per group of 8: the first flow column (-1: not within 8 columns, or too near the
                            row's end to load 8 from it), then the 8 left
                            and the 8 right columns relative to it: 17 ints */
  void *mem;
} Rows;

#define GROUP_INTS 17

static int rows_alloc(Rows *r, int w) {
  const size_t n = (size_t)w, fl = sizeof(float) * n, c = CHUNK, groups = n / 8;
  const size_t total = fl * 2 * F_CH + sizeof(float) * c * (F_CH + 4 + 2 * 8) + sizeof(int) * c * 2 * 5 + sizeof(uint32_t) * c * 2 * 4 +
                       sizeof(int) * GROUP_INTS * groups;
  char *m = malloc(total);
  if (!m) return 0;
  r->mem = m;
  r->group = (int *)m, m += sizeof(int) * GROUP_INTS * groups;
  for (int k = 0; k < 2; k++) {
    for (int ch = 0; ch < F_CH; ch++) r->cache[k][ch] = (float *)m, m += fl;
    r->cached[k] = -1;
  }
  for (int ch = 0; ch < F_CH; ch++) r->f[ch] = (float *)m, m += sizeof(float) * c;
  for (int k = 0; k < 2; k++) r->fx[k] = (float *)m, m += sizeof(float) * c, r->fy[k] = (float *)m, m += sizeof(float) * c;
  for (int k = 0; k < 2; k++) r->off[k] = (int *)m, m += sizeof(int) * c;
  for (int k = 0; k < 2; k++) r->rowOff[k] = (int *)m, m += sizeof(int) * c * 4;
  for (int k = 0; k < 2; k++) r->wx[k] = (float *)m, m += sizeof(float) * c * 4, r->wy[k] = (float *)m, m += sizeof(float) * c * 4;
  for (int k = 0; k < 2; k++) r->tap[k] = (uint32_t *)m, m += sizeof(uint32_t) * c * 4;
  return 1;
}

/* The group table of the AVX2 flow-row upsampling (Rows.group) for a plane w samples wide. */
static void group_columns(Rows *r, const int *xi, int w, int fw) {
  for (int g = 0; g < w / 8; g++) {
    int *e = r->group + GROUP_INTS * g;
    const int base = xi[16 * g];
    int ok = base + 8 <= fw; /* the load stays within the flow row */
    for (int l = 0; l < 8; l++) {
      e[1 + l] = xi[16 * g + 2 * l] - base;
      e[9 + l] = xi[16 * g + 2 * l + 1] - base;
      ok = ok && e[1 + l] >= 0 && e[1 + l] < 8 && e[9 + l] >= 0 && e[9 + l] < 8;
    }
    e[0] = ok ? base : -1;
  }
}

#ifdef X86_DISPATCH
/*
 * One flow channel's row upsampled horizontally, 8 samples at a time: where a group's taps lie
 * within 8 flow columns (any upsampling by more than 8/7), one load of those columns and two
 * permutes give both taps of all 8, instead of 16 scalar loads through the tap indices. The same
 * arithmetic as the portable loop (as GCC compiles it for FMA), so the same floats.
 */
__attribute__((target("avx2,fma"))) static void flow_row_avx2(const Rows *r, const float *in, int fw, float scale, const int *xi,
                                                                 const float *xa, int w, float *out) {
  const __m256 sc = _mm256_set1_ps(scale);
  int x = 0;
  for (int g = 0; g < w / 8; g++, x += 8) {
    const int *e = r->group + GROUP_INTS * g;
    if (e[0] < 0) {
      for (int l = 0; l < 8; l++) out[x + l] = (in[xi[2 * (x + l)]] + (in[xi[2 * (x + l) + 1]] - in[xi[2 * (x + l)]]) * xa[x + l]) * scale;
      continue;
    }
    const __m256 v = _mm256_loadu_ps(in + e[0]);
    const __m256 lo = _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i *)(e + 1)));
    const __m256 hi = _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i *)(e + 9)));
    _mm256_storeu_ps(out + x, _mm256_mul_ps(_mm256_fmadd_ps(_mm256_sub_ps(hi, lo), _mm256_loadu_ps(xa + x), lo), sc));
  }
  for (; x < w; x++) out[x] = (in[xi[2 * x]] + (in[xi[2 * x + 1]] - in[xi[2 * x]]) * xa[x]) * scale;
}
#endif

/* Cache slot holding flow row `fyRow`, horizontally upsampled to the plane (values in plane px). */
ROW_INLINE float *const *flow_row(Rows *r, int fyRow, const float *const src[F_CH], const float scale[F_CH], int fw,
                              const int *xi, const float *xa, int w, const int simd) {
  for (int k = 0; k < 2; k++)
    if (r->cached[k] == fyRow) return r->cache[k];
  /* Replace the slot not holding the other row in use (rows only move downwards). */
  const int k = r->cached[0] < r->cached[1] ? 0 : 1;
  for (int c = 0; c < F_CH; c++) {
    const float *in = src[c] + (size_t)fyRow * fw;
    float *out = r->cache[k][c];
#ifdef X86_DISPATCH
    if (simd) {
      flow_row_avx2(r, in, fw, scale[c], xi, xa, w, out);
      continue;
    }
#endif
    for (int x = 0; x < w; x++) out[x] = (in[xi[2 * x]] + (in[xi[2 * x + 1]] - in[xi[2 * x]]) * xa[x]) * scale[c];
  }
  r->cached[k] = fyRow;
  return r->cache[k];
}

/* What the chunk passes share: the planes (one, or both chroma planes), their geometry, the row. */
typedef struct {
  const Job *job;
  const int *ps;
  int np, w, h, y;
  int stride[2];
  float *const *top, *const *bot; /* the field's two cached rows around this row, and the weight of the lower */
  float ay;
} Span;

/* A sample that is the same in both frames (within STILL_DIFF), with STILL_RADIUS neighbours on either
 * side in its row, keeps that value (the mean of the two) instead of the warped one. The field is at a
 * fraction of the frame's resolution, so the motion of a scene bleeds into the static overlays next to it
 * (a HUD, a scoreboard, a terminal's unchanged lines), which then swim; a run of unchanged samples is most
 * likely unchanged at t too. A single unchanged sample is not enough: under a moving camera flat and
 * periodic texture match by chance. Both chosen on the held-out clips (train/README.md, "Static runs held"). */
#define STILL_RADIUS 2
#define STILL_DIFF 1
ROW_INLINE void hold_still(const Span *sp, int p, int x0, int n, uint8_t *restrict out) {
  const uint8_t *restrict a = sp->job->src0[p] + (size_t)sp->y * sp->stride[0];
  const uint8_t *restrict b = sp->job->src1[p] + (size_t)sp->y * sp->stride[1];
  uint8_t still[CHUNK + 2 * STILL_RADIUS];
  const int first = x0 - STILL_RADIUS, count = n + 2 * STILL_RADIUS;
  /* Samples past the plane's edges (at most STILL_RADIUS on each side) take the edge's column; the
   * rest is one loop the compiler vectorizes (clamping every column kept a row's first and last
   * chunks scalar). */
  const int lo = first < 0 ? -first : 0, hi = first + count > sp->w ? sp->w - first : count;
  for (int i = lo; i < hi; i++) {
    const int d = (int)a[first + i] - (int)b[first + i];
    still[i] = (uint8_t)(d <= STILL_DIFF && d >= -STILL_DIFF);
  }
  for (int i = 0; i < lo; i++) still[i] = still[lo];
  for (int i = hi; i < count; i++) still[i] = still[hi - 1];
  const uint8_t *restrict a0 = a + x0, *restrict b0 = b + x0;
  for (int x = 0; x < n; x++) {
    const uint8_t run = still[x] & still[x + 1] & still[x + 2] & still[x + 3] & still[x + 4]; /* 2 * STILL_RADIUS + 1 */
    const uint8_t mean = (uint8_t)((a0[x] + b0[x] + 1) >> 1);
    out[x] = run ? mean : out[x];
  }
}
_Static_assert(STILL_RADIUS == 2, "hold_still's run is written out for a radius of 2");

/* The 2x2 taps of `n` samples of one frame: top row's two bytes in the low half, bottom row's in the high. */
static inline void fetch_taps(const uint8_t *restrict im, int s1, const int *restrict off, int n, uint32_t *restrict tap) {
  for (int x = 0; x < n; x++) {
    const uint8_t *q = im + off[x];
    uint16_t t, b;
    memcpy(&t, q, 2), memcpy(&b, q + s1, 2);
    tap[x] = (uint32_t)t | (uint32_t)b << 16;
  }
}

#ifdef X86_DISPATCH
/*
 * fetch_taps, 8 samples at a time where their top-left taps lie within 15 bytes of one row from the
 * first one's (a field that is smooth at the scale of 8 pixels, the usual case): one 16-byte load per
 * row and a byte shuffle per row pick all 8 taps, instead of 16 scalar loads. Only where the field
 * folds or jumps within 8 samples (a flow edge) do they go one by one. `limit`: the last offset from
 * which 16 bytes of both rows stay within the plane's buffer. The same taps as fetch_taps, so the
 * same output.
 */
__attribute__((target("avx2"))) static void fetch_taps_avx2(const uint8_t *restrict im, int s1, const int *restrict off, int n, int limit,
                                                            uint32_t *restrict tap) {
  const __m256i span = _mm256_set1_epi32(14); /* a tap pair at byte d needs d + 1 <= 15 */
  const __m128i one = _mm_set1_epi16(1);
  int x = 0;
  for (; x + 8 <= n; x += 8) {
    /* each sample's distance from the first; negative ones wrap to large unsigned values */
    const __m256i d = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(off + x)), _mm256_set1_epi32(off[x]));
    if (off[x] <= limit && _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_max_epu32(d, span), span)) == -1) {
      const uint8_t *q = im + off[x];
      const __m128i t = _mm_loadu_si128((const __m128i *)q), b = _mm_loadu_si128((const __m128i *)(q + s1));
      /* 16-bit lane l of the shuffle control: bytes d_l and d_l + 1 */
      const __m128i d16 = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(d, d), 0x08));
      const __m128i ctrl = _mm_or_si128(d16, _mm_slli_epi16(_mm_add_epi16(d16, one), 8));
      const __m128i tp = _mm_shuffle_epi8(t, ctrl), bp = _mm_shuffle_epi8(b, ctrl);
      _mm_storeu_si128((__m128i *)(tap + x), _mm_unpacklo_epi16(tp, bp));
      _mm_storeu_si128((__m128i *)(tap + x + 4), _mm_unpackhi_epi16(tp, bp));
    } else {
      fetch_taps(im, s1, off + x, 8, tap + x);
    }
  }
  fetch_taps(im, s1, off + x, n - x, tap + x);
}
#endif

/* One frame's sample positions: the field's flows interpolated between its two rows (weight ay of the
 * lower), added to the sample's place, clamped; their fractions and the offset of the top-left tap. A
 * function of its own for its `restrict` parameters: without them the compiler keeps the loop scalar
 * (too many pointer pairs for its run-time alias checks). */
ROW_INLINE void positions(const float *restrict tx, const float *restrict bx, const float *restrict ty, const float *restrict by, float ay,
                          float xf, float yf, float st, float xmax, float ymax, int n, float *restrict fx, float *restrict fy, int *restrict off) {
  for (int x = 0; x < n; x++) {
    const float dx = tx[x] + (bx[x] - tx[x]) * ay, dy = ty[x] + (by[x] - ty[x]) * ay;
    const float px = fminf(fmaxf(xf + (float)x + dx, 0.f), xmax), py = fminf(fmaxf(yf + dy, 0.f), ymax);
    const float ix = (float)(int)px, iy = (float)(int)py; /* floor: both are >= 0 */
    fx[x] = px - ix;
    fy[x] = py - iy;
    off[x] = (int)(iy * st + ix); /* exact in float up to 2^24 bytes of plane */
  }
}

/* Bilinear passes 1-4 of `n` samples from column x0: the field's vertical interpolation fused into the
 * positions (the flows are read once, never stored), 2x2 fetches, taps and blend. */
ROW_INLINE void bilinear_chunk(const Span *sp, Rows *r, int x0, int n, const int simd) {
  /* Clamping just inside the last pixel keeps x0+1 and y0+1 in range (the weight lost is 1e-4). */
  const float xmax = (float)sp->w - 1.0001f, ymax = (float)sp->h - 1.0001f, ay = sp->ay;
  for (int k = 0; k < 2; k++) {
    const int cx = k ? F_DX1 : F_DX0, cy = k ? F_DY1 : F_DY0;
    positions(sp->top[cx] + x0, sp->bot[cx] + x0, sp->top[cy] + x0, sp->bot[cy] + x0, ay, (float)x0, (float)sp->y, (float)sp->stride[k], xmax,
              ymax, n, r->fx[k], r->fy[k], r->off[k]);
  }
  {
    const float *restrict t = sp->top[F_M] + x0, *restrict b = sp->bot[F_M] + x0;
    float *restrict m = r->f[F_M];
    for (int x = 0; x < n; x++) m[x] = t[x] + (b[x] - t[x]) * ay;
  }
  for (int i = 0; i < sp->np; i++) {
    const int p = sp->ps[i];
    for (int k = 0; k < 2; k++) {
      const uint8_t *im = k ? sp->job->src1[p] : sp->job->src0[p];
#ifdef X86_DISPATCH
      if (simd) {
        /* the last top-left tap from which both 16-byte loads stay within the plane's buffer (parse_planes
         * checked that it holds stride * (h - 1) + w bytes); a load that runs into the next row is harmless */
        fetch_taps_avx2(im, sp->stride[k], r->off[k], n, sp->stride[k] * (sp->h - 2) + sp->w - 16, r->tap[k]);
        continue;
      }
#endif
      fetch_taps(im, sp->stride[k], r->off[k], n, r->tap[k]);
    }
    const float *restrict m = r->f[F_M];
    const uint32_t *restrict aTap = r->tap[0], *restrict bTap = r->tap[1];
    const float *restrict ax = r->fx[0], *restrict ay0 = r->fy[0], *restrict bx = r->fx[1], *restrict by = r->fy[1];
    uint8_t *restrict out = sp->job->dst[p] + (size_t)sp->y * sp->job->dstStride[p] + x0;
    for (int x = 0; x < n; x++) {
      const uint32_t ta = aTap[x], tb = bTap[x];
      const float a00 = (float)(ta & 0xff), a01 = (float)((ta >> 8) & 0xff), a10 = (float)((ta >> 16) & 0xff), a11 = (float)(ta >> 24);
      const float b00 = (float)(tb & 0xff), b01 = (float)((tb >> 8) & 0xff), b10 = (float)((tb >> 16) & 0xff), b11 = (float)(tb >> 24);
      const float at = a00 + (a01 - a00) * ax[x];
      const float ab = a10 + (a11 - a10) * ax[x];
      const float va = at + (ab - at) * ay0[x];
      const float bt = b00 + (b01 - b00) * bx[x];
      const float bb = b10 + (b11 - b10) * bx[x];
      const float vb = bt + (bb - bt) * by[x];
      const float v = fminf(fmaxf(vb + (va - vb) * m[x] + 0.5f, 0.f), 255.f);
      out[x] = (uint8_t)(int)v;
    }
    if (sp->job->holdStill) hold_still(sp, p, x0, n, out);
  }
}

/* Bicubic passes 2-4: positions (left tap column, 4 clamped tap-row offsets, 4 + 4 weights), 4x4
 * fetches, taps and blend. Every per-tap array is [4][CHUNK], so the passes but the fetches are
 * plain loops the compiler vectorizes. Inside the plane a tap row is one unaligned 32-bit load; at
 * the left and right edges its bytes are fetched one by one with their columns clamped. */
ROW_INLINE void cubic_chunk(const Span *sp, Rows *r, int x0, int n) {
  const int w = sp->w, C = CHUNK;
  const float hmax = (float)(sp->h - 1), wmax = (float)sp->w;
  for (int k = 0; k < 2; k++) {
    const float *restrict dx = r->f[k ? F_DX1 : F_DX0], *restrict dy = r->f[k ? F_DY1 : F_DY0];
    float *restrict wx = r->wx[k], *restrict wy = r->wy[k];
    int *restrict col = r->off[k], *restrict ro = r->rowOff[k];
    const int st = sp->stride[k];
    const float yf = (float)sp->y, xf = (float)x0;
    float *restrict fx = r->fx[k], *restrict fy = r->fy[k];
    for (int x = 0; x < n; x++) {
      /* Beyond one pixel outside the plane every tap is the edge sample, so clamp there: then
       * x + 2 > 0, and truncation is floor. */
      const float px = fminf(fmaxf(xf + (float)x + dx[x], -1.f), wmax), py = fminf(fmaxf(yf + dy[x], -1.f), hmax + 1.f);
      const float ix = (float)((int)(px + 2.f) - 2), iy = (float)((int)(py + 2.f) - 2);
      fx[x] = px - ix;
      fy[x] = py - iy;
      col[x] = (int)ix - 1;
      /* tap rows clamped to the plane */
      for (int j = 0; j < 4; j++) ro[j * C + x] = (int)fminf(fmaxf(iy + (float)(j - 1), 0.f), hmax) * st;
    }
    for (int x = 0; x < n; x++) cubic_weights(fx[x], &wx[x], &wx[C + x], &wx[2 * C + x], &wx[3 * C + x]);
    for (int x = 0; x < n; x++) cubic_weights(fy[x], &wy[x], &wy[C + x], &wy[2 * C + x], &wy[3 * C + x]);
  }
  for (int i = 0; i < sp->np; i++) {
    const int p = sp->ps[i];
    for (int k = 0; k < 2; k++) {
      const uint8_t *im = k ? sp->job->src1[p] : sp->job->src0[p];
      const int *col = r->off[k], *ro = r->rowOff[k];
      uint32_t *tap = r->tap[k];
      for (int x = 0; x < n; x++) {
        const int c = col[x];
        if (c >= 0 && c + 3 < w) {
          for (int j = 0; j < 4; j++) memcpy(&tap[j * C + x], im + ro[j * C + x] + c, 4);
        } else {
          for (int j = 0; j < 4; j++) {
            const uint8_t *row = im + ro[j * C + x];
            uint32_t v = 0;
            for (int b = 0; b < 4; b++) v |= (uint32_t)row[clampi(c + b, 0, w - 1)] << (8 * b);
            tap[j * C + x] = v;
          }
        }
      }
    }
    /* value[k] = sum_j wy_j * sum_i wx_i * tap_ji, accumulated row by row */
    float acc[2][CHUNK];
    for (int k = 0; k < 2; k++) {
      const uint32_t *restrict tap = r->tap[k];
      const float *restrict wx = r->wx[k], *restrict wy = r->wy[k];
      float *restrict v = acc[k];
      for (int x = 0; x < n; x++) v[x] = 0.f;
      for (int j = 0; j < 4; j++) {
        const uint32_t *restrict t = tap + j * C;
        const float *restrict y = wy + j * C;
        for (int x = 0; x < n; x++) {
          const uint32_t q = t[x];
          const float row = wx[x] * (float)(q & 0xff) + wx[C + x] * (float)((q >> 8) & 0xff) + wx[2 * C + x] * (float)((q >> 16) & 0xff) +
                            wx[3 * C + x] * (float)(q >> 24);
          v[x] += y[x] * row;
        }
      }
    }
    const float *restrict m = r->f[F_M], *restrict va = acc[0], *restrict vb = acc[1];
    uint8_t *restrict out = sp->job->dst[p] + (size_t)sp->y * sp->job->dstStride[p] + x0;
    for (int x = 0; x < n; x++) {
      const float v = fminf(fmaxf(vb[x] + (va[x] - vb[x]) * m[x] + 0.5f, 0.f), 255.f);
      out[x] = (uint8_t)(int)v;
    }
    if (sp->job->holdStill) hold_still(sp, p, x0, n, out);
  }
}

/* Rows [yStart, yEnd) of `np` planes (one, or both chroma planes) that share width, height and
 * strides: the field and the sample positions are computed once for all of them. */
ROW_INLINE void plane_rows(const Job *job, const int *ps, int np, int yStart, int yEnd, const float *const src[F_CH],
                           const float scale[F_CH], const int *xi, const float *xa, const int simd) {
  const int p0 = ps[0], w = job->width[p0], h = job->height[p0], fw = job->fw, fh = job->fh;
  const float sy = (float)fh / (float)h;
  Span sp = {job, ps, np, w, h, 0, {job->stride0[p0], job->stride1[p0]}, NULL, NULL, 0.f};
  Rows r;
  if (!rows_alloc(&r, w)) return;
  if (simd) group_columns(&r, xi, w, fw);

  for (int y = yStart; y < yEnd; y++) {
    int y0, y1;
    float ay;
    upsample_tap(y, sy, fh, &y0, &y1, &ay);
    float *const *top = flow_row(&r, y0, src, scale, fw, xi, xa, w, simd);
    float *const *bot = flow_row(&r, y1, src, scale, fw, xi, xa, w, simd);
    sp.y = y, sp.top = top, sp.bot = bot, sp.ay = ay;
    for (int x0 = 0; x0 < w; x0 += CHUNK) {
      const int n = w - x0 < CHUNK ? w - x0 : CHUNK;
      if (!job->cubic) {
        bilinear_chunk(&sp, &r, x0, n, simd);
        continue;
      }
      for (int c = 0; c < F_CH; c++) {
        const float *restrict t = top[c] + x0, *restrict b = bot[c] + x0;
        float *restrict o = r.f[c];
        for (int x = 0; x < n; x++) o[x] = t[x] + (b[x] - t[x]) * ay;
      }
      cubic_chunk(&sp, &r, x0, n);
    }
  }
  free(r.mem);
}

#define PLANE_ROWS_ARGS const Job *job, const int *ps, int np, int yStart, int yEnd, const float *const src[F_CH], const float scale[F_CH], const int *xi, const float *xa
#define PLANE_ROWS_CALL job, ps, np, yStart, yEnd, src, scale, xi, xa
static void plane_rows_baseline(PLANE_ROWS_ARGS) { plane_rows(PLANE_ROWS_CALL, 0); }
#ifdef X86_DISPATCH
__attribute__((target("avx2,fma"))) static void plane_rows_avx2(PLANE_ROWS_ARGS) { plane_rows(PLANE_ROWS_CALL, 1); }
#endif


static void run_plane_rows(PLANE_ROWS_ARGS) {
#ifdef X86_DISPATCH
  if (use_avx2()) {
    plane_rows_avx2(PLANE_ROWS_CALL);
    return;
  }
#endif
  plane_rows_baseline(PLANE_ROWS_CALL);
}

/* Planes `ps` (`np` of them, sharing their geometry: see run_plane_rows), rows [yStart, yEnd). */
static void run_planes(const Job *job, const int *ps, int np, int yStart, int yEnd) {
  const int w = job->width[ps[0]], h = job->height[ps[0]], fw = job->fw, fh = job->fh;
  const float sx = (float)fw / (float)w, sy = (float)fh / (float)h; /* plane px -> flow px */
  const float ux = (float)w / (float)fw, uy = (float)h / (float)fh; /* flow px -> plane px */
  const size_t fplane = (size_t)fw * fh;
  const float scale[F_CH] = {ux, uy, ux, uy, 1.f}; /* flow channels to plane pixels; the mask as is */
  const float *const src[F_CH] = {job->flow, job->flow + fplane, job->flow + 2 * fplane, job->flow + 3 * fplane, job->mask};

  /* Horizontal upsampling taps are the same for every row: compute them once. */
  int *xi = malloc(sizeof(int) * 2 * (size_t)w);
  float *xa = malloc(sizeof(float) * (size_t)w);
  if (!xi || !xa) {
    free(xi), free(xa);
    return;
  }
  for (int x = 0; x < w; x++) upsample_tap(x, sx, fw, &xi[2 * x], &xi[2 * x + 1], &xa[x]);

  if (w >= 2 && h >= 2) {
    run_plane_rows(job, ps, np, yStart, yEnd, src, scale, xi, xa);
    free(xi), free(xa);
    return;
  }
  /* Tiny planes: per pixel. One row of the field, upsampled vertically: 5 channels x fw. */
  float *row = malloc(sizeof(float) * F_CH * (size_t)fw);
  if (!row) {
    free(xi), free(xa);
    return;
  }
  for (int j = 0; j < np; j++) {
    const int p = ps[j];
    const uint8_t *s0 = job->src0[p], *s1 = job->src1[p];
    const int st0 = job->stride0[p], st1 = job->stride1[p];
    for (int y = yStart; y < yEnd; y++) {
      int y0, y1;
      float ay;
      upsample_tap(y, sy, fh, &y0, &y1, &ay);
      for (int c = 0; c < F_CH; c++) {
        const float *r0 = src[c] + (size_t)y0 * fw, *r1 = src[c] + (size_t)y1 * fw;
        float *out = row + (size_t)c * fw;
        for (int i = 0; i < fw; i++) out[i] = (r0[i] + (r1[i] - r0[i]) * ay) * scale[c];
      }
      const float *rdx0 = row, *rdy0 = row + fw, *rdx1 = row + 2 * fw, *rdy1 = row + 3 * fw, *rm = row + 4 * fw;
      uint8_t *out = job->dst[p] + (size_t)y * job->dstStride[p];
      const float fyPlane = (float)y;

      for (int x = 0; x < w; x++) {
        const int i0 = xi[2 * x], i1 = xi[2 * x + 1];
        const float a = xa[x];
#define LERP(r) (r[i0] + (r[i1] - r[i0]) * a)
        const float dx0 = LERP(rdx0), dy0 = LERP(rdy0), dx1 = LERP(rdx1), dy1 = LERP(rdy1), m = LERP(rm);
#undef LERP
        float (*const sample)(const uint8_t *, int, int, int, float, float) = job->cubic ? sample_cubic_u8 : sample_u8;
        const float va = sample(s0, st0, w, h, (float)x + dx0, fyPlane + dy0);
        const float vb = sample(s1, st1, w, h, (float)x + dx1, fyPlane + dy1);
        const float v = vb + (va - vb) * m + 0.5f;
        out[x] = v <= 0.f ? 0 : (v >= 255.f ? 255 : (uint8_t)v);
      }
    }
  }
  free(xi);
  free(xa);
  free(row);
}

/* Blend without a field, in 8.8 fixed point: a plain loop the compiler vectorizes (many times faster
 * than the float RGB round trip of a whole-frame blend graph; see bench/RESULTS.md, Synthesis cost
 * per in-between frame). */
static void blend_plane(const Job *job, int p, int yStart, int yEnd) {
  const int w = job->width[p], wb = job->blendWeight, wa = 256 - wb;
  for (int y = yStart; y < yEnd; y++) {
    const uint8_t *restrict a = job->src0[p] + (size_t)y * job->stride0[p];
    const uint8_t *restrict b = job->src1[p] + (size_t)y * job->stride1[p];
    uint8_t *restrict out = job->dst[p] + (size_t)y * job->dstStride[p];
    for (int x = 0; x < w; x++) out[x] = (uint8_t)((a[x] * wa + b[x] * wb + 128) >> 8);
  }
}

/* Whether plane q can share plane p's sample positions (same size and strides). */
static int same_geometry(const Job *job, int p, int q) {
  return job->width[p] == job->width[q] && job->height[p] == job->height[q] && job->stride0[p] == job->stride0[q] &&
         job->stride1[p] == job->stride1[q];
}

static void run(const Job *job) {
  const int lumaRows = job->height[0];
  for (int p = 0; p < job->planes; p++) {
    /* The slice's share of this plane's rows, so slices tile every plane exactly. */
    int h = job->height[p];
    int y0 = (int)((long long)job->rowStart * h / lumaRows);
    int y1 = (int)((long long)job->rowEnd * h / lumaRows);
    if (job->blendOnly) {
      blend_plane(job, p, y0, y1);
    } else if (p + 1 < job->planes && p > 0 && same_geometry(job, p, p + 1)) {
      const int ps[2] = {p, p + 1};
      run_planes(job, ps, 2, y0, y1);
      p++;
    } else {
      run_planes(job, &p, 1, y0, y1);
    }
  }
}

/* ---- N-API glue: warpBlend(params), blend(params) -> Promise<void>, run on the libuv pool ---- */

typedef struct {
  Job job;
  napi_async_work work;
  napi_deferred deferred;
  napi_ref keep; /* keeps the buffers' owner alive while native code reads them */
} Call;

static void execute(napi_env env, void *data) { run(&((Call *)data)->job); }

static void complete(napi_env env, napi_status status, void *data) {
  Call *call = (Call *)data;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_resolve_deferred(env, call->deferred, undefined);
  napi_delete_reference(env, call->keep);
  napi_delete_async_work(env, call->work);
  free(call);
}

static int get_int(napi_env env, napi_value obj, const char *key, int *out) {
  napi_value v;
  return napi_get_named_property(env, obj, key, &v) == napi_ok && napi_get_value_int32(env, v, out) == napi_ok;
}

/* obj[key] as a boolean; false when absent or not a boolean. */
static int get_flag(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  bool flag = false;
  if (napi_get_named_property(env, obj, key, &v) == napi_ok) napi_get_value_bool(env, v, &flag);
  return flag;
}

/* Reads obj[key] as an array of `n` buffers/typed arrays (data pointers, byte lengths). */
static int get_buffers(napi_env env, napi_value obj, const char *key, int n, void **ptrs, size_t *lens) {
  napi_value arr;
  if (napi_get_named_property(env, obj, key, &arr) != napi_ok) return 0;
  for (int i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, arr, i, &el) != napi_ok) return 0;
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, el, &type, &length, &ptrs[i], &ab, &offset) != napi_ok) return 0;
    lens[i] = length * (type == napi_float32_array ? 4 : 1);
  }
  return 1;
}

static int get_ints(napi_env env, napi_value obj, const char *key, int n, int *out) {
  napi_value arr;
  if (napi_get_named_property(env, obj, key, &arr) != napi_ok) return 0;
  for (int i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, arr, i, &el) != napi_ok || napi_get_value_int32(env, el, &out[i]) != napi_ok) return 0;
  }
  return 1;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* Reads and checks what both calls share: planes, sizes, strides, buffers, the row range. NULL on
 * success, else the message to throw. */
static const char *parse_planes(napi_env env, napi_value params, Job *job, int withDst) {
  void *ptrs[3];
  size_t lens[3];
  if (!get_int(env, params, "planes", &job->planes) || job->planes < 1 || job->planes > 3) return "planes must be 1..3";
  const int n = job->planes;
  if (!get_ints(env, params, "width", n, job->width) || !get_ints(env, params, "height", n, job->height)) return "bad width/height";
  if (!get_ints(env, params, "stride0", n, job->stride0) || !get_ints(env, params, "stride1", n, job->stride1) ||
      (withDst && !get_ints(env, params, "dstStride", n, job->dstStride)))
    return "bad strides";
  if (withDst) {
    if (!get_int(env, params, "rowStart", &job->rowStart) || !get_int(env, params, "rowEnd", &job->rowEnd)) return "bad row range";
    if (job->rowStart < 0 || job->rowEnd > job->height[0] || job->rowStart > job->rowEnd) return "row range outside the picture";
  }

  /* Every buffer must hold what the sizes and strides say: native code must never read past it. */
  const char *names[3] = {"src0", "src1", "dst"};
  const int *strides[3] = {job->stride0, job->stride1, job->dstStride};
  for (int k = 0; k < (withDst ? 3 : 2); k++) {
    if (!get_buffers(env, params, names[k], n, ptrs, lens)) return "planes must be Buffers/Uint8Arrays";
    for (int p = 0; p < n; p++) {
      if (job->width[p] < 1 || job->height[p] < 1 || strides[k][p] < job->width[p]) return "bad plane geometry";
      if (lens[p] < (size_t)strides[k][p] * (job->height[p] - 1) + job->width[p]) return "plane buffer too small";
      if (k == 0) job->src0[p] = ptrs[p];
      else if (k == 1) job->src1[p] = ptrs[p];
      else job->dst[p] = ptrs[p];
    }
  }
  return NULL;
}

static napi_value fail_with(napi_env env, const char *fn, const char *message) {
  char text[160];
  snprintf(text, sizeof text, "%s: %s", fn, message);
  return fail(env, text);
}

/* Runs the job on the libuv pool; the promise settles when it is done. */
static napi_value queue(napi_env env, napi_value params, const Job *job) {
  Call *call = calloc(1, sizeof *call);
  if (!call) return fail(env, "out of memory");
  call->job = *job;
  napi_value promise, name;
  napi_create_promise(env, &call->deferred, &promise);
  napi_create_reference(env, params, 1, &call->keep);
  napi_create_string_utf8(env, "frc.warpBlend", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, call, &call->work);
  napi_queue_async_work(env, call->work);
  return promise;
}

/* The call's one argument and the planes both calls share; 0, with an exception pending, when they are bad. */
static int begin(napi_env env, napi_callback_info info, const char *fn, napi_value *params, Job *job) {
  size_t argc = 1;
  napi_get_cb_info(env, info, &argc, params, NULL, NULL);
  memset(job, 0, sizeof *job);
  const char *bad = argc < 1 ? "missing parameters" : parse_planes(env, *params, job, 1);
  if (bad) fail_with(env, fn, bad);
  return bad == NULL;
}

static napi_value warp_blend(napi_env env, napi_callback_info info) {
  napi_value params;
  Job job;
  if (!begin(env, info, "warpBlend", &params, &job)) return NULL;
  if (!get_int(env, params, "flowWidth", &job.fw) || !get_int(env, params, "flowHeight", &job.fh) || job.fw < 1 || job.fh < 1) return fail(env, "warpBlend: bad flow size");
  napi_value fv, mv;
  napi_get_named_property(env, params, "flow", &fv);
  napi_get_named_property(env, params, "mask", &mv);
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  void *fp, *mp;
  if (napi_get_typedarray_info(env, fv, &type, &length, &fp, &ab, &offset) != napi_ok || type != napi_float32_array || length < (size_t)4 * job.fw * job.fh)
    return fail(env, "warpBlend: flow must be a Float32Array of 4*flowHeight*flowWidth");
  job.flow = fp;
  if (napi_get_typedarray_info(env, mv, &type, &length, &mp, &ab, &offset) != napi_ok || type != napi_float32_array || length < (size_t)job.fw * job.fh)
    return fail(env, "warpBlend: mask must be a Float32Array of flowHeight*flowWidth");
  job.mask = mp;
  job.cubic = get_flag(env, params, "cubic");
  job.holdStill = get_flag(env, params, "holdStill");
  return queue(env, params, &job);
}

static napi_value blend(napi_env env, napi_callback_info info) {
  napi_value params;
  Job job;
  if (!begin(env, info, "blend", &params, &job)) return NULL;
  napi_value tv;
  double t;
  if (napi_get_named_property(env, params, "t", &tv) != napi_ok || napi_get_value_double(env, tv, &t) != napi_ok || !(t >= 0 && t <= 1))
    return fail(env, "blend: t must be a number in [0, 1]");
  job.blendOnly = 1;
  job.blendWeight = (int)lrint(t * 256.0);
  return queue(env, params, &job);
}

/* Whether no sample of the two frames' planes differs by more than `limit`. Stops at the first row
 * that does, so a pair with motion costs a few rows; a still one (a paused game, an idle desktop,
 * a frame the source repeated) costs one read of both frames. */
static int planes_within(const Job *job, int limit) {
  for (int p = 0; p < job->planes; p++) {
    for (int y = 0; y < job->height[p]; y++) {
      const uint8_t *restrict a = job->src0[p] + (size_t)y * job->stride0[p];
      const uint8_t *restrict b = job->src1[p] + (size_t)y * job->stride1[p];
      uint8_t worst = 0;
      for (int x = 0; x < job->width[p]; x++) {
        const uint8_t d = a[x] > b[x] ? (uint8_t)(a[x] - b[x]) : (uint8_t)(b[x] - a[x]);
        worst = d > worst ? d : worst;
      }
      if (worst > limit) return 0;
    }
  }
  return 1;
}

/* pairWithin({ planes, width, height, src0, src1, stride0, stride1, limit }) -> boolean, at once:
 * one read of two frames costs less than handing it to the pool and back. */
static napi_value pair_within(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value params;
  napi_get_cb_info(env, info, &argc, &params, NULL, NULL);
  Job job;
  memset(&job, 0, sizeof job);
  const char *bad = argc < 1 ? "missing parameters" : parse_planes(env, params, &job, 0);
  if (bad) return fail_with(env, "pairWithin", bad);
  int limit;
  if (!get_int(env, params, "limit", &limit) || limit < 0 || limit > 255) return fail(env, "pairWithin: limit must be an integer in [0, 255]");
  napi_value out;
  napi_get_boolean(env, planes_within(&job, limit), &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "simd", NAPI_AUTO_LENGTH, simd_js, NULL, &fn);
  napi_set_named_property(env, exports, "simd", fn);
  napi_create_function(env, "warpBlend", NAPI_AUTO_LENGTH, warp_blend, NULL, &fn);
  napi_set_named_property(env, exports, "warpBlend", fn);
  napi_create_function(env, "blend", NAPI_AUTO_LENGTH, blend, NULL, &fn);
  napi_set_named_property(env, exports, "blend", fn);
  napi_create_function(env, "pairWithin", NAPI_AUTO_LENGTH, pair_within, NULL, &fn);
  napi_set_named_property(env, exports, "pairWithin", fn);
  return exports;
}
