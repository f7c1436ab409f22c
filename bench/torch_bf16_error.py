"""The reference's own error in bf16: diffusers' transformer of a golden set run as a
bf16 model (weights and activations in bf16, as `torch_dtype=torch.bfloat16` runs it)
against the set's float32 reference output. vgen's bf16 runs are held to the same
kind of figure (the golden runner's "[bf16 ...]" checks print theirs).

usage: tools/.venv/bin/python bench/torch_bf16_error.py [set_dir ...]
       (default: tests/data/golden/{wan_dit,wan_i2v_dit,wan22_ti2v_dit,cogvideox_dit})
Tooling only (tools/setup-venv.sh installs torch and diffusers)."""
import json
import sys

import diffusers
import torch
from safetensors.torch import load_file


def arg_of(io, spec, dtype):
    name = spec.split(" ")[0]          # "in.timestep (float32 [B, seq_len])" -> "in.timestep"
    t = io[name]
    return t.to(dtype) if t.is_floating_point() and name != "in.timestep" else t


def run_set(d):
    cfg = json.load(open(f"{d}/config.json"))
    cls = getattr(diffusers, cfg["model_class"].split(".")[-1])
    model = cls(**cfg["constructor_kwargs"])
    missing, unexpected = model.load_state_dict(load_file(f"{d}/weights.safetensors"), strict=False)
    if missing or unexpected:
        raise SystemExit(f"{d}: weights do not match the model: missing {missing}, unexpected {unexpected}")
    io = load_file(f"{d}/io.safetensors")
    ref = io["out.sample"].double()
    errs = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        model = model.to(dtype)
        # as from_pretrained(torch_dtype=torch.bfloat16) loads it: the modules the model
        # names to keep in float32 (newer diffusers: Wan's norms, time embedder, tables)
        keep = getattr(model, "_keep_in_fp32_modules", None) or []
        for mod_name, mod in model.named_modules():
            if dtype != torch.float32 and any(k in mod_name.split(".") for k in keep):
                mod.float()
        if dtype != torch.float32 and "scale_shift_table" in keep:
            for pn, prm in model.named_parameters():
                if pn.split(".")[-1] == "scale_shift_table":
                    prm.data = prm.data.float()
        kw = {k: (arg_of(io, v, dtype) if isinstance(v, str) and v.startswith("in.") else v)
              for k, v in cfg["call_kwargs"].items()}
        with torch.no_grad():
            out = model(**kw)[0].double()
        errs[name] = ((out - ref).abs().max() / ref.abs().max()).item()
    print(f"{cfg['set']:16s} diffusers {diffusers.__version__}, torch {torch.__version__}: max|err| / max|ref| "
          f"float32 {errs['float32']:.3g}, bfloat16 {errs['bfloat16']:.3g}")


for d in sys.argv[1:] or [f"tests/data/golden/{s}" for s in ("wan_dit", "wan_i2v_dit", "wan22_ti2v_dit", "cogvideox_dit")]:
    run_set(d)
