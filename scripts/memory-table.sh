#!/usr/bin/env bash
# Regenerates docs/memory.md from `vgen plan` (run from the repository root after `make`):
#   scripts/memory-table.sh > docs/memory.md
set -euo pipefail
VGEN=${VGEN:-./build/vgen}
plan() { "$VGEN" plan --config models/configs/wan2.1-t2v-$1/transformer/config.json --height $2 --width $3 \
    --num-frames 81 --vram-budget $4 --threads 4 $5; }
cogplan() { "$VGEN" plan --config models/configs/cogvideox-$1/transformer/config.json --vram-budget $2 --threads 4 $3; }
cat <<'EOF'
# Memory: budgets, offload policies and the planner

vgen's promise is that you state a memory budget and the run fits it. Before any work, the
planner predicts the peak device memory of each phase of a text-to-video run for every way
of placing the weights, picks the fastest plan that fits, and refuses to start (with what
would fit instead) if none does. During the run every device allocation goes through one
budgeted pool, so a wrong prediction is an error naming the phase, the requester and the
bytes — never a silent spill.

## Phases

| phase | what runs | what is on the device |
|---|---|---|
| `text_encode` | the text encoder (UMT5 for Wan2.1, T5 v1.1 for CogVideoX) encodes the prompt and the negative prompt | text encoder weights (unless on the CPU), its activations, the two embeddings |
| `denoise` | the DiT runs twice per step for guidance, or once on both as a batch of two (`--cfg-batch`); the scheduler steps | transformer weights (resident or streamed), activations, latents, two noise predictions, the embeddings |
| `decode` | the VAE decodes one latent frame at a time (Wan2.1; CogVideoX: its frame batches) with causal caches, optionally in spatial tiles | VAE decoder weights, its activations, the latents; the decoded video goes to the host piece by piece as it is decoded (Wan: each chunk of frames, or each tile's crop of it; CogVideoX: the whole video once decoded), so it is not on the device |

## Offload policies (`--offload`)

| policy | weights on the device | speed |
|---|---|---|
| `none` | every component, for the whole run | fastest |
| `model` | only the component of the current phase | uploads each component once |
| `block` | transformer: embeddings/head resident, blocks streamed through two device slots; block i+1 is copied while block i computes. Text encoder: its embedding and final norm resident, its layers streamed the same way | copies hide behind compute when a block's FLOPs per byte are high (video DiTs: thousands) |
| `leaf` | transformer: norms, biases and tables resident, every weight matrix streamed through two slots, fetched inside the matmul, next matrix prefetched. Text encoder: as under `block` | lowest memory, most copies |
| `auto` (default) | the first of none, model, block, leaf that fits; then model, block, leaf with the text encoder on the CPU; at each, the guidance passes batched, then one after the other | |

**VAE tiling** is part of the plan too: `--vae-tiling` forces a tiled decode; without it, a
run whose decode does not fit untiled turns tiling on by itself (the sidecar's `vae_tiling`
says so), and `vgen plan` prints that choice as `chosen, with VAE tiling`.

**Text encoder placement** (`--text-encoder auto|device|cpu` in `vgen plan`, `text_encoder` in
`vg_t2v_params`): UMT5-XXL alone is 10.6 GiB in bf16. Under `none` and `model` it is on the
device whole while it encodes; under `block` and `leaf` only its embedding (2.0 GiB for
UMT5's 256k tokens, 0.25 GiB for T5 v1.1) and final norm are, and its 24 layers stream
through two slots of the largest layer (368 MiB), the next layer copied while one computes:
the text phase of Wan2.1 then peaks at 2.87 GiB instead of 10.77 GiB, so the prompts are
encoded on the GPU within budgets where they used to go to the CPU (8 GiB below).
On the CPU it computes from its memory-mapped weights and only the prompt embeddings reach
the device; `auto` does this only when no device plan fits.

**Guidance passes** (`--cfg-batch auto|on|off` in `vgen generate` and `vgen plan`,
`cfg_batch` in `vg_t2v_params`): with classifier-free guidance each step runs the transformer
on the prompt and on the negative prompt. `off` runs the two passes one after the other, as
diffusers' Wan pipeline does; `on` runs them as one batch of two, as diffusers' CogVideoX
pipeline does. The batch reads each weight once per step instead of twice: under `block`
and `leaf` the streamed weights cross to the device once per step, not twice
(`tests/pipeline/test_offload.c` counts the bytes), and each matmul has twice the rows. It
costs the denoise activations, inputs and noise predictions of two samples at once. `auto`
(the default) tries the batch first at each policy and falls back to two passes *at the same
policy* before it gives up any residency, so a run never streams more weights to afford the
batch. The frames do not depend on it: on the CPU they are bit for bit the same (the offload
test and the golden runner run both ways). `vgen plan` lists both ways per policy (column
`guidance`: `batch` or `2 passes`); the sidecar's `cfg_batched` says which one ran.

**Activations in bf16** (`--activations f32|bf16` in `vgen generate` and `vgen plan`,
`activations` in `vg_t2v_params` and in a worker's request): the transformer stores its
token stream (hidden states, norms, q/k/v, attention outputs, FFN hidden chunks) in bf16
instead of f32. Every op still computes in f32: it reads each bf16 input exactly and rounds
its output once when it stores it (nearest even), so the only new error is that rounding,
at most 2^-8 (0.4%) relative per stored value. The modulation vectors, the positional
tables and the time embedding stay f32 (diffusers computes the modulation in float32), as
do the text encoder, the VAE, the latents and the scheduler. The planner measures the
forward with the same setting, so plans stay exact. Measured:

- **Error** against the f32 reference (the golden runner, `[bf16 activations]` checks): the
  Wan2.1 transformer's output 0.59% of its largest value, every saved intermediate within
  3% (`VG_GOLDEN_BF16_ACT_REL`); the whole tiny Wan pipeline, 3 steps at guidance 5:
  1.0 to 1.6% on the guided predictions and 3.6% on the decoded video, whose frames have a PSNR of
  41.9 dB against the f32 frames (`tests/cli/test_generate.sh` asserts above 35 dB); the
  tiny CogVideoX pipeline at guidance 6: 8.4% on the video (these tiny random models are
  far less smooth than trained ones, so their errors grow faster from step to step).
  CogVideoX's transformer: 0.64 to 0.81% on its output. diffusers running the same
  transformers as bf16 models is 0.61 to 0.86% off (`bench/torch_bf16_error.py`,
  docs/performance.md).
- **Memory**: the denoise phase's activation peak is about 0.6 of f32's
  (`bench/bench_activations`: 54.67 MiB instead of 91.44 MiB for 2 blocks at 1.3B shapes on
  1560 tokens); what stays f32 and each op's working memory keep it above one half. At
  480x832x81 (`vgen plan --config ...`, CPU op scratch), the denoise phase:

  | model | policy, guidance | f32 | bf16 |
  |---|---|---|---|
  | Wan2.1-1.3B | block, 2 passes | 1.28 GiB | 827.86 MiB |
  | Wan2.1-1.3B | leaf, batch | 2.06 GiB | 1.12 GiB |
  | Wan2.1-14B | block, 2 passes | 4.99 GiB | 3.43 GiB |
  | Wan2.1-14B | block, batch | 8.14 GiB | 5.00 GiB |
  | Wan2.1-14B | leaf, 2 passes | 3.85 GiB | 2.28 GiB |

  On the CUDA backend's op table (`--device cuda-plan:sm_89`) every figure is within 4 MiB
  of these (its bf16 kernels are listed in docs/cuda.md). Within 8 GiB the 14B's plan
  changes from block streaming with two passes per step to block streaming with the passes
  batched, which halves the weight copies per step (`tests/cli/test_cuda_plan.sh`).
- **Kernels**: an op reads and writes each activation operand in its own dtype (f32 and bf16
  may be mixed). The CPU has bf16 kernels for the transformer's ops (linear, layer and RMS
  norm, RoPE, attention, the elementwise ops), the CUDA backend for those and the VAE's
  (docs/cuda.md); any other op with a bf16 operand is *widened* by `vg_dispatch`: the bf16 inputs copied to f32, the f32 op, the
  output rounded back, with the copies counted under `<op>.widen` (docs/internals.md).

On the `cpu` device, compute reads weights where they are mapped, so weights cost nothing
in the pool and only activations count. On `sim:<budget>` (a simulated accelerator: a
budgeted pool in host memory with real copies) weights must be uploaded before use, exactly
as on a GPU, so every policy runs and is measured on machines without one. The tables below
measure the CPU kernels' op scratch; `vgen plan --device cuda-plan[:sm_XY]` (CUDA builds,
no GPU needed) measures the CUDA backend's instead (docs/cuda.md).

**The budget a run is planned against** (`vg_run_budget`, src/mem/host_mem.c) is the
smaller of `--vram-budget` and the device's capacity: `--device sim:12MiB --vram-budget 1GiB`
plans (and runs) within 12 MiB, and both `generate` and `plan` say so. On `cpu` without a
size, the capacity is the host memory available: `MemAvailable` from `/proc/meminfo`, or
what the address-space limit (`RLIMIT_AS`, `ulimit -v`) leaves above the process, if
smaller. So on a small machine an impossible run is refused before any work, and automatic
VAE tiling turns on when a tiled decode is what fits, instead of the run dying in the
decode phase or at the OOM killer. When nothing fits even tiled, the message describes
the tiled attempt and suggests what would help (lower resolution or frames, a bigger
budget, `--offload leaf` if another policy was asked for).

## How the prediction is made

Peak of a phase = resident weights (by policy) + streaming slots + tensors the pipeline
holds across the phase + the phase's activation peak. The activation peak is not estimated:
the planner runs each component's own forward code (text encoder, transformer, VAE decode) at
the requested sizes on a *measuring* backend that stands for the device. It allocates address
space but no memory, computes nothing, and takes each op's scratch exactly as the device's
backend would (`op_scratch_bytes` of its vtable), so the measured peak is the run's peak by
construction and cannot drift from the code. `vgen plan --config` builds the components from
their configs over virtual weights of the stated dtype; weight sizes come from the residency
code's own size functions. Measuring a 14B 720p plan takes a fraction of a second.
`tests/pipeline/test_offload.c` (and `test_offload_cogvideox.c` for CogVideoX)
runs the demo model and the golden pipeline under every policy on `sim:` with a budget just
above the plan and asserts, per phase, measured <= planned <= budget with the plan within
10% of the measurement (it is within a few KiB), and frames bit-identical to the cpu run.

## Wan2.1 at 81 frames, from configs alone

`vgen plan --config` needs no weights (transformer bf16, UMT5-XXL bf16, VAE f32 — as the
releases ship; `models/configs/` holds the published configs). The activation figures are
vgen's own CPU implementation (flash attention scratch per thread, FFN in 4096-token
chunks, VAE per-frame decode, its 3x3 convolutions on oneDNN with up to 32 MiB of blocked
slabs plus blocked weights as scratch); `--threads 4`. The compute dtype changes the matmuls'
scratch (`vgen plan --compute bf16`): in bf16 compute a weight stored in any type but bf16
is converted one whole matrix at a time (up to 142 MB for the 14B's FFN), where f32 compute
converts 4 MiB tiles; plans measure whichever the run uses (docs/weights.md). On the `cpu`
device the pool also keeps released blocks of 16 MiB or more for the next request of the
same size (docs/internals.md, "Memory"); they are not in these figures, and the pool holds
them only within its budget (`cpu:<budget>`) and within twice its peak of live bytes.

EOF
echo '| model | size | budget | VAE tiling | result |'
echo '|---|---|---|---|---|'
for m in 1.3b 14b; do for r in "480 832" "720 1280"; do set -- $r; for b in 24GiB 8GiB; do for t in off on; do
  flag=""; [ $t = on ] && flag=--vae-tiling
  line=$(plan $m $1 $2 $b "$flag" | grep -E '^chosen|^no plan|^no untiled' | tail -1 || true)
  echo "| Wan2.1-$m | $1x$2 | $b | $t | $line |"
done; done; done; done
cat <<'EOF'

## Wan2.2 and image-to-video, from configs alone

The same measurement for the Wan2.2 and image-to-video releases at their default frame
counts (`models/configs/<model>/`; weights bf16, VAE f32, `--threads 4`). A14B has two
experts that take turns: every policy but `none` gives one back before the other comes, so
A14B plans like Wan2.1-14B. Rows say what `vgen plan` chooses (VAE tiling is turned on by
itself where only a tiled decode fits; when nothing fits, the row is the tiled attempt).
The I2V rows include the `image_encode` phase (CLIP, then the VAE encode of the 81-frame
condition video); TI2V rows are text-to-video (`--image` adds a one-frame VAE encode).

EOF
echo '| model | size | frames | budget | result |'
echo '|---|---|---|---|---|'
for row in "wan2.2-t2v-a14b 81" "wan2.2-ti2v-5b 121" "wan2.1-i2v-14b-480p 81"; do set -- $row; m=$1; f=$2
  [ -d models/configs/$m ] || continue
  for r in "480 832" "720 1280"; do set -- $r; h=$1; w=$2
    if [ $m = wan2.2-ti2v-5b ] && [ $h = 720 ]; then h=704; fi
    for b in 24GiB 16GiB 12GiB 8GiB; do
      line=$("$VGEN" plan --config models/configs/$m/transformer/config.json --height $h --width $w --num-frames $f \
             --vram-budget $b --threads 4 | grep -E '^chosen|^no plan|^no untiled|^with VAE tiling' | tail -1 || true)
      echo "| $m | ${h}x$w | $f | $b | $line |"
    done
  done
done
cat <<'EOF'

Command for a row (here: 14B, 480x832, 8 GiB, no tiling):

    vgen plan --config models/configs/wan2.1-t2v-14b/transformer/config.json \
        --height 480 --width 832 --num-frames 81 --vram-budget 8GiB --threads 4

which prints the per-phase peaks of every plan:

EOF
echo '```'
plan 14b 480 832 8GiB ''
echo '```'
cat <<'EOF'

`tests/cli/test_plan.sh` re-runs the 14B 480x832 rows at 24 GiB and 8 GiB and checks that
their `chosen:` lines are the ones in this table. Regenerate this file with
`scripts/memory-table.sh > docs/memory.md` after changing the models or the memory engine.

## CogVideoX 2B and 5B at the model cards' setting, from configs alone

`vgen plan --config models/configs/cogvideox-<2b|5b>/transformer/config.json` takes the
CogVideoX family's defaults: 480x720, 49 frames (13 latent frames, 17550 video tokens), 226
text tokens, guidance 6 (two transformer passes per step, as one batch of two where that fits). Transformer bf16, T5 v1.1 XXL bf16, VAE f32,
`--threads 4`. The VAE decodes in the reference's frame batches (2 latent frames, the
first 3); tiled, in the reference's default tiles (240x360 pixels, overlap 1/6 and 1/5).

