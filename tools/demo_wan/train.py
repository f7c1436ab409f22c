#!/usr/bin/env python3
"""Trains models/demo-wan: a tiny model of the exact Wan2.1 text-to-video
architecture (diffusers layout) on the procedural clips of data.py.

The latent space is designed, not learnt (--latent): "static" (data.design_static,
the shipped model's) holds the same still layout in every latent frame, and the
decoder draws the motion; "moving" (data.design_latent, the layout of earlier
models) holds each latent frame's own frames.

Stages, in one process on one CPU thread:
  1. VAE decoder: starts from weights that already decode the designed latent in
     8x8 blocks (vae_design.py; for the static latent, with the motion), then
     learns to sharpen on 17-frame clips.
  2. DiT: flow matching as Wan's scheduler expects it (x_t = (1 - s) x0 + s eps,
     timestep 1000 s, target eps - x0, s drawn with the scheduler's shift), on
     designed latents of 17-frame clips, with the frozen text encoder's embeddings
     cut to the prompt's length and zero-padded to 512 as WanPipeline does; 10% of
     the captions are replaced by "" so that classifier-free guidance works.
  3. VAE encoder: learns to produce the designed latent (mean) with a small
     variance, so that encode/decode round-trips.
The text encoder (UMT5) and tokenizer are models/tiny-wan's: a seeded random
UMT5 (models/make_tiny_wan.py), kept frozen.

Usage (from the repository root, after tools/setup-venv.sh):
  OMP_NUM_THREADS=1 tools/.venv/bin/python tools/demo_wan/train.py [--out models/demo-wan]
It writes the model folder after each stage (and every --export-every steps), so
a run can be checked with vgen while it goes on. Deterministic for a given seed
and thread count.
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import vae_design  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))
import make_tiny_wan as tiny  # noqa: E402

SEED = 20261129
TEXT_LEN = 512

TRANSFORMER = dict(tiny.TRANSFORMER, num_attention_heads=4, attention_head_dim=32, ffn_dim=256, num_layers=4)
VAE = dict(tiny.VAE, latents_mean=[0.0] * 16, latents_std=[1.0] * 16)


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


# ---------------------------------------------------------------- text

def text_embeddings(te_dir, tok_dir, captions):
    """caption -> [n_tokens, d] UMT5 output (the real tokens only, as WanPipeline keeps)."""
    from safetensors.torch import load_file
    from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel
    tok = T5Tokenizer(os.path.join(tok_dir, "spiece.model"), legacy=True)
    te = UMT5EncoderModel(UMT5Config.from_pretrained(te_dir)).eval()
    sd = {k: v.float() for k, v in load_file(os.path.join(te_dir, "model.safetensors")).items()}
    missing, unexpected = te.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "encoder.embed_tokens.weight"]  # tied to shared.weight
    if missing or unexpected:
        raise SystemExit("text encoder: missing %s unexpected %s" % (missing, unexpected))
    out = {}
    with torch.no_grad():
        for c in captions:
            # the real tokens' outputs do not depend on how many masked pads follow them
            t = tok(c, padding="max_length", max_length=32, truncation=True, return_tensors="pt")
            n = int(t.attention_mask.sum())
            assert n < 32
            h = te(t.input_ids, attention_mask=t.attention_mask).last_hidden_state[0]
            out[c] = (h[:n].clone(), t.input_ids[0, :n].tolist())
    return out


def pad_text(embs, d, length=TEXT_LEN):
    """list of [n, d] -> [B, length, d] zero-padded."""
    x = torch.zeros(len(embs), length, d)
    for i, e in enumerate(embs):
        x[i, :e.shape[0]] = e
    return x


class ShortTextAttn:
    """Cross-attention over a short zero-padded text that equals attention over the
    512-token one. Every zero-padding token gives the same key and value (the text
    embedder and norm_k see the same zero row), so N of them act as one key whose
    softmax weight is N times larger: each of the (S - n) short pads gets the logit
    bias log((512 - n) / (S - n)). Exact (checked in check_short_text), and it
    spares the projections of ~500 padding tokens per sample and layer."""
    bias = None   # [B, 1, 1, S], set per batch

    def __init__(self):
        from diffusers.models.transformers.transformer_wan import WanAttnProcessor2_0
        self.inner = WanAttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if encoder_hidden_states is not None and ShortTextAttn.bias is not None:
            attention_mask = ShortTextAttn.bias
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)


def short_text(embs, d, S):
    """(context [B, S, d], bias [B, 1, 1, S]) standing for the 512-token padding."""
    ctx = pad_text(embs, d, S)
    bias = torch.zeros(len(embs), 1, 1, S)
    for i, e in enumerate(embs):
        n = e.shape[0]
        bias[i, 0, 0, n:] = math.log((TEXT_LEN - n) / (S - n))
    return ctx, bias


def check_short_text(dit, embs, d, S):
    """max |difference| between the 512-token forward and the short one."""
    torch.manual_seed(0)
    x = torch.randn(len(embs), 16, 5, 8, 8)
    t = torch.tensor([500.0] * len(embs))
    with torch.no_grad():
        ShortTextAttn.bias = None
        ref = dit(hidden_states=x, timestep=t, encoder_hidden_states=pad_text(embs, d), return_dict=False)[0]
        ctx, ShortTextAttn.bias = short_text(embs, d, S)
        got = dit(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]
    ShortTextAttn.bias = None
    return (ref - got).abs().max().item()


# ---------------------------------------------------------------- VAE

def decode_train(vae, z):
    """AutoencoderKLWan._decode without the final clamp (so the loss has gradients
    everywhere): post_quant_conv, then the causal decoder one latent frame at a time."""
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    outs = []
    for i in range(z.shape[2]):
        vae._conv_idx = [0]
        outs.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx))
    vae.clear_cache()
    return torch.cat(outs, 2)


def clips_batch(rng, combos, n, T, crop=None):
    """n random clips -> (frames [n, 3, T, H, W] in [-1, 1], latents [n, 16, F, h, w]);
    with crop, a random crop x crop window on the 8-pixel grid of each 64x64 clip
    (the latent is local, so the latent window is the frame window's latent)."""
    xs, zs = [], []
    for _ in range(n):
        c = combos[rng.integers(len(combos))]
        clip, z = data.clip_and_latent(rng, c, T=T)
        x = clip.transpose(3, 0, 1, 2) * 2 - 1
        if crop:
            oy, ox = rng.integers(0, (64 - crop) // 8 + 1, size=2)
            x = x[:, :, 8 * oy:8 * oy + crop, 8 * ox:8 * ox + crop]
            z = z[:, :, oy:oy + crop // 8, ox:ox + crop // 8]
        xs.append(x)
        zs.append(z)
    return torch.from_numpy(np.ascontiguousarray(np.stack(xs))), torch.from_numpy(np.ascontiguousarray(np.stack(zs)))


def lr_at(step, total, peak, warm=50):
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_decoder(vae, rng, combos, steps, batch, export, frames=17, crop=32, warm=10, lr=3e-4, fg_weight=1.0):
    """fg_weight > 1 weighs the pixels that differ from the background (the clip's
    corner, which no path reaches) more: the shape is a tenth of the frame, and the
    static latent's decoder has to learn where it goes in each frame."""
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    vae.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warm)
        x, z = clips_batch(rng, combos, batch, frames, crop)
        # the DiT's latents are never exactly on the design: decode noisy ones too
        z = z + 0.05 * torch.from_numpy(rng.standard_normal(z.shape).astype(np.float32))
        y = decode_train(vae, z)
        shape = ((x - x[..., :1, :1]).abs().amax(dim=1, keepdim=True) > 0.1).float()
        w = 1 + (fg_weight - 1) * shape                       # 1 everywhere when fg_weight is 1
        loss = ((w * (y - x) ** 2).mean() + 0.5 * (w * (y - x).abs()).mean()) / w.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 20 == 0 or step == steps - 1:
            log("vae-dec step %d/%d loss %.5f" % (step, steps, loss.item()))
        export(step, steps)


def train_encoder(vae, rng, combos, steps, batch, export):
    params = list(vae.encoder.parameters()) + list(vae.quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.0)
    vae.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, 2e-3)
        x, z = clips_batch(rng, combos, batch, 17 if data.LATENT == "static" else 9)
        h = vae._encode(x)                                     # [B, 32, F, h, w]: mean, logvar
        mu, logvar = h[:, :16], h[:, 16:]
        loss = F.mse_loss(mu, z) + 0.01 * F.mse_loss(logvar, torch.full_like(logvar, -8.0))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 20 == 0 or step == steps - 1:
            log("vae-enc step %d/%d loss %.5f" % (step, steps, loss.item()))
        export(step, steps)


# ---------------------------------------------------------------- DiT

def shifted_sigmas(u, shift):
    return shift * u / (1 + (shift - 1) * u)


def train_dit(dit, rng, combos, text, uncond, steps, batch, shift, pool_size, export, warm=100, lr=1e-3, fg_weight=1.0,
              band=(0.0, 1.0), static=0.0):
    """fg_weight > 1 weighs the shape's cells more. It speeds up learning the shape's
    colour but biases the optimum towards it where the model is unsure (scattered
    shape-coloured cells), so a run that uses it must end with fg_weight 1.
    band = (lo, hi): the sigmas of the unshifted half of the batch are drawn uniform in
    [lo, hi] instead of [0, 1]. The direction of motion is decided at middle noise
    levels: near s = 1 the transformer cannot tell where the shape will be (its only
    position signal is relative, through RoPE), and near s = 0 the latent shows the
    motion already; a band there spends the steps where the caption's direction matters."""
    # a pool of designed latents of 17-frame clips, drawn once
    t0 = time.time()
    pool_z, pool_c, pool_w = [], [], []
    for i in range(pool_size):
        c = combos[rng.integers(len(combos))]
        _, z = data.clip_and_latent(rng, c, T=17)
        # the shape's cells: those that differ from the plain background's latent
        if data.LATENT == "static":
            fgm = (z[data.ST_COVER:data.ST_COVER + 1] > -0.95).astype(np.float32)
        else:
            bgz = data.design_latent(np.broadcast_to(np.array(data.COLOURS[c[3]], np.float32), (17, 64, 64, 3)))
            fgm = (np.abs(z - bgz).max(axis=0, keepdims=True) > 0.05).astype(np.float32)
        pool_z.append(z)
        pool_w.append(fgm)
        pool_c.append(data.caption(*c))
    pool_z = torch.from_numpy(np.stack(pool_z))
    pool_w = torch.from_numpy(np.stack(pool_w))
    log("dit: %d training clips rendered in %.0fs" % (pool_size, time.time() - t0))
    d = TRANSFORMER["text_dim"]
    S = max(e.shape[0] for e in text.values()) + 1
    for blk in dit.blocks:
        blk.attn2.set_processor(ShortTextAttn())
    err = check_short_text(dit, [text[pool_c[0]], uncond], d, S)
    log("dit: short text (%d tokens) vs 512 padded: max |diff| %.2e" % (S, err))
    if err > 1e-4:
        raise SystemExit("short-text attention differs from the padded one")
    opt = torch.optim.AdamW(dit.parameters(), lr=lr, weight_decay=0.01)
    ema = copy.deepcopy(dit).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    dit.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warm)
        idx = rng.integers(pool_size, size=batch)
        x0 = pool_z[idx]
        embs = [uncond if rng.random() < 0.1 else text[pool_c[i]] for i in idx]
        ctx, ShortTextAttn.bias = short_text(embs, d, S)
        u = rng.random(batch)
        # half the batch on the scheduler's shifted sigmas, half uniform in the band
        s = np.where(np.arange(batch) % 2 == 0, shifted_sigmas(u, shift), band[0] + (band[1] - band[0]) * u)
        s = torch.from_numpy(s.astype(np.float32))
        eps = torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))
        sb = s.view(-1, 1, 1, 1, 1)
        target = eps - x0
        if static > 0:
            # only where the noise hides the content (s >= 0.3): below, the target's
            # (x0' - x0) / s would dwarf the rest
            frozen = torch.from_numpy(((rng.random(batch) < static) & (s.numpy() >= 0.3)).astype(np.float32))
            frozen = frozen.view(-1, 1, 1, 1, 1)
            a = torch.from_numpy(rng.random(batch).astype(np.float32)).view(-1, 1, 1, 1, 1)
            a = 1 - frozen * (1 - a)                      # 1 for the items left as they are
            x0_in = a * x0 + (1 - a) * x0.mean(dim=2, keepdim=True)
            xt = (1 - sb) * x0_in + sb * eps
            target = (xt - x0) / sb.clamp(min=1e-3)
        else:
            xt = (1 - sb) * x0 + sb * eps
        v = dit(hidden_states=xt, timestep=s * 1000, encoder_hidden_states=ctx, return_dict=False)[0]
        if fg_weight > 1:
            w = 1 + (fg_weight - 1) * pool_w[idx]
            loss = (w * (v - target) ** 2).mean() / w.mean()
        else:
            loss = F.mse_loss(v, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(dit.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            k = min(0.995, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), dit.parameters()):
                pe.mul_(k).add_(pm, alpha=1 - k)
        if step % 25 == 0 or step == steps - 1:
            log("dit step %d/%d loss %.5f" % (step, steps, loss.item()))
        export(step, steps, ema)
    return ema


# ---------------------------------------------------------------- export

def write_component(module, cfg, path, fn):
    """config.json + safetensors; matrices (>= 4096 values, >= 2-D) in bf16 as real
    checkpoints store them, the rest in f32."""
    from safetensors.torch import save_file
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    sd = {}
    for k, v in module.state_dict().items():
        v = v.detach().float().contiguous()
        if v.dim() >= 2 and v.numel() >= 4096:
            v = v.to(torch.bfloat16)
        sd[k] = v
    save_file(sd, os.path.join(path, fn))


def export_component(out, name, module, cfg):
    """Writes out/<name>/ (replacing it whole), and the parts the demo model shares with
    models/tiny-wan (model_index.json, scheduler, text encoder, tokenizer) if missing."""
    src = os.path.join(ROOT, "models", "tiny-wan")
    os.makedirs(out, exist_ok=True)
    for rel in ("model_index.json", "scheduler", "text_encoder", "tokenizer"):
        s, d = os.path.join(src, rel), os.path.join(out, rel)
        if not os.path.exists(d):
            (shutil.copytree if os.path.isdir(s) else shutil.copyfile)(s, d)
    tmp = os.path.join(out, name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_component(module, cfg, tmp, "diffusion_pytorch_model.safetensors")
    shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    os.rename(tmp, os.path.join(out, name))


def load_component(module, folder):
    from safetensors.torch import load_file
    sd = {k: v.float() for k, v in load_file(os.path.join(folder, "diffusion_pytorch_model.safetensors")).items()}
    own = module.state_dict()
    if "patch_embedding.weight" in sd and sd["patch_embedding.weight"].shape != own["patch_embedding.weight"].shape:
        sd = repatch(sd, own["patch_embedding.weight"].shape)
    module.load_state_dict(sd)


def repatch(sd, shape):
    """A transformer's weights for patch 1x2x2 as weights for patch 1x1x1: a token of
    one latent cell embeds as the old one did a 2x2 patch of four equal cells (sum of
    the kernel), and predicts the mean of the old 2x2 outputs. The blocks are kept;
    their positions now count cells instead of 2x2 patches."""
    w = sd["patch_embedding.weight"]                  # [D, C, 1, 2, 2]
    if tuple(w.shape[2:]) != (1, 2, 2) or tuple(shape[2:]) != (1, 1, 1):
        raise SystemExit("repatch: only 1x2x2 -> 1x1x1, not %s -> %s" % (tuple(w.shape), tuple(shape)))
    sd = dict(sd)
    sd["patch_embedding.weight"] = w.sum(dim=(3, 4), keepdim=True)
    C = w.shape[1]
    po, pb = sd["proj_out.weight"], sd["proj_out.bias"]  # [4 C, D], [4 C]: (ph, pw, c), c fastest
    sd["proj_out.weight"] = po.view(4, C, -1).mean(dim=0)
    sd["proj_out.bias"] = pb.view(4, C).mean(dim=0)
    log("transformer: patch 1x2x2 weights re-cut for patch 1x1x1")
    return sd


def main():
    global T0
    T0 = time.time()
    ap = argparse.ArgumentParser(description="train models/demo-wan")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "demo-wan"))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--stages", default="vae-dec,dit,vae-enc",
                    help="comma-separated, in order: vae-dec, dit, vae-enc")
    ap.add_argument("--init", help="a model folder whose vae/ (and transformer/) to start from")
    ap.add_argument("--dit-init", help="a transformer folder to continue training from")
    ap.add_argument("--vae-steps", type=int, default=1200)
    ap.add_argument("--vae-batch", type=int, default=4)
    ap.add_argument("--vae-frames", type=int, default=17)
    ap.add_argument("--vae-crop", type=int, default=0,
                    help="train the decoder on crops on the 8-pixel grid (0: whole 64x64 frames; the static "
                         "latent's shape moves across a crop's edge, so it needs whole frames)")
    ap.add_argument("--dit-steps", type=int, default=1500)
    ap.add_argument("--dit-batch", type=int, default=16)
    ap.add_argument("--dit-pool", type=int, default=6000)
    ap.add_argument("--dit-lr", type=float, default=1e-3)
    ap.add_argument("--dit-fg-weight", type=float, default=1.0)
    ap.add_argument("--dit-path", default="middle", choices=["middle", "anywhere"],
                    help="where the clips' paths lie (data.PATH)")
    ap.add_argument("--dit-band", default="0,1",
                    help="lo,hi: the unshifted half of each batch draws its sigmas uniform in [lo, hi]")
    ap.add_argument("--dit-patch", type=int, default=2, choices=[1, 2],
                    help="spatial patch of the transformer: 2 (2x2 latent cells a token) or 1 (one cell)")
    ap.add_argument("--dit-static", type=float, default=0.0,
                    help="fraction of each batch noised from a clip partly frozen in time (see train_dit)")
    ap.add_argument("--latent", default="static", choices=["moving", "static"],
                    help="the designed latent layout (data.LATENT): moving (each latent frame its own frames) "
                         "or static (every latent frame the mid frame's layout and the direction; "
                         "the decoder draws the motion)")
    ap.add_argument("--vae-lr", type=float, default=1e-4)
    ap.add_argument("--vae-fg-weight", type=float, default=3.0, help="weight of the shape's pixels in the decoder's loss")
    ap.add_argument("--enc-steps", type=int, default=150)
    ap.add_argument("--export-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    global TRANSFORMER
    TRANSFORMER = dict(TRANSFORMER, patch_size=[1, a.dit_patch, a.dit_patch])
    stages = a.stages.split(",")
    data.LATENT = a.latent

    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    cfg = lambda c: {k: v for k, v in c.items() if not k.startswith("_")}  # noqa: E731
    torch.manual_seed(a.seed)
    vae = AutoencoderKLWan(**cfg(VAE))
    dit = WanTransformer3DModel(**cfg(TRANSFORMER))
    if a.init:
        load_component(vae, os.path.join(a.init, "vae"))
        with_dit = "dit" not in stages and os.path.isdir(os.path.join(a.init, "transformer"))
        if with_dit:
            load_component(dit, os.path.join(a.init, "transformer"))
        log("vae%s from %s" % (" and transformer" if with_dit else "", a.init))
    if a.dit_init:
        load_component(dit, a.dit_init)
        log("transformer from %s" % a.dit_init)
    log("dit %d params, vae %d params" % (sum(p.numel() for p in dit.parameters()),
                                          sum(p.numel() for p in vae.parameters())))
    combos = data.training_combos()

    def exporter(name, module, cfg_):
        def ex(step, steps, current=None):
            if (step + 1) % a.export_every == 0 or step == steps - 1:
                export_component(a.out, name, current if current is not None else module, cfg_)
                log("exported %s/%s after step %d" % (a.out, name, step + 1))
        return ex

    # each stage draws from its own stream, so a stage run alone sees the same data
    rng = lambda k: np.random.default_rng([a.seed, k])  # noqa: E731
    for st in stages:
        if st == "vae-dec":
            if not a.init:
                (vae_design.init_decoder_static if a.latent == "static" else vae_design.init_decoder)(vae)
                log("vae decoder: designed start (draws the %s latent in 8x8 blocks)" % a.latent)
            train_decoder(vae, rng(1), combos, a.vae_steps, a.vae_batch, exporter("vae", vae, VAE),
                          a.vae_frames, a.vae_crop, lr=a.vae_lr, fg_weight=a.vae_fg_weight)
        elif st == "dit":
            data.PATH = a.dit_path
            src = os.path.join(ROOT, "models", "tiny-wan")
            caps = [data.caption(*c) for c in data.all_combos()] + [""]
            text = text_embeddings(os.path.join(src, "text_encoder"), os.path.join(src, "tokenizer"), caps)
            log("text: %d captions encoded; '%s' -> ids %s" % (len(caps), caps[0], text[caps[0]][1]))
            text = {k: v[0] for k, v in text.items()}
            train_dit(dit, rng(2), combos, text, text[""], a.dit_steps, a.dit_batch, 3.0, a.dit_pool,
                      exporter("transformer", dit, TRANSFORMER), 20 if a.dit_init else 100, a.dit_lr, a.dit_fg_weight,
                      tuple(float(v) for v in a.dit_band.split(",")), a.dit_static)
        elif st == "vae-enc":
            train_encoder(vae, rng(3), combos, a.enc_steps, a.vae_batch, exporter("vae", vae, VAE))
        else:
            raise SystemExit("unknown stage " + st)
    log("done")


if __name__ == "__main__":
    main()
