"""The whole text-to-video job in PyTorch (diffusers' WanPipeline) beside
`vgen generate`, on the same diffusers folder, in one run: rounds alternate
between the two so that load from other processes hits both alike, and the best
time of each phase is kept. Prints text encoding, denoising and VAE decode
times of both and vgen's speed relative to PyTorch per phase.

Both run f32 with classifier-free guidance on the same prompt, size, frame
count, step count and thread count. PyTorch's phases are timed around
`encode_prompt`, the pipeline call with `output_type="latent"` (the denoising
loop alone, given the embeddings), and the pipeline's own decode (latent
denormalisation, `vae.decode`, `postprocess_video` to frames in [0, 1]);
vgen's come from the sidecar JSON of `vgen generate` (text_encode, denoise,
decode: the same steps, decode ending at 8-bit frames, before the video file).

usage: torch_pipeline.py VGEN [rounds=2] [model=models/tiny-wan]
  HEIGHT (192), WIDTH (320), FRAMES (25), STEPS (20), GUIDANCE (5)
Test tooling only: needs torch, diffusers, transformers, sentencepiece and
accelerate (bench/torch-baseline.sh installs them).
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch
from diffusers import WanPipeline

PROMPT = "a red fox running through fresh snow"


def env_int(name, default):
    return int(os.environ.get(name, default))


def torch_round(pipe, cfg):
    t = {}
    with torch.inference_mode():
        t0 = time.perf_counter()
        pe, ne = pipe.encode_prompt(PROMPT, negative_prompt="", do_classifier_free_guidance=cfg["guidance"] > 1,
                                    max_sequence_length=512, device=torch.device("cpu"), dtype=torch.float32)
        t["text_encode"] = time.perf_counter() - t0
        g = torch.Generator().manual_seed(42)
        t0 = time.perf_counter()
        lat = pipe(prompt_embeds=pe, negative_prompt_embeds=ne, height=cfg["height"], width=cfg["width"],
                   num_frames=cfg["frames"], num_inference_steps=cfg["steps"], guidance_scale=cfg["guidance"],
                   generator=g, output_type="latent").frames
        t["denoise"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        vae = pipe.vae
        mean = torch.tensor(vae.config.latents_mean).view(1, vae.config.z_dim, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, vae.config.z_dim, 1, 1, 1)
        video = vae.decode(lat / inv_std + mean, return_dict=False)[0]
        frames = pipe.video_processor.postprocess_video(video, output_type="np")
        t["decode"] = time.perf_counter() - t0
    assert frames.shape[1] == cfg["frames"], frames.shape
    return t


def vgen_round(vgen, model, cfg, threads, tmp):
    out = os.path.join(tmp, "out.mp4")
    cmd = [vgen, "generate", "--model", model, "--prompt", PROMPT, "--height", str(cfg["height"]),
           "--width", str(cfg["width"]), "--num-frames", str(cfg["frames"]), "--steps", str(cfg["steps"]),
           "--guidance-scale", str(cfg["guidance"]), "--threads", str(threads), "--seed", "42",
           "--output", out, "--quiet"]
    if os.path.exists(out):
        os.remove(out)
    subprocess.run(cmd, check=True)
    with open(out + ".json") as f:
        rep = json.load(f)
    return {p["name"]: p["seconds"] for p in rep["phases"]}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    vgen = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    model = sys.argv[3] if len(sys.argv) > 3 else "models/tiny-wan"
    cfg = {"height": env_int("HEIGHT", 192), "width": env_int("WIDTH", 320), "frames": env_int("FRAMES", 25),
           "steps": env_int("STEPS", 20), "guidance": float(os.environ.get("GUIDANCE", "5"))}
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    head = subprocess.run([vgen, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    print(f"PyTorch {torch.__version__}, {threads} threads; {head.splitlines()[-1] if head else 'vgen'}")
    print(f"{model}: {cfg['height']}x{cfg['width']}, {cfg['frames']} frames, {cfg['steps']} steps, "
          f"guidance {cfg['guidance']}, f32")
    pipe = WanPipeline.from_pretrained(model, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    phases = ("text_encode", "denoise", "decode")
    bt = {p: math.inf for p in phases}
    bv = {p: math.inf for p in phases}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            tt = torch_round(pipe, cfg)
            tv = vgen_round(vgen, model, cfg, threads, tmp)
            for p in phases:
                bt[p] = min(bt[p], tt[p])
                bv[p] = min(bv[p], tv[p])
            print(f"round {r + 1}: " + ", ".join(f"{p} torch {tt[p]:.2f} s vgen {tv[p]:.2f} s" for p in phases),
                  flush=True)
    print("| phase | PyTorch (diffusers WanPipeline) | vgen generate | vgen speed / PyTorch |")
    print("|---|---|---|---|")
    for p in phases:
        print(f"| {p} | {bt[p]:.2f} s | {bv[p]:.2f} s | **{bt[p] / bv[p]:.2f}x** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
