#!/usr/bin/env bash
# Installs every Debian package vgen needs to build, test and run.
# Called by the README's two commands and by .ci/run. Safe to run repeatedly.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libopenblas-dev libopenblas0-openmp  # CPU GEMM; the OpenMP build nests safely inside our OpenMP loops
  libdnnl-dev                # oneDNN: bf16 GEMM (AVX512_BF16, AMX) and f32 GEMM where OpenBLAS lacks the CPU
  libjansson-dev             # JSON (safetensors headers, config.json, sidecars)
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev  # MP4 output
  libx264-dev                # H.264 encoder used through libavcodec
  libpng-dev                 # PNG frames
  libmicrohttpd-dev          # vgen serve: the HTTP server
  libsqlite3-dev             # vgen serve: the durable job store
  libcurl4-openssl-dev       # vgen serve: RunPod worker protocol and webhooks
  curl                       # the serve tests drive the API with curl
  chromium                   # the serve web page is tested in headless Chromium
  ffmpeg                     # ffprobe, used by the tests to check written videos
  clang libclang-rt-14-dev   # libFuzzer targets
  valgrind                   # the video writer is checked under valgrind (no uninitialised bytes in MP4s)
  python3 python3-venv       # test tooling only (tests/serve/setup-venv.sh)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "vgen: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "vgen: dependencies present"
