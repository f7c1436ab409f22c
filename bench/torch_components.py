"""Wan VAE decode and UMT5 encode: PyTorch (diffusers AutoencoderKLWan,
transformers UMT5EncoderModel) beside vgen (bench_components) on the same
random-weight models at the real shapes, interleaved rounds, best of each.

- VAE: the Wan2.1 VAE config (base_dim 96, z_dim 16), f32, decoding one latent
  frame at 480x832 (latents [1, 16, 1, 60, 104]: one chunk of the causal
  decode; LATENT=30x52 decodes 240x416 instead). Prints both times and each one's convolution rate: the FLOPs of every
  Conv3d/Conv2d call of the decode, counted with forward hooks in PyTorch.
- UMT5: the UMT5-XXL encoder's shapes (d_model 4096, 64 heads x 64, d_ff 10240,
  gated-GELU) with LAYERS layers (default 2; the real model has 24, each taking
  the same time) and a 32128-token vocabulary instead of 256384 (the embedding is
  a lookup: it sets memory, not time), one prompt of 512 tokens, f32 and bf16.

usage: torch_components.py BENCH_COMPONENTS BENCH_GEMM [rounds=2] [layers=2] [what=vae,t5] [latent=60x104]
Test tooling only.
"""
import math
import os
import subprocess
import sys
import tempfile
import time

import torch


def best_of(fn, reps):
    best = math.inf
    with torch.inference_mode():
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return best


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    return lines[0], float(lines[-1].split()[1])


def vgen_sgemm_rate(bench_gemm):
    out = subprocess.run([bench_gemm, "1560", "1"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("1560 x 8960 x 1536:"):
            rates = [float(p.split(" GFLOP/s")[0].split()[-1]) for p in line.split(")")[:-1]]
            return max(rates[:2]), (rates[2] if len(rates) > 2 else 0.0)
    return 0.0, 0.0


def vae_bench(bc, tmp, rounds, lh, lw):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    vae = AutoencoderKLWan().eval()  # the Wan2.1 VAE config, random weights
    path = os.path.join(tmp, "vae")
    vae.save_pretrained(path)
    lat = torch.randn(1, 16, 1, lh, lw)
    flops = [0.0]

    def hook(mod, inp, out):
        k = math.prod(mod.kernel_size)
        flops[0] += 2.0 * out.numel() * (mod.in_channels // mod.groups) * k

    hs = [m.register_forward_hook(hook) for m in vae.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Conv2d))]
    with torch.inference_mode():
        vae.decode(lat)
    for h in hs:
        h.remove()
    conv = flops[0]
    # the counted call included post_quant_conv; the decode is what both time
    tt = tv = math.inf
    head = ""
    for r in range(rounds):
        tt = min(tt, best_of(lambda: vae.decode(lat), 1))
        head, t = run([bc, "vae", path, str(lh), str(lw), "1"])
        tv = min(tv, t)
        print(f"vae round {r + 1}: torch {tt:.2f} s, vgen {tv:.2f} s", flush=True)
    return head, conv, tt, tv


def t5_bench(bc, tmp, rounds, layers):
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = UMT5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers, num_heads=64,
                     relative_attention_num_buckets=32, relative_attention_max_distance=128,
                     feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6)
    torch.manual_seed(0)
    res = {}
    L = 512
    ids = (torch.arange(L) * 7919 + 13) % cfg.vocab_size
    ids = ids.unsqueeze(0)
    for name, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        m = UMT5EncoderModel(cfg).eval().to(dt)
        path = os.path.join(tmp, f"umt5_{name}")
        m.save_pretrained(path)
        res[name] = (m, path)
    tt = {k: math.inf for k in res}
    tv = {k: math.inf for k in res}
    for r in range(rounds):
        for k, (m, path) in res.items():
            tt[k] = min(tt[k], best_of(lambda: m(input_ids=ids), 1))
            _, t = run([bc, "t5", path, str(L), "1"])
            tv[k] = min(tv[k], t)
        print(f"umt5 round {r + 1}: " + ", ".join(f"{k} torch {tt[k]:.2f} s vgen {tv[k]:.2f} s" for k in res), flush=True)
    fl = layers * 2.0 * L * (4 * 4096 * 4096 + 3 * 4096 * 10240) + layers * 4.0 * L * L * 4096
    return fl, tt, tv


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    bc, bg = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    layers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    what = sys.argv[5].split(",") if len(sys.argv) > 5 else ["vae", "t5"]
    lh, lw = (int(v) for v in (sys.argv[6] if len(sys.argv) > 6 else "60x104").split("x"))
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"PyTorch {torch.__version__}, {threads} threads")
    sg, bg16 = vgen_sgemm_rate(bg)
    print(f"vgen GEMM at 1560 x 8960 x 1536: f32 {sg:.1f} GFLOP/s, bf16 {bg16:.1f} GFLOP/s")
    with tempfile.TemporaryDirectory() as tmp:
        if "vae" in what:
            head, conv, tt, tv = vae_bench(bc, tmp, rounds, lh, lw)
            print(f"vgen {head}")
            print(f"VAE decode, one latent frame at {8 * lh}x{8 * lw}, f32: {conv / 1e9:.0f} GFLOP in convolutions")
            print("| | PyTorch | vgen | vgen speed / PyTorch |")
            print("|---|---|---|---|")
            print(f"| decode | {tt:.2f} s | {tv:.2f} s | **{tt / tv:.2f}x** |")
            print(f"| conv rate | {conv / tt / 1e9:.1f} GFLOP/s | {conv / tv / 1e9:.1f} GFLOP/s "
                  f"({conv / tv / 1e9 / sg:.2f} x vgen f32 GEMM) | |")
        if "t5" in what:
            fl, tt, tv = t5_bench(bc, tmp, rounds, layers)
            print(f"UMT5-XXL shapes, {layers} layers, 512 tokens: {fl / 1e9:.0f} GFLOP")
            print("| dtype | PyTorch | vgen | vgen speed / PyTorch | vgen GFLOP/s |")
            print("|---|---|---|---|---|")
            for k in tt:
                print(f"| {k} | {tt[k]:.2f} s | {tv[k]:.2f} s | **{tt[k] / tv[k]:.2f}x** | {fl / tv[k] / 1e9:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