EOF
echo '| model | budget | VAE tiling | result |'
echo '|---|---|---|---|'
for m in 2b 5b; do for b in 24GiB 16GiB 8GiB; do for t in off on; do
  flag=""; [ $t = on ] && flag=--vae-tiling
  line=$(cogplan $m $b "$flag" | grep -E '^chosen|^no plan|^no untiled' | tail -1 || true)
  echo "| CogVideoX-$m | $b | $t | $line |"
done; done; done
cat <<'EOF'

The 5B at 8 GiB, every plan (`vgen plan --config models/configs/cogvideox-5b/transformer/config.json
--vram-budget 8GiB --threads 4`):

EOF
echo '```'
cogplan 5b 8GiB ''
echo '```'
cat <<'EOF'

`tests/cli/test_plan_cogvideox.sh` re-runs the 5B rows at 24 GiB and 8 GiB and checks their
`chosen:` lines against this table.

## `vgen mem`

    vgen mem --device sim:24GiB --warn-at 22GiB

prints total, reserved, allocated, peak and free bytes of the device pool, and warns when the
peak passes the danger threshold (default 22/24 of the total, i.e. 22 GiB on a 24 GiB card).
`vgen generate` prints the same summary after a run and stores it in its JSON sidecar
(`memory`), with the planned and measured peak of each phase (`phases`).

## When the budget is passed anyway

An allocation that would pass the budget fails with `VG_ERR_OUT_OF_BUDGET` and a message such
as `transformer.block_slots needs 1.31 GiB on device 'sim:8.00GiB' but only 0.90 GiB of the
8.00 GiB budget is free (7.10 GiB in use, phase 'denoise')`. The run releases everything it
allocated, so a worker can go on to the next job with the pool back at zero.

## Weight formats and limits

- fp8 weights (float8_e4m3fn / e5m2 files, such as ComfyUI's `*_fp8_e4m3fn.safetensors`) load
  and run, converted per tile like bf16; `vgen plan --dtype fp8 --text-dtype fp8` plans them.
  ComfyUI's *scaled* fp8 files and GGUF files (Q2_K..Q8_0) run too, converted per tile;
  `vgen plan --dtype q4_k_m` (or q8_0, q6_k ...) plans the published GGUF mixes and
  docs/weights.md has the table of what fits 8/12/16/24 GiB. bitsandbytes NF4 is not read.
- The figures above are vgen's CPU kernels and their scratch. The CUDA backend is written
  but has not yet run on a GPU (docs/cuda.md); its plans are measured the same way, with
  its own op scratch.
EOF
