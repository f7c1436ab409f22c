"""PyTorch's scaled_dot_product_attention (its CPU flash attention) beside vgen's
attention op (bench_attention), f32, at the same shapes, in one run: rounds
alternate between the two so that load from other processes hits both alike, and
the best time of each is kept. Prints per shape both times, vgen's speed relative
to PyTorch and each one's GFLOP/s (4 S^2 d per head).

usage: torch_attention.py BENCH_ATTENTION [rounds=3] [S,H,d ...]
  default shapes: 1680,2,32 (models/tiny-wan at 192x320, 25 frames) and
  1560,12,128 (Wan2.1-1.3B, one 480x832 latent frame)
Test tooling only: needs torch (bench/torch-baseline.sh installs it).
"""
import math
import os
import subprocess
import sys
import time

import torch


def time_torch(S, H, d, reps):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, H, S, d, generator=g) for _ in range(3))
    best = math.inf
    with torch.inference_mode():
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.nn.functional.scaled_dot_product_attention(q, k, v)
            best = min(best, time.perf_counter() - t0)
    return best


def time_vgen(bench, S, H, d, reps):
    out = subprocess.run([bench, str(S), str(H), str(d), str(reps), "line"], check=True, capture_output=True,
                         text=True).stdout.split()
    if len(out) != 3 or out[0] != "attention":
        raise SystemExit("unexpected output from %s: %r" % (bench, out))
    return float(out[1])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bench = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    shapes = [tuple(int(x) for x in a.split(",")) for a in sys.argv[3:]] or [(1680, 2, 32), (1560, 12, 128)]
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"PyTorch {torch.__version__}, {threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    best = {}
    for r in range(rounds):
        for S, H, d in shapes:
            reps = max(1, int(2e9 / (4.0 * S * S * d * H)))   # about 2 GFLOP of attention per timing
            tt, tv = time_torch(S, H, d, reps), time_vgen(bench, S, H, d, reps)
            bt, bv = best.get((S, H, d), (math.inf, math.inf))
            best[(S, H, d)] = (min(bt, tt), min(bv, tv))
        print(f"round {r + 1}: " + ", ".join(f"{s}: torch {t:.4f} s vgen {v:.4f} s" for s, (t, v) in best.items()),
              flush=True)
    print(f"best of {rounds} rounds, interleaved, f32")
    print("| tokens x heads x head_dim | PyTorch SDPA | vgen attention | vgen speed / PyTorch | PyTorch GFLOP/s | vgen GFLOP/s |")
    print("|---|---|---|---|---|---|")
    for (S, H, d), (tt, tv) in best.items():
        fl = 4.0 * S * S * d * H
        print(f"| {S} x {H} x {d} | {tt:.4f} s | {tv:.4f} s | **{tt / tv:.2f}x** | {fl / tt / 1e9:.1f} | {fl / tv / 1e9:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
