"""A Wan2.1-1.3B DiT forward's worth of blocks in PyTorch on the GPU, for a same-run
ratio with vgen's CUDA backend (bench_cuda, scripts/gpu-check.sh).

The block is diffusers' WanTransformerBlock written out in plain torch (the GPU test
machine has PyTorch but not diffusers): f32 LayerNorm + adaLN modulation, q/k/v/o
projections with RMSNorm across heads, rotary embedding, scaled_dot_product_attention
(the fused kernels PyTorch picks), cross-attention to 512 text tokens, the GELU-tanh
FFN, gated residuals in f32; bf16 weights and activations. One block's weights are
run LAYERS times (the time of a forward; memory of one block).

usage: torch_cuda_block.py [layers=30] [tokens=32760] [reps=2]
prints: "torch forward_s <seconds> block_s <seconds> sdpa <backend>"
Test tooling only.
"""
import sys
import time

import torch
import torch.nn.functional as F

DIM, HEADS, HD, FFN, TEXT = 1536, 12, 128, 8960, 512


def rms(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w).to(x.dtype)


def rope(x, cos, sin):
    # x [B, H, S, D]: adjacent channel pairs rotated
    x0, x1 = x[..., 0::2].float(), x[..., 1::2].float()
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)
    return out.to(x.dtype)


def attention(x, ctx, p, pre, cos=None, sin=None):
    B, S, _ = x.shape
    q = rms(F.linear(x, p[pre + "q"], p[pre + "qb"]), p[pre + "nq"])
    k = rms(F.linear(ctx, p[pre + "k"], p[pre + "kb"]), p[pre + "nk"])
    v = F.linear(ctx, p[pre + "v"], p[pre + "vb"])
    q, k, v = (t.unflatten(2, (HEADS, HD)).transpose(1, 2) for t in (q, k, v))
    if cos is not None:
        q, k = rope(q, cos, sin), rope(k, cos, sin)
    o = F.scaled_dot_product_attention(q, k, v)
    return F.linear(o.transpose(1, 2).flatten(2), p[pre + "o"], p[pre + "ob"])


def block(x, ctx, temb, p, cos, sin):
    shift, scale, gate, c_shift, c_scale, c_gate = (p["sst"] + temb.float()).chunk(6, dim=1)
    h = (F.layer_norm(x.float(), (DIM,), eps=1e-6) * (1 + scale) + shift).to(x.dtype)
    x = (x.float() + attention(h, h, p, "a1", cos, sin) * gate).to(x.dtype)
    h = F.layer_norm(x.float(), (DIM,), p["n2w"], p["n2b"], 1e-6).to(x.dtype)
    x = x + attention(h, ctx, p, "a2")
    h = (F.layer_norm(x.float(), (DIM,), eps=1e-6) * (1 + c_scale) + c_shift).to(x.dtype)
    ff = F.linear(F.gelu(F.linear(h, p["f1"], p["f1b"]), approximate="tanh"), p["f2"], p["f2b"])
    return (x.float() + ff.float() * c_gate).to(x.dtype)


def main():
    layers = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    S = int(sys.argv[2]) if len(sys.argv) > 2 else 32760
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    if not torch.cuda.is_available():
        print("torch: no CUDA device")
        return 1
    dev, dt = "cuda", torch.bfloat16
    g = torch.Generator(device=dev).manual_seed(0)
    s = DIM ** -0.5

    def r(*shape, a=s, add=0.0, dtype=dt):
        return (torch.randn(*shape, generator=g, device=dev) * a + add).to(dtype)

    p = {"sst": r(1, 6, DIM, a=0.1, dtype=torch.float32), "n2w": r(DIM, a=0.2, add=1.0), "n2b": r(DIM, a=0.1),
         "f1": r(FFN, DIM), "f1b": r(FFN, a=0.1), "f2": r(DIM, FFN, a=FFN ** -0.5), "f2b": r(DIM, a=0.1)}
    for a in ("a1", "a2"):
        for m in ("q", "k", "v", "o"):
            p[a + m] = r(DIM, DIM)
            p[a + m + "b"] = r(DIM, a=0.1)
        p[a + "nq"] = r(DIM, a=0.2, add=1.0)
        p[a + "nk"] = r(DIM, a=0.2, add=1.0)
    x = r(1, S, DIM, a=1.0)
    ctx = r(1, TEXT, DIM, a=0.5)
    temb = r(1, 6, DIM, a=0.1, dtype=torch.float32)
    ang = torch.rand(S, HD // 2, generator=g, device=dev) * 6.28
    cos, sin = ang.cos(), ang.sin()
    with torch.inference_mode():
        block(x, ctx, temb, p, cos, sin)   # warm-up
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            y = x
            for _ in range(layers):
                y = block(y, ctx, temb, p, cos, sin)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    print(f"torch forward_s {best:.3f} block_s {best / layers:.4f} torch_version {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
