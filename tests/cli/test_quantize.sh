#!/usr/bin/env bash
# GGUF through the real binary: vgen quantize, inspect, generate with --transformer /
# --text-encoder files, plan by stored bytes, and the errors for bad files:
#   bash test_quantize.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
SRC=$3
MODEL=$SRC/models/tiny-wan
. "$(dirname "$0")/check.bash"
tmp=$(mktemp -d /tmp/vg_test_quantize.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2

gen() { "$VGEN" generate --model "$MODEL" --prompt "a red fox running through fresh snow" --height 64 --width 64 \
        --num-frames 5 --steps 2 --max-sequence-length 32 --seed 7 --quiet "$@"; }
pngs() { cat "$1"/*.png | md5sum | cut -d' ' -f1; }

# 1. quantize the tiny transformer and text encoder; the files are GGUF with block types
"$VGEN" quantize "$MODEL/transformer" "$tmp/dit-q8_0.gguf" --type q8_0 > "$tmp/q.out" 2> "$tmp/q.err"
rc=$?
check "quantize exits 0" "[ $rc -eq 0 ]"
check "progress bar reaches 100%" "grep -q '100%' \"$tmp/q.err\""
check "summary names the types" "grep -q 'q8_0' \"$tmp/q.out\""
check "GGUF magic" "[ \"\$(head -c 4 \"$tmp/dit-q8_0.gguf\")\" = GGUF ]"
"$VGEN" quantize "$MODEL/text_encoder" "$tmp/te-q4_0.gguf" --type q4_0 --quiet
check "text encoder quantized" "[ $? -eq 0 ]"
ins=$("$VGEN" inspect "$tmp/dit-q8_0.gguf" --all 2>&1)
check "inspect shows GGUF metadata" "grep -q 'general.architecture .*wan' <<<\"\$ins\""
check "inspect lists q8_0 tensors" "grep -q 'blocks.0.attn1.to_q.weight  *q8_0' <<<\"\$ins\""
check "inspect: norms stay f32" "grep -q 'blocks.0.attn1.norm_q.weight  *f32' <<<\"\$ins\""

# 2. generate from the GGUF equals generate from its dequantized f32 copy, bit for bit
"$VGEN" quantize "$tmp/dit-q8_0.gguf" "$tmp/dit-f32.gguf" --type f32 --quiet
gen --transformer "$tmp/dit-q8_0.gguf" --output "$tmp/a/"
check "generate with a GGUF transformer" "[ $? -eq 0 ] && [ \$(ls \"$tmp/a\" | grep -c png) -eq 5 ]"
gen --transformer "$tmp/dit-f32.gguf" --output "$tmp/b/"
check "GGUF frames == dequantized f32 frames" "[ \"\$(pngs \"$tmp/a\")\" = \"\$(pngs \"$tmp/b\")\" ]"
gen --output "$tmp/c/"
check "quantized frames differ from bf16 ones" "[ \"\$(pngs \"$tmp/a\")\" != \"\$(pngs \"$tmp/c\")\" ]"
# the same in bf16 compute (every weight's f32 value rounded to bf16, bf16 GEMM)
gen --transformer "$tmp/dit-q8_0.gguf" --compute bf16 --output "$tmp/a16/"
check "generate with a GGUF transformer in bf16 compute" "[ $? -eq 0 ] && [ \$(ls \"$tmp/a16\" | grep -c png) -eq 5 ]"
gen --transformer "$tmp/dit-f32.gguf" --compute bf16 --output "$tmp/b16/"
check "bf16 compute: GGUF frames == dequantized f32 frames" "[ \"\$(pngs \"$tmp/a16\")\" = \"\$(pngs \"$tmp/b16\")\" ]"
check "the sidecar records the compute dtype" "grep -q '\"compute\": \"bf16\"' \"$tmp/a16/\"*.json"
if "$VGEN" --version | grep -q 'bf16 oneDNN'; then
    check "bf16 compute gives other frames than f32 compute" "[ \"\$(pngs \"$tmp/a16\")\" != \"\$(pngs \"$tmp/a\")\" ]"
fi
err=$(gen --compute f16 --output "$tmp/e/" 2>&1)
check "--compute f16 refused by name" "[ $? -eq 2 ] && grep -q \"compute dtype 'f16'\" <<<\"\$err\""
gen --text-encoder "$tmp/te-q4_0.gguf" --transformer "$tmp/dit-q8_0.gguf" --output "$tmp/d/"
check "generate with GGUF text encoder and transformer" "[ $? -eq 0 ] && [ \$(ls \"$tmp/d\" | grep -c png) -eq 5 ]"

# 3. plan counts stored bytes
p=$("$VGEN" plan --model "$MODEL" --transformer "$tmp/dit-q8_0.gguf" 2>&1)
p0=$("$VGEN" plan --model "$MODEL" 2>&1)
t1=$(sed -n 's/.*transformer \([0-9.]*\) \([KMG]iB\).*/\1\2/p' <<<"$p")
t0=$(sed -n 's/.*transformer \([0-9.]*\) \([KMG]iB\).*/\1\2/p' <<<"$p0")
check "plan with a GGUF transformer ($t1 vs bf16 $t0)" "[ -n \"$t1\" ] && [ \"$t1\" != \"$t0\" ]"
p=$("$VGEN" plan --config "$SRC/models/configs/wan2.1-t2v-14b/transformer/config.json" --dtype q4_k_m --vram-budget 12GiB 2>&1)
check "14B Q4_K_M: 9.43 GiB of transformer weights" "grep -q 'transformer 9.43 GiB' <<<\"\$p\""

# 4. bad input: clear errors naming the file, non-zero exits
head -c 100 "$tmp/dit-q8_0.gguf" > "$tmp/trunc.gguf"
err=$(gen --transformer "$tmp/trunc.gguf" --output "$tmp/e/" 2>&1)
check "truncated GGUF: exit 1, names the file" "[ $? -eq 1 ] && grep -q 'trunc.gguf' <<<\"\$err\""
err=$(gen --transformer "$tmp/nope.gguf" --output "$tmp/e/" 2>&1)
check "missing file: exit 1" "[ $? -eq 1 ] && grep -q 'nope.gguf' <<<\"\$err\""
err=$("$VGEN" quantize "$MODEL/transformer" "$tmp/x.gguf" --type q9_9 2>&1)
check "unknown --type: exit 2" "[ $? -eq 2 ] && grep -q q9_9 <<<\"\$err\""
out=$("$VGEN" quantize "$MODEL/transformer" "$tmp/k.gguf" --type q4_k_m 2>/dev/null)
check "q4_k_m: rows of 64 are not whole 256-blocks, so F16 (llama.cpp's fallback)" "grep -q 'f16' <<<\"\$out\" && ! grep -q 'q4_k' <<<\"\$out\""
head -c 3000 "$tmp/dit-q8_0.gguf" > "$tmp/cut.gguf"
err=$("$VGEN" quantize "$tmp/cut.gguf" "$tmp/y.gguf" --type q8_0 2>&1)
check "quantize of a truncated file: exit 1, no output left" "[ $? -eq 1 ] && [ ! -e \"$tmp/y.gguf\" ] && grep -q cut.gguf <<<\"\$err\""

finish
