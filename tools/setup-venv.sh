#!/usr/bin/env bash
# Creates tools/.venv with the Python packages that tools/demo_wan/ needs to train
# models/demo-wan (PyTorch, diffusers, transformers). Tooling only: vgen, its tests
# and `make demo` never need Python.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q "torch==2.15.0" "diffusers==0.34.0" "transformers==4.46.3" \
    "safetensors" "sentencepiece" "protobuf" "numpy" "accelerate"
.venv/bin/python -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
