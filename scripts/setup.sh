#!/usr/bin/env bash
# Installs everything frc needs on a fresh Debian machine, then builds it.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v ffmpeg >/dev/null || apt_packages+=(ffmpeg)   # the CLI: tests publish, probe and cut clips with it
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)   # the WebRTC tests publish and play with headless Chromium
# The WebGPU provider's Vulkan loader; the tests run it on Chromium's SwiftShader driver (chromium-common ships it)
[ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libvulkan.so.1 ] || apt_packages+=(libvulkan1)
# node-gyp builds the native warp kernel (src/engine/native): a C compiler, make, python3
{ command -v cc && command -v make; } >/dev/null || apt_packages+=(build-essential)
command -v python3 >/dev/null || apt_packages+=(python3)
# The SRT listener (src/protocols/srt/srt-listener.c) builds against libsrt, found with pkg-config; the GnuTLS
# flavour is the one Debian's ffmpeg already pulls in (libsrt1.5-gnutls), so the two never conflict.
command -v pkg-config >/dev/null || apt_packages+=(pkg-config)
pkg-config --exists srt 2>/dev/null || dpkg -s libsrt-openssl-dev >/dev/null 2>&1 || apt_packages+=(libsrt-gnutls-dev)
if ((${#apt_packages[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# onnxruntime-node's install script would fetch CUDA libraries from the internet; the CPU build ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
# Build against the local Node's headers (Debian's nodejs ships them): node-gyp cannot download them here.
[ -f "$(dirname "$(dirname "$(command -v node)")")/include/node/node_api.h" ] && export npm_config_nodedir="$(dirname "$(dirname "$(command -v node)")")"
npm ci --no-audit --no-fund   # also compiles TypeScript (the "prepare" script)
