#!/usr/bin/env python3
"""Generates the GGUF test fixtures in tests/data/gguf/ with the `gguf` Python package
(llama.cpp's gguf-py) as writer and oracle. Test tooling only; the C tests read the
committed outputs and need no Python.

    python3 -m venv .venv && .venv/bin/pip install gguf numpy safetensors
    .venv/bin/python tests/core/make_gguf_fixtures.py [GOLDEN_DIR]

Outputs:
  quant_oracle.gguf          one tensor per type: `<type>.random` (random block bytes with
                             finite fp16 scales) for every type vgen reads, `<type>.quantized`
                             (gguf's reference quantizer on random f32) for the types gguf can
                             quantize; a 5-D F32 tensor; metadata of every value type
  quant_oracle.safetensors   `<name>`: gguf.quants.dequantize of each tensor (f32);
                             `<type>.src`: the f32 input of `<type>.quantized`
  dit_mixed.gguf             the golden wan_dit weights in original Wan names, linear weights
                             in Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 (round robin), the rest F32 (the
                             patch embedding 5-D), like city96's files
  dit_mixed_f32.safetensors  the same model with gguf's dequantized f32 values
  dit_config.json            its diffusers config
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "gguf")
rng = np.random.default_rng(14)

# byte offsets of the fp16 scale fields inside one block (ggml-common.h)
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
LEGACY = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
KQ = [Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]


def random_blocks(qt, rows, cols):
    blck, size = GGML_QUANT_SIZES[qt]
    nb = cols // blck
    b = rng.integers(0, 256, size=(rows, nb, size), dtype=np.uint8)
    for off in F16_FIELDS[qt]:
        h = rng.integers(0, 65536, size=(rows, nb), dtype=np.uint16)
        h = np.where((h & 0x7C00) == 0x7C00, h & 0xBFFF, h)  # any finite fp16, subnormals included
        b[:, :, off] = (h & 0xFF).astype(np.uint8)
        b[:, :, off + 1] = (h >> 8).astype(np.uint8)
    return b.reshape(rows, nb * size)


def quant_oracle():
    w = GGUFWriter(os.path.join(OUT, "quant_oracle.gguf"), "vgen-test")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -5)
    w.add_uint16("test.u16", 65000)
    w.add_int16("test.i16", -300)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -7)
    w.add_float32("test.f32", 0.25)
    w.add_bool("test.bool", True)
    w.add_uint64("test.u64", 1 << 40)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", -1.5)
    w.add_string("test.string", "hello gguf")
    w.add_array("test.int_array", [1, 2, 3])
    w.add_array("test.str_array", ["a", "bc", ""])
    oracle = {}
    rows, cols = 3, 512
    for qt in LEGACY + KQ:
        name = qt.name.lower()
        raw = random_blocks(qt, rows, cols)
        w.add_tensor(f"{name}.random", raw, raw_dtype=qt)
        oracle[f"{name}.random"] = dequantize(raw, qt).astype(np.float32)
        if qt in LEGACY:
            src = rng.standard_normal((rows, cols)).astype(np.float32)
            src[0, :32] = 0.0                     # an all-zero block (d = 0)
            src[1, 32:64] = 1.0                   # a constant block
            src[2, 64:96] *= np.float32(1e-6)     # tiny values (subnormal fp16 scales)
            q = quantize(src, qt)
            w.add_tensor(f"{name}.quantized", q, raw_dtype=qt)
            oracle[f"{name}.quantized"] = dequantize(q, qt).astype(np.float32)
            oracle[f"{name}.src"] = src
    for qt in (Q.F16, Q.BF16):
        src = (rng.standard_normal((rows, 64)) * 100).astype(np.float32)
        q = quantize(src, qt)
        w.add_tensor(f"{qt.name.lower()}.values", q, raw_dtype=qt)
        oracle[f"{qt.name.lower()}.values"] = dequantize(q, qt).astype(np.float32)
    five = rng.standard_normal((4, 3, 1, 2, 2)).astype(np.float32)
    w.add_tensor("five_dims", five)
    oracle["five_dims"] = five
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(oracle, os.path.join(OUT, "quant_oracle.safetensors"))


# diffusers -> original Wan names (transcribed from diffusers' convert_wan_to_diffusers.py)
RENAMES = [
    ("condition_embedder.text_embedder.linear_1.", "text_embedding.0."),
    ("condition_embedder.text_embedder.linear_2.", "text_embedding.2."),
    ("condition_embedder.time_embedder.linear_1.", "time_embedding.0."),
    ("condition_embedder.time_embedder.linear_2.", "time_embedding.2."),
    ("condition_embedder.time_proj.", "time_projection.1."),
    ("proj_out.", "head.head."),
    ("scale_shift_table", "head.modulation"),
]
BLOCK_RENAMES = [
    ("attn1.to_q.", "self_attn.q."), ("attn1.to_k.", "self_attn.k."), ("attn1.to_v.", "self_attn.v."),
    ("attn1.to_out.0.", "self_attn.o."), ("attn1.norm_q.", "self_attn.norm_q."), ("attn1.norm_k.", "self_attn.norm_k."),
    ("attn2.to_q.", "cross_attn.q."), ("attn2.to_k.", "cross_attn.k."), ("attn2.to_v.", "cross_attn.v."),
    ("attn2.to_out.0.", "cross_attn.o."), ("attn2.norm_q.", "cross_attn.norm_q."), ("attn2.norm_k.", "cross_attn.norm_k."),
    ("norm2.", "norm3."), ("ffn.net.0.proj.", "ffn.0."), ("ffn.net.2.", "ffn.2."), ("scale_shift_table", "modulation"),
]


def original_name(n):
    if n.startswith("blocks."):
        _, num, rest = n.split(".", 2)
        for a, b in BLOCK_RENAMES:
            if rest.startswith(a):
                return f"blocks.{num}.{b}{rest[len(a):]}"
        return n
    for a, b in RENAMES:
        if n.startswith(a):
            return b + n[len(a):]
    return n


KEEP = ("modulation", "patch_embedding.", "text_embedding.", "time_projection.", "time_embedding.", "head.")


def dit_mixed(golden):
    src = load_file(os.path.join(golden, "wan_dit", "weights.safetensors"))
    cfg = json.load(open(os.path.join(golden, "wan_dit", "config.json")))["model_config"]
    cfg = dict(cfg, _class_name="WanTransformer3DModel")
    json.dump(cfg, open(os.path.join(OUT, "dit_config.json"), "w"), indent=1)
    w = GGUFWriter(os.path.join(OUT, "dit_mixed.gguf"), "wan")
    w.add_uint32("general.quantization_version", 2)
    twin, k = {}, 0
    for n in sorted(src):
        t = src[n].astype(np.float32)
        on = original_name(n)
        if t.ndim == 2 and t.shape[1] % 32 == 0 and not any(s in on for s in KEEP):
            qt = LEGACY[k % len(LEGACY)]
            k += 1
            q = quantize(t, qt)
            w.add_tensor(on, q, raw_dtype=qt)
            twin[on] = dequantize(q, qt).astype(np.float32)
        else:
            w.add_tensor(on, t)
            twin[on] = t
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(twin, os.path.join(OUT, "dit_mixed_f32.safetensors"))
    print(f"dit_mixed: {k} quantized linear weights")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    quant_oracle()
    dit_mixed(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "golden"))
