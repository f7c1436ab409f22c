#!/usr/bin/env python3
"""Measures the demo transformer alone, without the VAE decoder: samples latents for
the held-out prompts with diffusers' UniPC scheduler (the model's scheduler config),
classifier-free guidance and the 512-token padded prompt embeddings, then reads the
designed latent back: the moving layout as an 8x8-pixel video (channels 0-11: the
RGB of each frame of a latent frame's group), measuring its colours and motion (see
measure()); the static one (--latent static) by its colour and direction fields and
its coverage channel (read_static()).

Usage: OMP_NUM_THREADS=1 tools/.venv/bin/python tools/demo_wan/eval_dit.py [models/demo-wan]
       [--transformer DIR] [--steps 8] [--guidance 5] [--seeds 1] [--combos held-out|training]
       [--decode] [--latent static|moving]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import train  # noqa: E402

PALETTE = np.array(list(data.COLOURS.values()), np.float32)
NAMES = list(data.COLOURS)


def latent_video(z):
    """designed latent [16, F, h, w] -> frames [T, h, w, 3] in [0, 1]"""
    frames = []
    for k in range(z.shape[1]):
        for j in range(4) if k else range(3, 4):
            frames.append(z[3 * j:3 * j + 3, k].transpose(1, 2, 0))
    return (np.stack(frames) + 1) / 2


def measure(video):
    """At 8x8-pixel cells the shape's colour is blended with the background's, so:
    background = most frequent palette colour; foreground = the palette colour (not the
    background) nearest to the mean of each frame's cell farthest from the background;
    motion = the track of the centroid weighted by each cell's distance from it."""
    T, h, w, _ = video.shape
    d = ((video[..., None, :] - PALETTE) ** 2).sum(-1)            # [T, h, w, 6]
    cls = np.where(d.min(-1) < 0.3 ** 2, d.argmin(-1), -1)
    hist = np.array([(cls == c).sum() for c in range(len(NAMES))])
    bg = int(hist.argmax())
    far = np.sqrt(((video - PALETTE[bg]) ** 2).sum(-1))            # [T, h, w]
    peak = np.stack([video[t].reshape(-1, 3)[far[t].argmax()] for t in range(T)]).mean(0)
    dd = ((PALETTE - peak) ** 2).sum(-1)
    dd[bg] = np.inf
    fg = int(dd.argmin())
    ys, xs = np.mgrid[0:h, 0:w]
    wgt = np.maximum(far - 0.15, 0)
    ts = [t for t in range(T) if wgt[t].sum() > 0.2]
    if len(ts) < 2:
        return NAMES[fg], NAMES[bg], "-", (0.0, 0.0)
    cx = np.array([(wgt[t] * xs).sum() / wgt[t].sum() for t in ts])
    cy = np.array([(wgt[t] * ys).sum() / wgt[t].sum() for t in ts])
    vx, vy = np.polyfit(ts, cx, 1)[0], np.polyfit(ts, cy, 1)[0]
    dr = ("right" if vx >= 0 else "left") if abs(vx) >= abs(vy) else ("down" if vy >= 0 else "up")
    return NAMES[fg], NAMES[bg], dr, (vx * 8, vy * 8)


