#!/usr/bin/env bash
# vgen generate and vgen plan with a two-expert model (Wan2.2 A14B layout): the
# golden two-expert folder with the demo model's tokenizer beside it.
#   bash test_moe.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
GOLDEN=$(cd "$2" && pwd)
SRC=$(cd "$3" && pwd)
. "$(dirname "$0")/check.bash"
tmp=$(mktemp -d /tmp/vg_test_moe.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2

M=$tmp/a14b
mkdir "$M"
for c in model_index.json transformer transformer_2 vae text_encoder scheduler; do ln -s "$GOLDEN/wan22_moe_pipeline/$c" "$M/$c"; done
ln -s "$SRC/models/tiny-wan/tokenizer" "$M/tokenizer"

gen() { "$VGEN" generate --model "$M" --prompt "a red fox runs through fresh snow" --height 32 --width 48 \
        --num-frames 5 --steps 4 --max-sequence-length 16 --guidance-scale 4 --quiet "$@"; }
frames() { [ -s "$1" ] && ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | md5sum | cut -d' ' -f1 || echo "no $1"; }

# 1. a run; the sidecar records the second scale and the boundary
gen --guidance-scale-2 3 --output "$tmp/a.mp4"
check "generate exits 0" "[ $? -eq 0 ]"
check "sidecar: guidance_scale_2 and boundary_ratio" "python3 -c \"
import json; d=json.load(open('$tmp/a.mp4.json'))
assert d['guidance_scale']==4 and d['guidance_scale_2']==3 and d['boundary_ratio']==0.875
assert all(0<p['peak_bytes']<=p['planned_bytes'] for p in d['phases'])
\""

# 2. the low-noise expert's scale changes the video; the sidecar repeats the run
gen --guidance-scale-2 1 --output "$tmp/b.mp4"
check "guidance-scale-2 is used" "[ \"$(frames "$tmp/a.mp4")\" != \"$(frames "$tmp/b.mp4")\" ]"
"$VGEN" generate --from-sidecar "$tmp/a.mp4.json" --quiet --output "$tmp/c.mp4"
check "from-sidecar repeats the run" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/c.mp4")\" ]"

# 3. the experts from single files: the folder's own files give the same video, the
#    experts swapped another one
gen --guidance-scale-2 3 --transformer-2 "$M/transformer_2/diffusion_pytorch_model.safetensors" --output "$tmp/d.mp4"
check "--transformer-2 file, same expert: same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/d.mp4")\" ]"
gen --guidance-scale-2 3 --transformer-2 "$M/transformer/diffusion_pytorch_model.safetensors" --output "$tmp/e.mp4"
check "--transformer-2 file, other weights: other frames" "[ \"$(frames "$tmp/a.mp4")\" != \"$(frames "$tmp/e.mp4")\" ]"

# 4. the same run streamed on the strict simulated device
gen --guidance-scale-2 3 --device sim:64MiB --offload block --output "$tmp/f.mp4"
check "sim block run: same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/f.mp4")\" ]"

# 5. bad values refused before any work
o=$(gen --guidance-scale-2 -1 --output "$tmp/x.mp4" 2>&1; echo "rc=$?")
check "guidance-scale-2 range" "grep -q 'guidance-scale-2' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(gen --transformer-2 "$tmp/none.safetensors" --output "$tmp/x.mp4" 2>&1; echo "rc=$?")
check "missing --transformer-2 file named" "grep -q 'none.safetensors' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""

# 6. plan: the folder and the configs alone say two experts and plan one at a time
o=$("$VGEN" plan --model "$M" --height 32 --width 48 --num-frames 5 --max-sequence-length 16 2>&1; echo "rc=$?")
check "plan --model: two experts" "grep -q 'two experts' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""
C=$SRC/models/configs/wan2.2-t2v-a14b
if [ -d "$C" ]; then
    o=$("$VGEN" plan --config "$C/transformer/config.json" --vram-budget 24GiB 2>&1; echo "rc=$?")
    check "plan --config A14B: two experts, fits 24GiB" "grep -q 'two experts' <<<\"\$o\" && grep -q '^chosen' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""
    o1=$("$VGEN" plan --config "$C/transformer/config.json" --vram-budget 8GiB --offload block 2>&1 | grep -E '^  block')
    o2=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-14b/transformer/config.json" --vram-budget 8GiB --offload block 2>&1 | grep -E '^  block')
    check "A14B plans like 14B (block)" "[ -n \"\$o1\" ] && [ \"\$o1\" = \"\$o2\" ]"
fi

finish
