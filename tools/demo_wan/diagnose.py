#!/usr/bin/env python3
"""Where does the demo model lose the motion? Three checks that need no sampling:

  truth  designed latents (data.clip_and_latent) of held-out clips, decoded by the
         model's VAE (diffusers), measured as tests/pipeline/test_demo_wan.c measures
         vgen's videos (measure() below is a port of its measure_video). If the
         direction is not right here, the latent design or the decoder loses it.
  swap   the transformer's flow-matching loss on training clips at fixed noise
         levels s, with the true caption and with the direction word replaced by the
         opposite or a perpendicular one. Where the two losses are equal, the
         transformer does not read the direction at that noise level.
  still  (moving latent only) held-out clips frozen in time (their latents averaged
         over the latent frames) and noised: does the transformer's x0 prediction move
         the shape the way the caption says?

Usage: OMP_NUM_THREADS=1 tools/.venv/bin/python tools/demo_wan/diagnose.py truth [models/demo-wan]
       OMP_NUM_THREADS=1 tools/.venv/bin/python tools/demo_wan/diagnose.py swap [models/demo-wan] [--transformer DIR]
       OMP_NUM_THREADS=1 tools/.venv/bin/python tools/demo_wan/diagnose.py still [models/demo-wan] [--transformer DIR]
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


def measure(v):
    """video [T, H, W, 3] in [0, 1] -> (foreground, background, direction, motion ok, (vx, vy));
    the measurement of tests/pipeline/test_demo_wan.c (same thresholds)."""
    T, H, W, _ = v.shape
    d = np.sqrt(((v[..., None, :] - PALETTE) ** 2).sum(-1))
    near = np.where(d.min(-1) < 0.30, d.argmin(-1), -1)
    bg = int(np.argmax([(near == c).sum() for c in range(len(NAMES))]))
    db = np.sqrt(((v - PALETTE[bg]) ** 2).sum(-1))                     # [T, H, W]
    core = [v[t][db[t] >= 0.8 * db[t].max()] for t in range(T) if db[t].max() >= 0.25]
    fg = -1
    if core:
        dd = np.sqrt(((PALETTE - np.concatenate(core).mean(0)) ** 2).sum(-1))
        dd[bg] = np.inf
        fg = int(dd.argmin())
    ys, xs = np.mgrid[0:H, 0:W]
    ts, cx, cy = [], [], []
    for t in range(T):
        if (db[t] >= 0.25).sum() < H * W // 200:
            continue
        w = np.where(db[t] >= 0.25, db[t], 0)
        ts.append(t)
        cx.append((w * xs).sum() / w.sum())
        cy.append((w * ys).sum() / w.sum())
    vx = vy = 0.0
    if len(ts) >= 2:
        vx, vy = np.polyfit(ts, cx, 1)[0], np.polyfit(ts, cy, 1)[0]
    dr = ("right" if vx >= 0 else "left") if abs(vx) >= abs(vy) else ("down" if vy >= 0 else "up")
    moving = len(ts) * 5 >= T * 4 and np.hypot(vx, vy) >= 0.4
    return (NAMES[fg] if fg >= 0 else "-"), NAMES[bg], dr, moving, (vx, vy)


def load(cls, folder):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    m = cls(**{k: v for k, v in cfg.items() if not k.startswith("_")}).eval()
    train.load_component(m, folder)
    return m


def truth(model, reps=2):
    from diffusers import AutoencoderKLWan
    vae = load(AutoencoderKLWan, os.path.join(model, "vae"))
    rng = np.random.default_rng(5)
    right = n = 0
    for _ in range(reps):
        for c in data.HELD_OUT:
            _, z = data.clip_and_latent(rng, c, T=17)
            z = torch.from_numpy(z)[None]
            with torch.no_grad():
                x = vae.decode(z, return_dict=False)[0][0]             # [3, T, H, W] in [-1, 1]
            fg, bg, dr, moving, v = measure(((x.clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0).numpy())
            ok = (fg, bg, dr) == (c[0], c[3], c[2]) and moving
            right += ok
            n += 1
            print("%-55s decoded -> %-6s on %-6s %-5s v=(%+.2f, %+.2f) px/frame %s" %
                  (data.caption(*c), fg, bg, dr, v[0], v[1], "right" if ok else "WRONG"))
    print("designed latents decoded: %d of %d right" % (right, n))


def swap(model, tdir, batch=16, seed=1):
    from diffusers import WanTransformer3DModel
    dit = load(WanTransformer3DModel, tdir or os.path.join(model, "transformer"))
    caps = [data.caption(*c) for c in data.all_combos()]
    text = train.text_embeddings(os.path.join(model, "text_encoder"), os.path.join(model, "tokenizer"), caps)
    rng = np.random.default_rng(seed)
    combos = data.training_combos()
    opposite = {"right": "left", "left": "right", "up": "down", "down": "up"}
    perpendicular = {"right": "up", "left": "down", "up": "right", "down": "left"}
    cs = [combos[i] for i in rng.integers(len(combos), size=batch)]
    x0 = torch.from_numpy(np.stack([data.clip_and_latent(rng, c)[1] for c in cs]))
    eps = torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))
    for s in (0.95, 0.85, 0.7, 0.5, 0.3):
        xt = (1 - s) * x0 + s * eps
        losses = []
        for change in (None, opposite, perpendicular):
            embs = [text[data.caption(c[0], c[1], change[c[2]] if change else c[2], c[3])][0] for c in cs]
            with torch.no_grad():
                v = dit(hidden_states=xt, timestep=torch.full((batch,), 1000.0 * s),
                        encoder_hidden_states=train.pad_text(embs, dit.config.text_dim), return_dict=False)[0]
            losses.append(((v - (eps - x0)) ** 2).mean().item())
        print("s = %.2f  loss: true caption %.5f, opposite direction %.5f (%+.1f%%), perpendicular %.5f (%+.1f%%)" %
              (s, losses[0], losses[1], 100 * (losses[1] / losses[0] - 1), losses[2], 100 * (losses[2] / losses[0] - 1)))


def still(model, tdir, seed=3):
    """From a still layout to motion: the held-out clips' designed latents averaged over
    time (what a transformer that cannot tell its latent frames apart predicts near
    s = 1), noised to s, and the transformer's x0 prediction (x_t - s v, with guidance 5)
    read back as in eval_dit.py: does it put the motion the caption asks for into it?
    A check of the moving latent (data.design_latent) only."""
    import eval_dit
    data.LATENT = "moving"
    from diffusers import WanTransformer3DModel
    dit = load(WanTransformer3DModel, tdir or os.path.join(model, "transformer"))
    caps = [data.caption(*c) for c in data.HELD_OUT] + [""]
    text = train.text_embeddings(os.path.join(model, "text_encoder"), os.path.join(model, "tokenizer"), caps)
    d = dit.config.text_dim
    rng = np.random.default_rng(seed)
    for s in (0.9, 0.75, 0.6, 0.45):
        right = 0
        for c in data.HELD_OUT:
            x0 = torch.from_numpy(data.design_latent(data.render(rng, c)))[None]
            xs = x0.mean(dim=2, keepdim=True).expand_as(x0)
            eps = torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))
            xt = (1 - s) * xs + s * eps
            t = torch.full((1,), 1000.0 * s)
            with torch.no_grad():
                vc = dit(hidden_states=xt, timestep=t, encoder_hidden_states=train.pad_text([text[data.caption(*c)][0]], d),
                         return_dict=False)[0]
                vu = dit(hidden_states=xt, timestep=t, encoder_hidden_states=train.pad_text([text[""][0]], d),
                         return_dict=False)[0]
            x0p = xt - s * (vu + 5.0 * (vc - vu))
            fg, bg, dr, v = eval_dit.measure(eval_dit.latent_video(x0p[0].numpy()))
            right += dr == c[2]
        print("s = %.2f: direction of the x0 prediction from a still layout right for %d of %d held-out captions" %
              (s, right, len(data.HELD_OUT)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=("truth", "swap", "still"))
    ap.add_argument("model", nargs="?", default="models/demo-wan")
    ap.add_argument("--transformer", help="transformer folder (default: the model's)")
    ap.add_argument("--latent", default="static", choices=["moving", "static"], help="the latent layout (data.LATENT)")
    a = ap.parse_args()
    data.LATENT = a.latent
    torch.set_num_threads(1)
    if a.check == "truth":
        truth(a.model)
    elif a.check == "swap":
        swap(a.model, a.transformer)
    else:
        still(a.model, a.transformer)


if __name__ == "__main__":
    main()
