#!/usr/bin/env python3
"""Measures the demo VAE of a model folder with diffusers' own AutoencoderKLWan:
decode of the designed latent, and encode -> decode, on clips of the held-out
combinations (17 frames, 64x64). Prints mean |error| and PSNR per clip and overall.

Usage: OMP_NUM_THREADS=1 tools/.venv/bin/python tools/demo_wan/eval_vae.py [models/demo-wan] [--clips N] [--latent moving]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="models/demo-wan")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latent", default="static", choices=["moving", "static"], help="the latent layout (data.LATENT)")
    a = ap.parse_args()
    data.LATENT = a.latent
    torch.set_num_threads(1)
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file
    cfg = json.load(open(os.path.join(a.model, "vae", "config.json")))
    vae = AutoencoderKLWan(**{k: v for k, v in cfg.items() if not k.startswith("_")}).eval()
    sd = load_file(os.path.join(a.model, "vae", "diffusion_pytorch_model.safetensors"))
    vae.load_state_dict({k: v.float() for k, v in sd.items()})
    rng = np.random.default_rng(a.seed)
    tot = {"decode": [], "roundtrip": []}
    for i in range(a.clips):
        combo = data.HELD_OUT[i % len(data.HELD_OUT)]
        clip, z = data.clip_and_latent(rng, combo, T=17)
        x = torch.from_numpy(clip.transpose(3, 0, 1, 2)[None] * 2 - 1)
        z = torch.from_numpy(z[None])
        with torch.no_grad():
            dec = vae.decode(z).sample
            rt = vae.decode(vae.encode(x).latent_dist.mean).sample
        line = []
        for name, y in (("decode", dec), ("roundtrip", rt)):
            err = ((y - x) / 2).abs()                       # in [0, 1] units
            mse = (((y - x) / 2) ** 2).mean().item()
            psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
            tot[name].append((err.mean().item(), psnr))
            line.append("%s mean|err| %.4f PSNR %.1f dB" % (name, err.mean().item(), psnr))
        print("%-55s %s" % (data.caption(*combo), "; ".join(line)))
    for name, v in tot.items():
        v = np.array(v)
        print("%s: mean|err| %.4f, PSNR %.1f dB (mean over %d clips)" % (name, v[:, 0].mean(), v[:, 1].mean(), len(v)))


if __name__ == "__main__":
    main()
