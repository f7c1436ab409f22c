#!/usr/bin/env bash
# vgen's DiT block against PyTorch's (diffusers WanTransformerBlock) on this
# machine, same shapes, same run, f32 and bf16 (bench/torch_block.py).
#
# Creates bench/.venv with torch, diffusers and transformers from PyPI on first
# use (test tooling only, never part of vgen; about 3 GB with the CUDA libraries
# that the PyPI torch wheel requires even on CPU), builds bench_dit_block, then
# runs both blocks interleaved, best of ROUNDS. bench/torch_components.py (VAE
# decode, UMT5) and bench/torch_pipeline.py (the whole job, diffusers'
# WanPipeline) run in the same environment. The pipeline needs sentencepiece and
# protobuf (transformers 5 builds the T5 tokenizer of a folder that has only
# spiece.model with them, and otherwise fails asking for tiktoken) and accelerate
# (diffusers loads the Wan transformer with low_cpu_mem_usage).
#
# usage: bench/torch-baseline.sh [tokens=1560] [rounds=3]
#   TORCH_VERSION (default 2.6.0), DIFFUSERS_VERSION (default 0.42.1),
#   TRANSFORMERS_VERSION (default 5.24.0)
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-1560}
ROUNDS=${2:-3}
VENV=bench/.venv
if ! "$VENV/bin/python" -c "import torch, diffusers, transformers, sentencepiece, google.protobuf, accelerate" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "torch==${TORCH_VERSION:-2.6.0}" "diffusers==${DIFFUSERS_VERSION:-0.42.1}" \
      "transformers==${TRANSFORMERS_VERSION:-5.24.0}" sentencepiece protobuf accelerate
fi
make build >/dev/null
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
lscpu | sed -n 's/^Model name: *//p' | head -1 | sed 's/^/CPU: /'
exec "$VENV/bin/python" bench/torch_block.py build/bench_dit_block "$S" "$ROUNDS"
