#!/usr/bin/env python3
"""Cross-check of `vgen quantize` with the gguf package (test tooling, run by hand):
the package reads the file back, every quantized tensor's bytes equal gguf's own
reference quantizer applied to the source values, and F32/F16 tensors equal the source.

    .venv/bin/python tests/core/check_quantize_with_gguf.py build/vgen SOURCE.safetensors TYPE
"""
import os
import subprocess
import sys
import tempfile

import json
import struct

import numpy as np
from gguf import GGUFReader
from gguf.quants import quantize


def load_file(path):
    """safetensors as f32 numpy arrays (bf16 widened exactly; numpy has no bfloat16)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr, base, out = json.loads(raw[8:8 + n]), 8 + n, {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b = raw[base + v["data_offsets"][0]:base + v["data_offsets"][1]]
        if v["dtype"] == "BF16":
            a = (np.frombuffer(b, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(b, {"F32": np.float32, "F16": np.float16}[v["dtype"]]).astype(np.float32)
        out[k] = a.reshape(v["shape"])
    return out

vgen, src, qtype = sys.argv[1:4]
with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "q.gguf")
    subprocess.run([vgen, "quantize", src, out, "--type", qtype, "--quiet"], check=True)
    ref = {k.removeprefix("model.diffusion_model."): v for k, v in load_file(src).items()}
    r = GGUFReader(out)
    n = {"quantized": 0, "plain": 0}
    for t in r.tensors:
        x = ref[t.name].astype(np.float32)
        if t.tensor_type.name in ("F32", "F16", "BF16"):
            got = np.asarray(t.data).astype(np.float32).reshape(x.shape)
            want = x.astype(np.float16).astype(np.float32) if t.tensor_type.name == "F16" else x
            assert np.array_equal(got, want), t.name
            n["plain"] += 1
        else:
            want = quantize(x.reshape(-1, x.shape[-1]), t.tensor_type)
            assert np.array_equal(np.asarray(t.data).reshape(want.shape), want), f"{t.name} {t.tensor_type.name}"
            n["quantized"] += 1
    print(f"{src} -> {qtype}: gguf reads {len(r.tensors)} tensors; {n['quantized']} quantized tensors equal "
          f"gguf.quants.quantize byte for byte, {n['plain']} F32/F16 tensors equal the source")
