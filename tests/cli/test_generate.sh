#!/usr/bin/env bash
# vgen generate and vgen plan through the real binary, checked with ffprobe/ffmpeg:
#   bash test_generate.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
SRC=$3
MODEL=$SRC/models/tiny-wan
. "$(dirname "$0")/check.bash"
tmp=$(mktemp -d /tmp/vg_test_generate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2

gen() { "$VGEN" generate --model "$MODEL" --prompt "a red fox running through fresh snow" --height 64 --width 96 \
        --num-frames 9 --steps 3 --max-sequence-length 64 --quiet "$@"; }
probe() { ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=codec_name,width,height,avg_frame_rate,nb_read_frames,pix_fmt -of default=nw=1 "$1"; }
frames() { ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | md5sum | cut -d' ' -f1; }

# 1. an MP4 with the requested codec, frame count, size and fps (ffprobe)
gen --seed 7 --fps 12 --output "$tmp/a.mp4"
rc=$?
check "generate exits 0" "[ $rc -eq 0 ]"
p=$(probe "$tmp/a.mp4" 2>&1)
check "h264" "grep -qx codec_name=h264 <<<\"\$p\""
check "yuv420p" "grep -qx pix_fmt=yuv420p <<<\"\$p\""
check "9 frames" "grep -qx nb_read_frames=9 <<<\"\$p\""
check "96x64" "grep -qx width=96 <<<\"\$p\" && grep -qx height=64 <<<\"\$p\""
check "12 fps" "grep -qx avg_frame_rate=12/1 <<<\"\$p\""

# 2. the JSON sidecar holds settings, seed, per-phase times and peaks
check "sidecar" "python3 -c \"
import json,sys; d=json.load(open('$tmp/a.mp4.json'))
assert d['seed']=='7' and d['num_frames']==9 and d['height']==64 and d['width']==96 and d['steps']==3
ph={p['name']:p for p in d['phases']}
assert set(ph)=={'text_encode','denoise','decode'}
assert all(p['seconds']>=0 and 0<p['peak_bytes']<=p['planned_bytes'] for p in ph.values())
assert d['memory']['peak_bytes']>0
\""

# 3. same seed: identical frames (and files); another seed: different frames
gen --seed 7 --fps 12 --output "$tmp/b.mp4"
gen --seed 8 --fps 12 --output "$tmp/c.mp4"
check "same seed, same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/b.mp4")\" ]"
check "same seed, same file" "cmp -s \"$tmp/a.mp4\" \"$tmp/b.mp4\""
check "other seed, other frames" "[ \"$(frames "$tmp/a.mp4")\" != \"$(frames "$tmp/c.mp4")\" ]"

# 4. PNG frames into a folder, bit-equal to the MP4's source frames count
gen --seed 7 --output "$tmp/png/"
check "9 png frames" "[ \$(ls \"$tmp/png\" | grep -c '\\.png$') -eq 9 ]"
check "png size 96x64" "python3 -c \"
import struct; b = open('$tmp/png/frame_00000.png', 'rb').read(24)
assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n' and struct.unpack('>II', b[16:24]) == (96, 64)
\""

# 5. the same run on a simulated device with a small budget and block streaming
gen --seed 7 --fps 12 --device sim:64MiB --offload block --output "$tmp/d.mp4"
check "sim:64MiB block run gives the same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/d.mp4")\" ]"
# the guidance passes one after the other instead of the batch the first run chose: the same frames
gen --seed 7 --fps 12 --cfg-batch off --output "$tmp/e.mp4"
check "--cfg-batch off gives the same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/e.mp4")\" ]"
check "sidecars say which ran" "python3 -c \"
import json; a=json.load(open('$tmp/a.mp4.json')); e=json.load(open('$tmp/e.mp4.json'))
assert a['cfg_batched'] is True and e['cfg_batched'] is False
\""
# the transformer's activations stored in bf16: close to the f32 frames (ffmpeg's PSNR),
# a smaller measured denoise peak, exactly as planned; the same frames on a simulated
# device streaming blocks
gen --seed 7 --fps 12 --activations bf16 --output "$tmp/f.mp4"
gen --seed 7 --fps 12 --activations bf16 --device sim:64MiB --offload block --output "$tmp/g.mp4"
psnr=$(ffmpeg -v info -i "$tmp/a.mp4" -i "$tmp/f.mp4" -lavfi psnr -f null - 2>&1 | grep -o 'average:[0-9.]*' | cut -d: -f2)
check "bf16 activations: PSNR against f32 above 35 dB (got $psnr)" "python3 -c 'import sys; sys.exit(not float(\"$psnr\") > 35)'"
check "bf16 activations: other frames than f32" "[ \"$(frames "$tmp/a.mp4")\" != \"$(frames "$tmp/f.mp4")\" ]"
check "bf16 activations: sim:64MiB block run gives the same frames" "[ \"$(frames "$tmp/f.mp4")\" = \"$(frames "$tmp/g.mp4")\" ]"
check "bf16 activations: smaller denoise peak, as planned" "python3 -c \"
import json; a=json.load(open('$tmp/a.mp4.json')); f=json.load(open('$tmp/f.mp4.json'))
assert a['activations']=='f32' and f['activations']=='bf16'
pa={p['name']:p for p in a['phases']}; pf={p['name']:p for p in f['phases']}
assert pf['denoise']['peak_bytes']==pf['denoise']['planned_bytes'] and pf['denoise']['peak_bytes']<pa['denoise']['peak_bytes']
\""

