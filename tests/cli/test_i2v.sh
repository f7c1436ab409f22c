#!/usr/bin/env bash
# vgen generate --image and vgen plan with the image-to-video folders (the golden
# Wan2.1 I2V and Wan2.2 TI2V folders with the demo model's tokenizer beside them).
#   bash test_i2v.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
GOLDEN=$(cd "$2" && pwd)
SRC=$(cd "$3" && pwd)
. "$(dirname "$0")/check.bash"
tmp=$(mktemp -d /tmp/vg_test_i2v.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2

folder() {   # folder NAME SET: the set's components and the demo tokenizer
    mkdir "$tmp/$1"
    for c in "$GOLDEN/$2"/*; do
        case $(basename "$c") in io.safetensors|config.json|image.png) ;; *) ln -s "$c" "$tmp/$1/$(basename "$c")" ;; esac
    done
    ln -s "$SRC/models/tiny-wan/tokenizer" "$tmp/$1/tokenizer"
}
folder ti2v wan22_ti2v_pipeline
folder i2v wan_i2v_pipeline
frames() { [ -s "$1" ] && ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | md5sum | cut -d' ' -f1 || echo "no $1"; }
gen() { m=$1; shift; "$VGEN" generate --model "$tmp/$m" --prompt "a paper boat drifts down a rainy street" \
        --num-frames 5 --steps 2 --max-sequence-length 16 --quiet "$@"; }
TI=$GOLDEN/wan22_ti2v_pipeline/image.png
IM=$GOLDEN/wan_i2v_pipeline/image.png

# 1. TI2V: text-to-video and image-conditioned; the sidecar names the image and its SHA-256
gen ti2v --height 32 --width 64 --output "$tmp/t.mp4"
check "TI2V text-to-video" "[ $? -eq 0 ] && [ -s \"$tmp/t.mp4\" ]"
gen ti2v --height 32 --width 64 --image "$TI" --output "$tmp/a.mp4"
check "TI2V with --image" "[ $? -eq 0 ] && [ -s \"$tmp/a.mp4\" ]"
check "the image changes the video" "[ \"$(frames "$tmp/t.mp4")\" != \"$(frames "$tmp/a.mp4")\" ]"
sha=$(sha256sum "$TI" | cut -d' ' -f1)
check "sidecar: image and image_sha256" "python3 -c \"
import json; d=json.load(open('$tmp/a.mp4.json'))
assert d['image']=='$TI' and d['image_sha256']=='$sha', d.get('image_sha256')
names=[p['name'] for p in d['phases']]
assert names==['text_encode','image_encode','denoise','decode'], names
assert all(0<p['peak_bytes']<=p['planned_bytes'] for p in d['phases'])
\""
"$VGEN" generate --from-sidecar "$tmp/a.mp4.json" --quiet --output "$tmp/b.mp4"
check "from-sidecar repeats the image run" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/b.mp4")\" ]"
gen ti2v --height 32 --width 64 --image "$TI" --device sim:64MiB --offload block --output "$tmp/c.mp4"
check "TI2V image run streamed on sim: same frames" "[ \"$(frames "$tmp/a.mp4")\" = \"$(frames "$tmp/c.mp4")\" ]"

# 2. Wan2.1 I2V: needs an image; another size than the image's is resized; JPEG decodes
o=$(gen i2v --height 32 --width 48 --output "$tmp/x.mp4" 2>&1; echo "rc=$?")
check "I2V without --image refused" "grep -q 'image' <<<\"\$o\" && ! grep -q 'rc=0' <<<\"\$o\""
gen i2v --height 32 --width 48 --image "$IM" --output "$tmp/d.mp4"
check "I2V with --image" "[ $? -eq 0 ] && [ -s \"$tmp/d.mp4\" ]"
gen i2v --height 64 --width 96 --image "$IM" --output "$tmp/e.mp4"
check "I2V at another size (resized image)" "[ $? -eq 0 ] && ffprobe -v error -show_entries stream=width,height -of csv=p=0 \"$tmp/e.mp4\" | grep -qx '96,64'"
ffmpeg -v error -i "$IM" -q:v 2 "$tmp/img.jpg"
gen i2v --height 32 --width 48 --image "$tmp/img.jpg" --output "$tmp/f.mp4"
check "I2V from a JPEG" "[ $? -eq 0 ] && [ -s \"$tmp/f.mp4\" ]"

# 3. bad images: named, no crash, no output
echo "not an image" > "$tmp/bad.png"
o=$(gen i2v --height 32 --width 48 --image "$tmp/bad.png" --output "$tmp/y.mp4" 2>&1; echo "rc=$?")
check "a file that is not an image" "grep -q 'bad.png' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\" && [ ! -e \"$tmp/y.mp4\" ]"
head -c 300 "$IM" > "$tmp/cut.png"
o=$(gen i2v --height 32 --width 48 --image "$tmp/cut.png" --output "$tmp/y.mp4" 2>&1; echo "rc=$?")
check "a truncated PNG" "grep -q 'cut.png' <<<\"\$o\" && grep -q 'rc=1' <<<\"\$o\""
o=$(gen i2v --height 32 --width 48 --image "$tmp/none.png" --output "$tmp/y.mp4" 2>&1; echo "rc=$?")
check "a missing image" "grep -q 'none.png' <<<\"\$o\" && grep -q 'rc=2' <<<\"\$o\""
o=$("$VGEN" generate --model "$SRC/models/tiny-wan" --prompt x --height 64 --width 96 --num-frames 5 --steps 1 --image "$IM" --output "$tmp/y.mp4" 2>&1; echo "rc=$?")
check "a text-to-video model refuses --image" "grep -q 'takes no image' <<<\"\$o\" && ! grep -q 'rc=0' <<<\"\$o\""

# 4. plans cover the image encoders and the VAE encode
o=$("$VGEN" plan --model "$tmp/i2v" --height 32 --width 48 --num-frames 5 --max-sequence-length 16 2>&1; echo "rc=$?")
check "plan --model I2V: image_encode phase" "grep -q 'image_encode' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""
o=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-i2v-14b-480p/transformer/config.json" --vram-budget 24GiB 2>&1; echo "rc=$?")
check "plan --config I2V-14B-480P fits 24GiB" "grep -q 'CLIP image encoder' <<<\"\$o\" && grep -q '^chosen' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""
o=$("$VGEN" plan --config "$SRC/models/configs/wan2.2-ti2v-5b/transformer/config.json" --height 704 --width 1280 --num-frames 121 --image x.png --vram-budget 24GiB 2>&1; echo "rc=$?")
check "plan --config TI2V-5B with an image" "grep -q 'image_encode' <<<\"\$o\" && grep -q 'rc=0' <<<\"\$o\""

finish
