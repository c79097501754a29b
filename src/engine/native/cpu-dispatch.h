/*
 * Which build of a kernel's hot code this process runs. On x86-64 the kernels
 * compile that code twice, for the baseline (SSE2) and for AVX2+FMA, and pick
 * one at run time. FRC_KERNEL_BASELINE=1 forces the baseline build, so that
 * the tests cover it on any machine. Shared by warp-blend.c and lk-refine.c.
 */
#ifndef FRC_CPU_DISPATCH_H
#define FRC_CPU_DISPATCH_H

#include <node_api.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define X86_DISPATCH 1
#endif

/* Whether this process runs the AVX2+FMA build. */
static int use_avx2(void) {
#ifdef X86_DISPATCH
  static int avx2 = -1; /* a benign race: every thread computes the same answer */
  if (avx2 < 0) {
    __builtin_cpu_init();
    const char *force = getenv("FRC_KERNEL_BASELINE");
    avx2 = !(force && *force && strcmp(force, "0") != 0) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return avx2;
#else
  return 0;
#endif
}

/* simd() -> "avx2" or "baseline": which build this process runs. */
__attribute__((unused)) static napi_value simd_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_string_utf8(env, use_avx2() ? "avx2" : "baseline", NAPI_AUTO_LENGTH, &out);
  return out;
}

#endif
