#!/usr/bin/env bash
# Careless and hostile input through the real binary, one block per class of
# problem (see docs/cli.md, "Checks and output files"):
#   1. every check before any work      5. special files never block
#   2. memory budgets are real          6. the sidecar repeats the run
#   3. output files whole or not at all 7. NaN / Inf never become a video
#   4. signals
#   bash test_hostile.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
SRC=$3
MODEL=$SRC/models/tiny-wan
. "$(dirname "$0")/check.bash"
tmp=$(mktemp -d /tmp/vg_test_hostile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
T=(--model "$MODEL" --prompt fox --height 32 --width 32 --num-frames 5 --steps 1 --quiet)
run() { timeout 60 "$VGEN" "$@" 2>&1; echo "rc=$?"; }
has() { grep -qF -- "$1" <<<"$o"; }
# a copy of the demo model with links to its weights (cheap), for one broken file
mutant() {
    local d=$tmp/$1
    mkdir -p "$d"
    for c in transformer vae text_encoder tokenizer scheduler; do
        mkdir -p "$d/$c"
        for f in "$(realpath "$MODEL")/$c"/*; do ln -s "$f" "$d/$c/"; done
    done
    cp "$MODEL/model_index.json" "$d/"
    echo "$d"
}

# ---- 1. every check before any work: exit 2, nothing written, no phase ran ----
for out in x.avi noext nodir/sub/x.mp4 'f_%s.png' plainfile/x.mp4; do
    : >"$tmp/plainfile"
    o=$(run generate "${T[@]}" --output "$tmp/$out")
    check "refused before work: --output $out" "has rc=2 && has -- '--output' && ! has phase"
done
o=$(run generate "${T[@]}" --prompt $'\xff\xfe fox' --output "$tmp/u.mp4")
check "non-UTF-8 prompt refused first" "has rc=2 && has 'not valid UTF-8' && [ ! -e '$tmp/u.mp4' ]"
o=$(run generate "${T[@]}" --output "$tmp/vid$(printf '\xe9')o.mp4")
check "non-UTF-8 output name refused first" "has rc=2 && has 'not valid UTF-8'"
o=$(run generate "${T[@]}" --height 16 --width 16 --num-frames 4101 --output "$tmp/rope.mp4")
check "RoPE limit: the largest frame count, before any phase" "has 'at most 4093 frames' && ! has phase && [ ! -e '$tmp/rope.mp4' ]"
o=$(run plan --model "$MODEL" --height 16 --width 16 --num-frames 4101)
check "plan refuses what generate refuses" "has 'at most 4093 frames' && ! has rc=0"
o=$(run plan --config "$MODEL/transformer/config.json" --height 16 --width 16 --num-frames 4101)
check "plan --config refuses it too" "has 'at most 4093 frames' && ! has rc=0"
m=$(mutant mi_vae); sed -i 's/AutoencoderKLWan/AutoencoderKL/' "$m/model_index.json"
o=$(run generate "${T[@]}" --model "$m" --output "$tmp/mi.mp4")
check "model_index: every component class is checked" "has \"vae class 'AutoencoderKL'\" && has rc=1"
m=$(mutant mi_novae); python3 - "$m/model_index.json" <<'PY'
import json, sys; p = sys.argv[1]; d = json.load(open(p)); del d['vae']; json.dump(d, open(p, 'w'))
PY
o=$(run generate "${T[@]}" --model "$m" --output "$tmp/mi.mp4")
check "model_index: a missing component is refused" "has \"'vae' is missing\" && has rc=1"
m=$(mutant nosched); rm "$m/scheduler/scheduler_config.json"
o=$(run plan --model "$m" --height 32 --width 32 --num-frames 5)
check "a missing scheduler config is warned about" "has 'no scheduler/scheduler_config.json'"

# ---- 2. memory budgets are real ----
o=$(run plan --model "$MODEL" --height 64 --width 64 --num-frames 5 --device sim:5MiB)
check "plan: sim:5MiB is a 5 MiB budget" "has '5.00 MiB budget' && ! has unlimited"
o=$(run plan --model "$MODEL" --height 64 --width 64 --num-frames 5 --device simFOO)
check "plan: --device parsed as generate parses it" "has rc=2 && has 'unknown device'"
# (2 threads: the convolutions' im2col buffers, up to 8 MiB per thread, set this decode's peak)
o=$(run generate "${T[@]}" --height 64 --width 64 --threads 2 --device sim:24MiB --vram-budget 1GiB --output "$tmp/b.mp4")
check "budget above the device: planned for the device, and the run fits" "has rc=0 && has 'planning for 24.00 MiB'"
o=$(run generate "${T[@]}" --device sim:12MiB --vram-budget 1.7e19 --output "$tmp/b.mp4")
check "sizes that overflow a signed 64-bit integer are refused" "has rc=2 && has 'too large'"
o=$(ldd "$VGEN" | grep -q libasan || (ulimit -v 1500000; timeout 60 "$VGEN" plan --model "$MODEL" --height 1024 --width 1024 --num-frames 9 --device cpu 2>&1; echo "rc=$?") )
if ldd "$VGEN" | grep -q libasan; then
    echo "skip cpu budget under ulimit -v: AddressSanitizer reserves terabytes of address space"
else
    check "cpu: the default budget is the host memory left, and tiling turns on to fit" \
        "has 'budget: the host memory available' && has 'chosen, with VAE tiling' && has rc=0"
fi
o=$(run plan --model "$MODEL" --height 272 --width 400 --num-frames 5 --device sim:8MiB --offload block)
check "nothing fits: the tiled attempt is described, and leaf suggested" "has 'already tiled' && has '--offload leaf'"

# ---- 3. output files: whole or not at all, nothing removed that vgen did not make ----
echo "an earlier video" >"$tmp/keep.mp4"
mkfifo "$tmp/fifo.mp4"
o=$(run generate "${T[@]}" --output "$tmp/fifo.mp4")
check "a FIFO as output: refused without blocking, and kept" "has rc=2 && has 'not a regular file' && [ -p '$tmp/fifo.mp4' ]"
mkdir "$tmp/fr"; echo notes >"$tmp/fr/notes.txt"
o=$(run generate "${T[@]}" --output "$tmp/fr/")
check "a non-empty frame folder is refused" "has rc=2 && has -- '--overwrite' && [ \$(ls '$tmp/fr' | wc -l) -eq 1 ]"
o=$(run generate "${T[@]}" --output "$tmp/fr/" --overwrite)
check "--overwrite writes into it" "has rc=0 && [ \$(ls '$tmp/fr' | grep -c png) -eq 5 ] && [ -f '$tmp/fr/generate.json' ]"
mkdir "$tmp/exist"
o=$(run generate "${T[@]}" --output "$tmp/exist")
check "an existing folder without '/': frames and sidecar inside it" "has rc=0 && [ -f '$tmp/exist/generate.json' ] && [ ! -e '$tmp/exist.json' ]"
# SIGTERM while the video is being decoded: exit 143, the earlier file untouched, no partial file
"$VGEN" generate --model "$MODEL" --prompt fox --height 256 --width 256 --num-frames 41 --steps 1 --guidance-scale 1 \
    --output "$tmp/keep.mp4" 2>"$tmp/term.err" &
pid=$!
for i in $(seq 3000); do grep -q decoding "$tmp/term.err" 2>/dev/null && break; sleep 0.1; done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM in decode: exit 143, earlier file untouched, nothing partial left" \
    "[ $rc -eq 143 ] && grep -q 'an earlier video' '$tmp/keep.mp4' && [ -z \"\$(ls -A '$tmp' | grep partial)\" ] && grep -q 'decode aborted' '$tmp/term.err'"

# ---- 4. signals: a second Ctrl-C ends the process at once ----
# The second SIGINT must land before the run reaches its next check (the decode checks
# between latent frames, about a second apart here); if a check comes first the run
# stops gracefully ("aborted"), which says nothing of the second signal, so that lost
# race is tried again, up to 3 times.
for attempt in 1 2 3; do
    rm -f "$tmp/int2.mp4" "$tmp/int2.err"
    "$VGEN" generate --model "$MODEL" --prompt fox --height 384 --width 384 --num-frames 41 --steps 1 --guidance-scale 1 \
        --threads 1 --output "$tmp/int2.mp4" 2>"$tmp/int2.err" &
    pid=$!
    for i in $(seq 3000); do grep -q decoding "$tmp/int2.err" 2>/dev/null && break; sleep 0.1; done
    kill -INT $pid
    for i in $(seq 1000); do grep -q 'stopping at the next check' "$tmp/int2.err" && break; sleep 0.01; done
    kill -INT $pid
    wait $pid
    rc=$?
    grep -q aborted "$tmp/int2.err" || break
done
check "second SIGINT kills: no graceful stop, no file" "[ $rc -eq 130 ] && ! grep -q aborted '$tmp/int2.err' && [ ! -e '$tmp/int2.mp4' ]"

# ---- 5. special files never block, unusable files are named ----
mkfifo "$tmp/w.safetensors"
o=$(run inspect "$tmp/w.safetensors")
check "inspect a FIFO: refused at once" "has 'a FIFO' && ! has rc=0 && ! has rc=124"
o=$(run generate "${T[@]}" --latents "$tmp/w.safetensors" --output "$tmp/l.mp4")
check "--latents FIFO: refused at once" "has 'a FIFO' && has rc=2"
m=$(mutant fifo_tok); rm "$m/tokenizer/spiece.model"; mkfifo "$m/tokenizer/spiece.model"
o=$(run tokenize --model "$m/tokenizer" fox)
check "tokenizer FIFO: refused at once, named" "has 'spiece.model' && has 'a FIFO' && ! has rc=124"
m=$(mutant cfg_loop); rm "$m/transformer/config.json"
ln -s loop2 "$m/transformer/loop"; ln -s loop "$m/transformer/loop2"; ln -s loop "$m/transformer/config.json"
o=$(run plan --model "$m" --height 32 --width 32 --num-frames 5)
check "config.json a symlink loop: named with the reason" "has 'config.json' && has 'symbolic links'"
o=$(run generate "${T[@]}" --model "$tmp/nowhere" --output "$tmp/n.mp4")
check "a missing model folder: says so" "has 'No such file or directory' && has rc=1"
o=$( (yes | timeout 60 "$VGEN" tokenize --model "$MODEL" --stdin0 >/dev/null) 2>&1; echo "rc=$?")
check "tokenize --stdin0 stops at the text limit" "has 'longer than 256 MiB' && has rc=1"

# ---- 6. the sidecar records what ran and repeats it ----
o=$(run generate "${T[@]}" --seed 18446744073709551615 --output "$tmp/s.mp4")
check "sidecar: unsigned seed, effective scheduler and shift" "has rc=0 && python3 -c \"
import json; d = json.load(open('$tmp/s.mp4.json'))
assert d['seed'] == '18446744073709551615', d['seed']
assert d['scheduler'] == 'unipc' and d['flow_shift'] == 3.0 and d['flow_shift_from'] == 'scheduler_config'
assert d['max_sequence_length'] == 512 and d['budget_bytes'] > 0
\""
o=$(run generate --from-sidecar "$tmp/s.mp4.json" --output "$tmp/s2.mp4" --quiet)
check "--from-sidecar gives the same bytes" "has rc=0 && cmp -s '$tmp/s.mp4' '$tmp/s2.mp4'"
o=$(run generate "${T[@]}" --scheduler euler --flow-shift 5 --output "$tmp/e.mp4")
o=$(run generate --from-sidecar "$tmp/e.mp4.json" --output "$tmp/e2.mp4" --quiet)
check "--from-sidecar with a requested scheduler and shift: same bytes" "has rc=0 && cmp -s '$tmp/e.mp4' '$tmp/e2.mp4'"
echo '{"prompt": "fox", "height": "tall"}' >"$tmp/badside.json"
o=$(run generate --from-sidecar "$tmp/badside.json" --output "$tmp/bs.mp4")
check "a malformed sidecar is named with the key" "has rc=2 && has badside.json && has height"

# ---- 7. NaN / Inf never become a video ----
python3 - "$tmp" <<'PY'
import json, struct, sys
d = sys.argv[1]
def st(path, name, vals, shape):
    hdr = json.dumps({name: {"dtype": "F32", "shape": shape, "data_offsets": [0, 4 * len(vals)]}}).encode()
    hdr += b" " * (-len(hdr) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hdr)) + hdr + struct.pack("<%df" % len(vals), *vals))
n = 16 * 2 * 4 * 4
st(d + "/lat_nan.safetensors", "latents", [float("nan")] * n, [1, 16, 2, 4, 4])
st(d + "/lat_inf.safetensors", "latents", [0.5] * (n - 1) + [float("inf")], [1, 16, 2, 4, 4])
PY
for k in nan inf; do
    o=$(run generate "${T[@]}" --latents "$tmp/lat_$k.safetensors" --output "$tmp/lat_$k.mp4")
    check "--latents with ${k}: refused, no video" "has rc=1 && has 'lat_$k.safetensors' && [ ! -e '$tmp/lat_$k.mp4' ]"
done
m=$(mutant st_nan); w=$m/transformer/diffusion_pytorch_model.safetensors
cp --remove-destination "$(readlink "$w")" "$w"
python3 - "$w" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); t = h["blocks.0.attn1.to_q.bias"]
o = 8 + n + t["data_offsets"][0]; b[o:o + 4] = struct.pack("<f", float("nan")); open(p, "wb").write(bytes(b))
PY
o=$(run generate "${T[@]}" --model "$m" --output "$tmp/nanw.mp4")
check "NaN weights: the run fails saying so, no video" "has rc=1 && has 'non-finite' && has 'corrupt' && [ ! -e '$tmp/nanw.mp4' ]"

finish
