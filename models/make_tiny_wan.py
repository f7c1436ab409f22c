#!/usr/bin/env python3
"""Writes models/tiny-wan/: a small, randomly initialised model with the exact
Wan2.1 text-to-video architecture and diffusers folder layout (model_index.json,
transformer/, vae/, text_encoder/ (UMT5), tokenizer/, scheduler/).

It exists so that `vgen generate` runs end to end on a fresh machine in about a
minute: its weights are random, so its videos are noise. Real models are used by
pointing `vgen generate --model` at a downloaded Wan2.1 diffusers folder.

Usage: python3 models/make_tiny_wan.py [--out models/tiny-wan] [--tokenizer DIR]
The tokenizer is the standard T5 SentencePiece model (copied from --tokenizer, by
default ../shared/golden/tokenizer_t5); the real umT5 tokenizer is larger.
Deterministic: the same seed writes the same bytes. Standard library only.
"""
import argparse
import json
import math
import os
import random
import shutil
import struct

SEED = 20261123

TRANSFORMER = {
    "_class_name": "WanTransformer3DModel", "_diffusers_version": "0.34.0",
    "patch_size": [1, 2, 2], "num_attention_heads": 2, "attention_head_dim": 32,
    "in_channels": 16, "out_channels": 16, "text_dim": 32, "freq_dim": 64, "ffn_dim": 128,
    "num_layers": 4, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-06,
    "image_dim": None, "added_kv_proj_dim": None, "rope_max_seq_len": 1024, "pos_embed_seq_len": None,
}
# Wan2.1's own latent statistics (public config values of the real VAE)
LATENTS_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
LATENTS_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
               3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]
VAE = {
    "_class_name": "AutoencoderKLWan", "_diffusers_version": "0.34.0",
    "base_dim": 8, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
    "temperal_downsample": [False, True, True], "dropout": 0.0,
    "latents_mean": LATENTS_MEAN, "latents_std": LATENTS_STD,
}
TEXT_ENCODER = {
    "architectures": ["UMT5EncoderModel"], "model_type": "umt5", "vocab_size": 32128, "d_model": 32,
    "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "dropout_rate": 0.0, "layer_norm_epsilon": 1e-06, "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu_new", "is_gated_act": True, "tie_word_embeddings": False,
    "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0, "torch_dtype": "float32",
}
SCHEDULER = {
    "_class_name": "UniPCMultistepScheduler", "_diffusers_version": "0.34.0",
    "num_train_timesteps": 1000, "solver_order": 2, "prediction_type": "flow_prediction",
    "predict_x0": True, "solver_type": "bh2", "lower_order_final": True, "use_flow_sigmas": True,
    "flow_shift": 3.0, "timestep_spacing": "linspace", "steps_offset": 0, "final_sigmas_type": "zero",
    "thresholding": False, "use_karras_sigmas": False, "use_exponential_sigmas": False,
    "use_beta_sigmas": False, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
}
MODEL_INDEX = {
    "_class_name": "WanPipeline", "_diffusers_version": "0.34.0",
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}


class Tensors:
    """Collects named tensors; big matrices are stored bf16 as real checkpoints are."""

    def __init__(self, rng):
        self.rng = rng
        self.items = []

    def add(self, name, shape, kind):
        n = 1
        for d in shape:
            n *= d
        if kind == "norm":
            vals = [self.rng.uniform(0.75, 1.25) for _ in range(n)]
        elif kind == "bias":
            vals = [self.rng.gauss(0.0, 0.05) for _ in range(n)]
        elif kind == "table":
            vals = [self.rng.gauss(0.0, 0.1) for _ in range(n)]
        elif kind == "embed":
            vals = [self.rng.gauss(0.0, 0.5) for _ in range(n)]
        else:  # weight: N(0, 1/sqrt(fan_in))
            fan_in = n // shape[0]
            std = 1.0 / math.sqrt(fan_in)
            if kind == "weight_small":
                std *= 0.3
            vals = [self.rng.gauss(0.0, std) for _ in range(n)]
        dtype = "BF16" if (len(shape) >= 2 and n >= 4096) else "F32"
        self.items.append((name, dtype, list(shape), vals))

    def write(self, path):
        header, blobs, off = {}, [], 0
        for name, dtype, shape, vals in self.items:
            if dtype == "F32":
                b = struct.pack("<%df" % len(vals), *vals)
            else:
                u = struct.unpack("<%dI" % len(vals), struct.pack("<%df" % len(vals), *vals))
                b = struct.pack("<%dH" % len(u), *[((x + 0x7FFF + ((x >> 16) & 1)) >> 16) & 0xFFFF for x in u])
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)


