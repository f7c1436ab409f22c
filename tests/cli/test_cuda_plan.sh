#!/usr/bin/env bash
# vgen plan --device cuda-plan (no GPU needed): every published model's run, at its real
# widths, must consist of ops the CUDA backend computes (its op table refuses the rest,
# so a gap shows here and not on the first GPU run), and the plan measures the CUDA
# backend's scratch, not the CPU's; runs refuse a device that only plans:
#   bash test_cuda_plan.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
SRC=$3
. "$(dirname "$0")/check.bash"
CFG=$SRC/models/configs
plan() { "$VGEN" plan --config "$CFG/$1/transformer/config.json" --height 64 --width 64 --num-frames 9 --threads 2 "${@:2}" 2>&1; }

if ! grep -qw cuda <<<"$("$VGEN" --version | head -1)"; then
    out=$(plan wan2.1-t2v-1.3b --device cuda-plan); rc=$?
    check "cuda-plan in a build without CUDA exits 2 and says so" "[ $rc -eq 2 ] && grep -q 'no CUDA backend' <<<\"\$out\""
    finish
fi

for d in "$CFG"/*/; do
    m=$(basename "$d")
    out=$(plan "$m" --device cuda-plan); rc=$?
    check "$m: every op of the run is one the CUDA backend computes" "[ $rc -eq 0 ] && grep -q '^chosen' <<<\"\$out\""
    [ $rc -eq 0 ] || echo "$out" | tail -2
done
out=$(plan wan2.2-ti2v-5b --image x.png --device cuda-plan); rc=$?
check "wan2.2-ti2v-5b with an image: every op on CUDA" "[ $rc -eq 0 ] && grep -q '^chosen' <<<\"\$out\""

# the scratch measured is the CUDA backend's (the leaf plan, whose denoise peak is small enough
# to print in MiB): cuBLASLt's workspace is 32 MiB on sm_90 and
# 4 MiB before it, and neither is the CPU's (sim)
denoise() { awk '$1 == "leaf" && $2 == "cpu" && $3 == "batch" { print $6, $7 }' <<<"$1"; }
mib() { awk '{ v = $1; if ($2 == "GiB") v *= 1024; if ($2 == "KiB") v /= 1024; printf "%.2f", v }' <<<"$1"; }
a=$(mib "$(denoise "$(plan wan2.1-t2v-1.3b --device cuda-plan:sm_89)")")
b=$(mib "$(denoise "$(plan wan2.1-t2v-1.3b --device cuda-plan:sm_90)")")
c=$(mib "$(denoise "$(plan wan2.1-t2v-1.3b --device sim)")")
echo "     1.3B denoise peak at 64x64: sm_89 $a MiB, sm_90 $b MiB, sim (CPU scratch) $c MiB"
check "sm_90's plan holds cuBLASLt's larger workspace (28 MiB more)" "awk -v a=$a -v b=$b 'BEGIN { exit !(b - a >= 27.9 && b - a <= 28.1) }'"
check "the CUDA plan is not the CPU's" "[ \"$a\" != \"$c\" ]"

# activations in bf16 on the CUDA op table (core/test_cuda_plan_act checks that no op of
# the transformers is widened): every family plans, and at real size within 8 GiB the
# 14B's denoise fits with the guidance passes batched, which f32 activations do not allow
for m in wan2.1-t2v-1.3b wan2.2-ti2v-5b cogvideox-5b; do
    out=$(plan "$m" --device cuda-plan --activations bf16); rc=$?
    check "$m with bf16 activations: plans on the CUDA op table" "[ $rc -eq 0 ] && grep -q '^chosen' <<<\"\$out\""
done
big() { "$VGEN" plan --config "$CFG/wan2.1-t2v-14b/transformer/config.json" --device cuda-plan --vram-budget 8GiB --threads 2 "$@" 2>&1; }
f=$(big --activations f32 | grep '^chosen'); g=$(big --activations bf16 | grep '^chosen')
echo "     14B in 8 GiB, f32: $f"
echo "     14B in 8 GiB, bf16: $g"
check "14B in 8 GiB: bf16 activations let the guidance passes batch, f32 ones do not" \
    "grep -q 'batched' <<<\"\$g\" && ! grep -q 'batched' <<<\"\$f\""

# bad specs, and runs on a device that only plans
out=$(plan wan2.1-t2v-1.3b --device cuda-plan:sm_75); rc=$?
check "cuda-plan:sm_75 refused (8.0 or newer)" "[ $rc -eq 2 ] && grep -q '8.0 or newer' <<<\"\$out\""
out=$(plan wan2.1-t2v-1.3b --device cuda-plan:sm_8x); rc=$?
check "cuda-plan:sm_8x refused" "[ $rc -eq 2 ] && grep -q 'sm_89' <<<\"\$out\""
out=$("$VGEN" generate --model "$SRC/models/tiny-wan" --prompt x --height 64 --width 64 --num-frames 5 --steps 1 \
      --device cuda-plan --output /tmp/vg_cuda_plan_never.mp4 --quiet 2>&1); rc=$?
check "generate refuses a device that only plans" "[ $rc -ne 0 ] && grep -q 'only plans' <<<\"\$out\" && [ ! -e /tmp/vg_cuda_plan_never.mp4 ]"
finish
