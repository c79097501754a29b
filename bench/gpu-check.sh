#!/usr/bin/env bash
# The GPU check (bench/gpu-check.ts): in-between fps and the per-frame steps at
# 1080p and 4K for fast, quality and a RIFE-v4.6-architecture graph, on every
# GPU provider that starts (webgpu, cuda). Needs the Vulkan loader (libvulkan1)
# and the GPU's own driver for webgpu; prints a table for bench/RESULTS.md.
#   bench/gpu-check.sh [--provider webgpu,cuda] [--sizes 1920x1080,3840x2160] [--models fast,quality,rife46] [--runs 20] [--warmup 5]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/bench/gpu-check.js ] || npx tsc -p .
exec env UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-20}" node dist/bench/gpu-check.js "$@"
