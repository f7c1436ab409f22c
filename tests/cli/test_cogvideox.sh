#!/usr/bin/env bash
# vgen generate and vgen plan on CogVideoX folders through the real binary:
#   bash test_cogvideox.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
SRC=$3
MODEL=$SRC/models/tiny-cogvideox
. "$(dirname "$0")/check.bash"
tmp=$(mktemp -d /tmp/vg_test_cogvideox.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2

gen() { "$VGEN" generate --model "$MODEL" --prompt "a red fox running through fresh snow" --height 32 --width 48 \
        --num-frames 9 --steps 2 --quiet "$@"; }
probe() { ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=width,height,avg_frame_rate,nb_read_frames -of default=nw=1 "$1"; }
frames() { ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | md5sum | cut -d' ' -f1; }

# 1. model_index.json picks the family; what the request leaves unset is the model card's
gen --seed 3 --output "$tmp/a.mp4"
check "generate exits 0" "[ $? -eq 0 ]"
p=$(probe "$tmp/a.mp4" 2>&1)
check "9 frames 48x32 at CogVideoX's 8 fps" "grep -qx nb_read_frames=9 <<<\"\$p\" && grep -qx width=48 <<<\"\$p\" && grep -qx height=32 <<<\"\$p\" && grep -qx avg_frame_rate=8/1 <<<\"\$p\""
check "sidecar: the folder's DDIM, guidance 6, the transformer's 7 text tokens" "python3 -c \"
import json; d=json.load(open('$tmp/a.mp4.json'))
assert d['scheduler']=='cogvideox_ddim' and d['guidance_scale']==6.0 and d['max_sequence_length']==7 and d['fps']==8.0
assert d['steps']==2 and d['num_frames']==9 and d['seed']=='3'
\""

# 2. the sidecar repeats the run; the strict simulated device streaming leaves gives the same frames
"$VGEN" generate --from-sidecar "$tmp/a.mp4.json" --output "$tmp/b.mp4" --quiet
check "--from-sidecar: the same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/b.mp4")\" ]"
gen --seed 3 --device sim:64MiB --offload leaf --output "$tmp/c.mp4"
check "sim, leaf streaming: the same frames" "[ $? -eq 0 ] && [ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/c.mp4")\" ]"

# 3. requests the family cannot run: refused before any work, one message, exit 1
o=$(gen --num-frames 13 --output "$tmp/d.mp4" 2>&1; echo "rc=$?")
check "13 frames refused (8k+1)" "grep -q '8 k + 1' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\" && [ ! -e \"$tmp/d.mp4\" ]"
o=$(gen --scheduler unipc --output "$tmp/e.mp4" 2>&1; echo "rc=$?")
check "UniPC refused" "grep -q 'own scheduler' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
mkdir -p "$tmp/bad"
for c in scheduler text_encoder tokenizer transformer vae; do ln -s "$(readlink -f "$MODEL/$c")" "$tmp/bad/$c"; done
sed 's/AutoencoderKLCogVideoX/AutoencoderKLWan/' "$MODEL/model_index.json" > "$tmp/bad/model_index.json"
o=$("$VGEN" generate --model "$tmp/bad" --prompt x --output "$tmp/f.mp4" 2>&1; echo "rc=$?")
check "a Wan VAE in a CogVideoX folder: named in the message" "grep -q 'model_index.json: vae class' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""

# 4. vgen plan from configs alone agrees with docs/memory.md (CogVideoX-5b at the model card's setting)
for b in 24GiB 8GiB; do
    line=$("$VGEN" plan --config "$SRC/models/configs/cogvideox-5b/transformer/config.json" --vram-budget $b --threads 4 \
           2>/dev/null | grep '^chosen' | tail -1)
    check "plan CogVideoX-5b fits $b" "[ -n \"\$line\" ]"
    check "plan CogVideoX-5b $b matches docs/memory.md" "grep -qF \"| CogVideoX-5b | $b | off | \$line |\" \"$SRC/docs/memory.md\""
done
mkdir -p "$tmp/cfg/transformer"
cp "$SRC/models/configs/cogvideox-5b/transformer/config.json" "$tmp/cfg/transformer/"
o=$("$VGEN" plan --config "$tmp/cfg/transformer/config.json" 2>&1; echo "rc=$?")
check "plan --config without a VAE config: says so" "grep -q 'give --vae-config' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
sed '0,/{/s//{"patch_size_t": 2,/' "$SRC/models/configs/cogvideox-5b/transformer/config.json" > "$tmp/cfg/transformer/config.json"
o=$("$VGEN" plan --config "$tmp/cfg/transformer/config.json" --vae-config "$SRC/models/configs/cogvideox-5b/vae/config.json" 2>&1; echo "rc=$?")
check "plan --config: CogVideoX 1.5 (patch_size_t) refused, naming the key" "grep -q 'patch_size_t' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
o=$("$VGEN" plan --model "$MODEL" --height 32 --width 48 --num-frames 9 --vram-budget 16MiB 2>&1; echo "rc=$?")
check "plan from a CogVideoX folder" "grep -q '^CogVideoX DiT' <<<\"\$o\" && grep -q '^chosen' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""

finish