def transformer(t, c):
    dim = c["num_attention_heads"] * c["attention_head_dim"]
    pt, ph, pw = c["patch_size"]
    t.add("scale_shift_table", [1, 2, dim], "table")
    t.add("patch_embedding.weight", [dim, c["in_channels"], pt, ph, pw], "weight")
    t.add("patch_embedding.bias", [dim], "bias")
    for sub, fin in (("time_embedder", c["freq_dim"]), ("text_embedder", c["text_dim"])):
        t.add("condition_embedder.%s.linear_1.weight" % sub, [dim, fin], "weight")
        t.add("condition_embedder.%s.linear_1.bias" % sub, [dim], "bias")
        t.add("condition_embedder.%s.linear_2.weight" % sub, [dim, dim], "weight")
        t.add("condition_embedder.%s.linear_2.bias" % sub, [dim], "bias")
    t.add("condition_embedder.time_proj.weight", [6 * dim, dim], "weight")
    t.add("condition_embedder.time_proj.bias", [6 * dim], "bias")
    for i in range(c["num_layers"]):
        p = "blocks.%d." % i
        t.add(p + "scale_shift_table", [1, 6, dim], "table")
        for a in ("attn1", "attn2"):
            t.add(p + a + ".norm_q.weight", [dim], "norm")
            t.add(p + a + ".norm_k.weight", [dim], "norm")
            for proj in ("to_q", "to_k", "to_v", "to_out.0"):
                t.add(p + a + "." + proj + ".weight", [dim, dim], "weight")
                t.add(p + a + "." + proj + ".bias", [dim], "bias")
        t.add(p + "norm2.weight", [dim], "norm")
        t.add(p + "norm2.bias", [dim], "bias")
        t.add(p + "ffn.net.0.proj.weight", [c["ffn_dim"], dim], "weight")
        t.add(p + "ffn.net.0.proj.bias", [c["ffn_dim"]], "bias")
        t.add(p + "ffn.net.2.weight", [dim, c["ffn_dim"]], "weight")
        t.add(p + "ffn.net.2.bias", [dim], "bias")
    t.add("proj_out.weight", [c["out_channels"] * pt * ph * pw, dim], "weight")
    t.add("proj_out.bias", [c["out_channels"] * pt * ph * pw], "bias")


def vae_resnet(t, p, cin, cout):
    t.add(p + "norm1.gamma", [cin, 1, 1, 1], "norm")
    t.add(p + "conv1.weight", [cout, cin, 3, 3, 3], "weight")
    t.add(p + "conv1.bias", [cout], "bias")
    t.add(p + "norm2.gamma", [cout, 1, 1, 1], "norm")
    t.add(p + "conv2.weight", [cout, cout, 3, 3, 3], "weight")
    t.add(p + "conv2.bias", [cout], "bias")
    if cin != cout:
        t.add(p + "conv_shortcut.weight", [cout, cin, 1, 1, 1], "weight")
        t.add(p + "conv_shortcut.bias", [cout], "bias")


def vae_mid(t, p, c):
    t.add(p + "attentions.0.norm.gamma", [c, 1, 1], "norm")
    t.add(p + "attentions.0.to_qkv.weight", [3 * c, c, 1, 1], "weight")
    t.add(p + "attentions.0.to_qkv.bias", [3 * c], "bias")
    t.add(p + "attentions.0.proj.weight", [c, c, 1, 1], "weight")
    t.add(p + "attentions.0.proj.bias", [c], "bias")
    vae_resnet(t, p + "resnets.0.", c, c)
    vae_resnet(t, p + "resnets.1.", c, c)


