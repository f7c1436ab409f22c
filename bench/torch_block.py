"""One Wan2.1-1.3B DiT block in PyTorch (diffusers' WanTransformerBlock) beside
vgen's (bench_dit_block), at the same shapes, in one run: rounds alternate
between the two so that load from other processes hits both alike, and the best
time of each is kept. Prints per dtype the PyTorch and vgen block times, vgen's
speed relative to PyTorch, and each block's GFLOP/s as a ratio to the best GEMM
rate measured on this machine in the same run (by either).

usage: torch_block.py BENCH_DIT_BLOCK [tokens=1560] [rounds=3]
Test tooling only: needs torch and diffusers (bench/torch-baseline.sh installs them).
"""
import math
import os
import subprocess
import sys
import time

import torch
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed, WanTransformerBlock

DIM, HEADS, HEAD_DIM, FFN, TEXT = 1536, 12, 128, 8960, 512


def block_flops(S, L=TEXT, D=DIM, F=FFN):
    gemm = 2.0 * S * D * D * 6 + 2.0 * L * D * D * 2 + 2.0 * 2 * S * D * F
    attn = 4.0 * S * S * D + 4.0 * S * L * D
    return gemm + attn


def make_inputs(S, dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, S, DIM, generator=g).to(dtype)
    ctx = torch.randn(1, TEXT, DIM, generator=g).to(dtype)
    temb = (0.1 * torch.randn(1, 6, DIM, generator=g)).to(dtype)
    # the same token grid as bench_dit_block: rows of 52 patches, one latent frame
    wp = 52
    hp = (S + wp - 1) // wp
    rope = WanRotaryPosEmbed(HEAD_DIM, (1, 2, 2), 1024)
    latent = torch.zeros(1, 16, 1, 2 * hp, 2 * wp)
    freqs = rope(latent)
    if isinstance(freqs, (tuple, list)):
        freqs = tuple(f[:, :S] for f in freqs)
    else:
        freqs = freqs[:, :, :S]
    return x, ctx, temb, freqs


def time_block(blk, inputs, reps):
    best = math.inf
    with torch.inference_mode():
        for _ in range(reps):
            t0 = time.perf_counter()
            blk(*inputs)
            best = min(best, time.perf_counter() - t0)
    return best


def gemm_rate(dtype, S, reps=2):
    g = torch.Generator().manual_seed(1)
    a = torch.randn(S, DIM, generator=g).to(dtype)
    w = torch.randn(FFN, DIM, generator=g).to(dtype)
    best = math.inf
    with torch.inference_mode():
        torch.nn.functional.linear(a, w)
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.nn.functional.linear(a, w)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * S * FFN * DIM / best / 1e9


def run_vgen(bench, S):
    out = subprocess.run([bench, str(S), "1", "block"], check=True, capture_output=True, text=True).stdout
    res = {"gemm": {}, "block": {}, "head": out.splitlines()[0]}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("gemm", "block"):
            res[parts[0]][parts[1]] = float(parts[2])
    return res


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bench = sys.argv[1]
    S = int(sys.argv[2]) if len(sys.argv) > 2 else 1560
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"PyTorch {torch.__version__}, diffusers {__import__('diffusers').__version__}, {threads} threads, "
          f"oneDNN {torch.backends.mkldnn.is_available()}, CPU capability {torch.backends.cpu.get_cpu_capability()}")

    torch.manual_seed(0)
    blocks, inputs = {}, {}
    for name, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        blk = WanTransformerBlock(DIM, FFN, HEADS, "rms_norm_across_heads", True, 1e-6).eval()
        blocks[name] = blk.to(dt)
        inputs[name] = make_inputs(S, dt)
        time_block(blocks[name], inputs[name], 1)  # warm-up

    best_t = {("torch", d): math.inf for d in blocks}
    best_t.update({("vgen", d): math.inf for d in blocks})
    best_g = {}
    head = ""
    for r in range(rounds):
        for d in blocks:
            best_t[("torch", d)] = min(best_t[("torch", d)], time_block(blocks[d], inputs[d], 1))
        for d, dt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            best_g[("torch", d)] = max(best_g.get(("torch", d), 0), gemm_rate(dt, S))
        v = run_vgen(bench, S)
        head = v["head"]
        for d, t in v["block"].items():
            best_t[("vgen", d)] = min(best_t[("vgen", d)], t)
        for d, g in v["gemm"].items():
            best_g[("vgen", d)] = max(best_g.get(("vgen", d), 0), g)
        print(f"round {r + 1}: " + ", ".join(f"{k[0]} {k[1]} {t:.3f} s" for k, t in best_t.items()), flush=True)

    print(f"vgen {head}")
    top = max(best_g.values())
    who = max(best_g, key=best_g.get)
    print(f"GEMM at the FFN shape ({S} x {FFN} x {DIM}), GFLOP/s: " +
          ", ".join(f"{k[0]} {k[1]} {g:.1f}" for k, g in sorted(best_g.items())) +
          f"; best on this machine: {who[0]} {who[1]} {top:.1f}")
    fl = block_flops(S)
    print(f"block: {S} tokens, {TEXT} text tokens, {fl / 1e9:.1f} GFLOP; best of {rounds} rounds, interleaved")
    print("| dtype | PyTorch block | vgen block | vgen speed / PyTorch | PyTorch / best GEMM | vgen / best GEMM |")
    print("|---|---|---|---|---|---|")
    for d in blocks:
        tt, tv = best_t[("torch", d)], best_t[("vgen", d)]
        print(f"| {d} | {tt:.3f} s | {tv:.3f} s | **{tt / tv:.2f}x** | {fl / tt / 1e9 / top:.2f} | {fl / tv / 1e9 / top:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