def read_static(z):
    """data.design_static's latent [16, F, h, w] -> (foreground, background, direction,
    (shape cells, centroid drift over the latent frames in cells)): the palette colours
    nearest the background field and the mid frame's colour where the coverage is
    highest, the direction channel with the largest mean, and how many cells the
    coverage channel covers by half or more and how far its centroid moves."""
    near = lambda rgb: int(((PALETTE - rgb) ** 2).sum(-1).argmin())  # noqa: E731
    bg = near((z[data.ST_BG:data.ST_BG + 3].mean(axis=(1, 2, 3)) + 1) / 2)
    dr = list(data.DIRECTIONS)[int(z[data.ST_DIR:data.ST_DIR + 4].mean(axis=(1, 2, 3)).argmax())]
    cov = np.clip((z[data.ST_COVER] + 1) / 2, 0, 1)                         # [F, h, w]
    top = cov >= 0.8 * cov.max()
    dd = ((PALETTE - (z[data.ST_MID:data.ST_MID + 3][:, top].mean(axis=1) + 1) / 2) ** 2).sum(-1)
    dd[bg] = np.inf
    ys, xs = np.mgrid[0:cov.shape[1], 0:cov.shape[2]]
    c = np.array([((cov[k] * xs).sum(), (cov[k] * ys).sum()) / max(cov[k].sum(), 1e-6) for k in range(cov.shape[0])])
    return NAMES[int(dd.argmin())], NAMES[bg], dr, \
        (float((cov >= 0.5).sum(axis=(1, 2)).mean()), float(np.abs(c - c.mean(0)).max()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="models/demo-wan")
    ap.add_argument("--transformer", help="transformer folder (default: the model's)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--combos", default="held-out", choices=["held-out", "training"],
                    help="the 12 held-out combinations, or 12 drawn from the training ones")
    ap.add_argument("--decode", action="store_true",
                    help="decode the latents with the model's VAE and measure the frames as the C test does "
                         "(diagnose.measure), instead of reading the latent")
    ap.add_argument("--latent", default="static", choices=["moving", "static"], help="the latent layout (data.LATENT)")
    a = ap.parse_args()
    data.LATENT = a.latent
    torch.set_num_threads(1)
    from diffusers import UniPCMultistepScheduler, WanTransformer3DModel
    tdir = a.transformer or os.path.join(a.model, "transformer")
    cfg = json.load(open(os.path.join(tdir, "config.json")))
    dit = WanTransformer3DModel(**{k: v for k, v in cfg.items() if not k.startswith("_")}).eval()
    train.load_component(dit, tdir)
    if a.decode:
        import diagnose
        from diffusers import AutoencoderKLWan
        vae = diagnose.load(AutoencoderKLWan, os.path.join(a.model, "vae"))
    combos = data.HELD_OUT
    if a.combos == "training":
        tr = data.training_combos()
        combos = [tr[i] for i in np.random.default_rng(7).choice(len(tr), size=12, replace=False)]
    caps = [data.caption(*c) for c in combos] + [""]
    text = train.text_embeddings(os.path.join(a.model, "text_encoder"), os.path.join(a.model, "tokenizer"), caps)
    d = cfg["text_dim"]
    uncond = train.pad_text([text[""][0]], d)
    sc = json.load(open(os.path.join(a.model, "scheduler", "scheduler_config.json")))
    right = n = 0
    for seed in range(1, a.seeds + 1):
        for combo in combos:
            cap = data.caption(*combo)
            cond = train.pad_text([text[cap][0]], d)
            sched = UniPCMultistepScheduler.from_config(sc)
            sched.set_timesteps(a.steps)
            x = torch.randn(1, 16, 5, 8, 8, generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                for t in sched.timesteps:
                    tt = t.expand(1).float()
                    c = dit(hidden_states=x, timestep=tt, encoder_hidden_states=cond, return_dict=False)[0]
                    u = dit(hidden_states=x, timestep=tt, encoder_hidden_states=uncond, return_dict=False)[0]
                    x = sched.step(u + a.guidance * (c - u), t, x, return_dict=False)[0]
            if a.decode:
                with torch.no_grad():
                    y = vae.decode(x, return_dict=False)[0][0]
                fg, bg, dr, moving, v = diagnose.measure(((y.clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0).numpy())
                what = "v=(%+.2f, %+.2f) px/frame%s" % (v[0], v[1], "" if moving else ", not moving")
                dr = dr if moving else "-"
            elif data.LATENT == "static":
                fg, bg, dr, (area, drift) = read_static(x[0].numpy())
                what = "shape %.1f cells, drift %.2f cells" % (area, drift)
            else:
                fg, bg, dr, v = measure(latent_video(x[0].numpy()))
                what = "v=(%+.2f, %+.2f) px/frame" % v
            ok = (fg, bg, dr) == (combo[0], combo[3], combo[2])
            right += ok
            n += 1
            print("seed %d %-55s -> %-6s on %-6s %-5s %s %s" %
                  (seed, cap, fg, bg, dr, what, "right" if ok else "WRONG"))
    print("%d of %d right (%.0f%%)" % (right, n, 100.0 * right / n))


if __name__ == "__main__":
    main()