# 6. bad values are refused before any work, with what is allowed, exit 2
err() { "$VGEN" generate --model "$MODEL" --prompt x "$@" 2>&1 >/dev/null; echo "rc=$?"; }
o=$(err --num-frames 10); check "frames 4k+1" "grep -q '4k+1' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --height 100); check "size multiple of 16" "grep -q 'multiples of 16' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --steps 0); check "steps range" "grep -q 'steps' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --scheduler ddim); check "scheduler name" "grep -q 'unipc or euler' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --vram-budget lots); check "budget syntax" "grep -q '8GiB' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --activations fp16); check "activations dtype" "grep -q 'f32 or bf16' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --cfg-batch maybe); check "cfg-batch mode" "grep -q 'auto, on or off' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$(err --device tpu); check "device name" "grep -q 'unknown device' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$("$VGEN" generate --model "$tmp/nowhere" --prompt x 2>&1; echo "rc=$?")
check "missing model folder" "grep -q 'nowhere' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
o=$("$VGEN" generate --model "$MODEL" --prompt x --height 64 --width 96 --num-frames 9 --device sim:1MiB 2>&1; echo "rc=$?")
check "budget too small: refused with a reason" "grep -q 'nothing fits' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
check "--help" "\"$VGEN\" generate --help | grep -q -- '--vram-budget'"

# 7. Ctrl-C stops the run between steps or blocks: exit 130, no output file, one message.
# The signal goes once denoising has shown progress (on a loaded machine that can take a
# while; 1000 steps keep the job running long after), not while the process starts up
"$VGEN" generate --model "$MODEL" --prompt fox --height 192 --width 320 --num-frames 25 --steps 1000 \
    --output "$tmp/int.mp4" 2>"$tmp/int.err" &
pid=$!
for i in $(seq 1200); do grep -q denoise "$tmp/int.err" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
check "SIGINT: exit 130, no file, says aborted" "[ $rc -eq 130 ] && [ ! -e \"$tmp/int.mp4\" ] && grep -q aborted \"$tmp/int.err\""
[ $rc -eq 130 ] && grep -q aborted "$tmp/int.err" || { echo "     exit $rc after waiting $i tenths of a second; stderr:"; tail -n 5 "$tmp/int.err"; }

# 8. vgen plan: 14B at 480x832x81 fits 24 GiB and 8 GiB, and agrees with docs/memory.md
for b in 24GiB 8GiB; do
    line=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-14b/transformer/config.json" --height 480 --width 832 \
           --num-frames 81 --vram-budget $b --threads 4 | grep '^chosen')
    check "plan 14B 480p fits $b" "[ -n \"\$line\" ]"
    check "plan 14B 480p $b matches docs/memory.md" "grep -qF \"| Wan2.1-14b | 480x832 | $b | off | \$line |\" \"$SRC/docs/memory.md\""
done
o=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-14b/transformer/config.json" --height 720 --width 1280 \
    --num-frames 81 --vram-budget 2GiB 2>&1; echo "rc=$?")
check "plan: nothing fits 2GiB, says what would" "grep -q 'no untiled plan fits' <<<\"\$o\" && grep -q 'what would fit' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
# the 14B at 480x832x81 in 3 GiB: only with bf16 activations (and a tiled decode); the plan says so
o=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-14b/transformer/config.json" --vram-budget 3GiB --threads 2 2>&1; echo "rc=$?")
check "plan: 14B in 3 GiB suggests --activations bf16" "grep -q -- '--activations bf16 --vae-tiling' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
o=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-14b/transformer/config.json" --vram-budget 3GiB --threads 2 \
    --activations bf16 --vae-tiling 2>&1; echo "rc=$?")
check "plan: 14B in 3 GiB fits with it" "grep -q '^chosen' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""
o=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-1.3b/transformer/config.json" --height 720 --width 1280 \
    --num-frames 81 --vram-budget 8GiB --threads 4 2>&1; echo "rc=$?")
check "plan: turns VAE tiling on when only a tiled decode fits" "grep -q '^chosen, with VAE tiling' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""
o=$("$VGEN" generate --model "$MODEL" --prompt x --height 512 --width 512 --num-frames 5 --steps 1 --device sim:160MiB \
    --quiet --output "$tmp/tiled.mp4" 2>&1; echo "rc=$?")
check "generate turns VAE tiling on to fit" "grep -q 'rc=0' <<<\"\$o\" && python3 -c \"import json; assert json.load(open('$tmp/tiled.mp4.json'))['vae_tiling']\""
o=$("$VGEN" plan --model "$MODEL" --height 64 --width 96 --num-frames 9 --vram-budget 64MiB 2>&1; echo "rc=$?")
check "plan from a model folder" "grep -q '^chosen' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""

finish