def vae(t, c):
    base, z, mult, nres = c["base_dim"], c["z_dim"], c["dim_mult"], c["num_res_blocks"]
    # encoder
    dims = [base * u for u in [1] + mult]
    t.add("encoder.conv_in.weight", [dims[0], 3, 3, 3, 3], "weight")
    t.add("encoder.conv_in.bias", [dims[0]], "bias")
    k = 0
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        for r in range(nres):
            vae_resnet(t, "encoder.down_blocks.%d." % k, cin if r == 0 else cout, cout)
            k += 1
        if i != len(mult) - 1:
            t.add("encoder.down_blocks.%d.resample.1.weight" % k, [cout, cout, 3, 3], "weight")
            t.add("encoder.down_blocks.%d.resample.1.bias" % k, [cout], "bias")
            if c["temperal_downsample"][i]:
                t.add("encoder.down_blocks.%d.time_conv.weight" % k, [cout, cout, 3, 1, 1], "weight")
                t.add("encoder.down_blocks.%d.time_conv.bias" % k, [cout], "bias")
            k += 1
    vae_mid(t, "encoder.mid_block.", dims[-1])
    t.add("encoder.norm_out.gamma", [dims[-1], 1, 1, 1], "norm")
    t.add("encoder.conv_out.weight", [2 * z, dims[-1], 3, 3, 3], "weight")
    t.add("encoder.conv_out.bias", [2 * z], "bias")
    t.add("quant_conv.weight", [2 * z, 2 * z, 1, 1, 1], "weight")
    t.add("quant_conv.bias", [2 * z], "bias")
    t.add("post_quant_conv.weight", [z, z, 1, 1, 1], "weight")
    t.add("post_quant_conv.bias", [z], "bias")
    # decoder
    dd = [base * u for u in [mult[-1]] + mult[::-1]]
    t.add("decoder.conv_in.weight", [dd[0], z, 3, 3, 3], "weight")
    t.add("decoder.conv_in.bias", [dd[0]], "bias")
    vae_mid(t, "decoder.mid_block.", dd[0])
    up3d = c["temperal_downsample"][::-1]
    for i, (cin, cout) in enumerate(zip(dd[:-1], dd[1:])):
        if i > 0:
            cin //= 2
        p = "decoder.up_blocks.%d." % i
        for r in range(nres + 1):
            vae_resnet(t, p + "resnets.%d." % r, cin if r == 0 else cout, cout)
        if i != len(mult) - 1:
            t.add(p + "upsamplers.0.resample.1.weight", [cout // 2, cout, 3, 3], "weight")
            t.add(p + "upsamplers.0.resample.1.bias", [cout // 2], "bias")
            if up3d[i]:
                t.add(p + "upsamplers.0.time_conv.weight", [cout * 2, cout, 3, 1, 1], "weight")
                t.add(p + "upsamplers.0.time_conv.bias", [cout * 2], "bias")
    t.add("decoder.norm_out.gamma", [dd[-1], 1, 1, 1], "norm")
    t.add("decoder.conv_out.weight", [3, dd[-1], 3, 3, 3], "weight_small")
    t.add("decoder.conv_out.bias", [3], "bias")


def text_encoder(t, c):
    d, inner, ff = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"]
    t.add("shared.weight", [c["vocab_size"], d], "embed")
    for i in range(c["num_layers"]):
        p = "encoder.block.%d.layer." % i
        for proj, shape in (("q", [inner, d]), ("k", [inner, d]), ("v", [inner, d]), ("o", [d, inner])):
            t.add(p + "0.SelfAttention.%s.weight" % proj, shape, "weight")
        t.add(p + "0.SelfAttention.relative_attention_bias.weight",
              [c["relative_attention_num_buckets"], c["num_heads"]], "embed")
        t.add(p + "0.layer_norm.weight", [d], "norm")
        t.add(p + "1.DenseReluDense.wi_0.weight", [ff, d], "weight")
        t.add(p + "1.DenseReluDense.wi_1.weight", [ff, d], "weight")
        t.add(p + "1.DenseReluDense.wo.weight", [d, ff], "weight")
        t.add(p + "1.layer_norm.weight", [d], "norm")
    t.add("encoder.final_layer_norm.weight", [d], "norm")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "tiny-wan"))
    ap.add_argument("--tokenizer", default=os.path.join(here, "..", "..", "shared", "golden", "tokenizer_t5"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    def dump(rel, obj):
        os.makedirs(os.path.dirname(os.path.join(a.out, rel)), exist_ok=True)
        with open(os.path.join(a.out, rel), "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")

    dump("model_index.json", MODEL_INDEX)
    dump("scheduler/scheduler_config.json", SCHEDULER)
    for comp, cfg, fn, build, seed in (
            ("transformer", TRANSFORMER, "diffusion_pytorch_model.safetensors", transformer, SEED + 1),
            ("vae", VAE, "diffusion_pytorch_model.safetensors", vae, SEED + 2),
            ("text_encoder", TEXT_ENCODER, "model.safetensors", text_encoder, SEED + 3)):
        dump(comp + "/config.json", cfg)
        t = Tensors(random.Random(seed))
        build(t, cfg)
        t.write(os.path.join(a.out, comp, fn))
    os.makedirs(os.path.join(a.out, "tokenizer"), exist_ok=True)
    for fn in ("spiece.model", "special_tokens_map.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(a.tokenizer, fn), os.path.join(a.out, "tokenizer", fn))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
