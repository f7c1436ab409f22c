#!/usr/bin/env bash
# vgen --version names the GEMM library chosen per dtype for this CPU; the choice
# is checked against the CPU flags in /proc/cpuinfo (an independent reading):
#   bash test_version.sh VGEN_BINARY GOLDEN_DIR SOURCE_DIR
set -u
VGEN=$1
. "$(dirname "$0")/check.bash"

out=$("$VGEN" --version); rc=$?
check "--version exits 0" "[ $rc -eq 0 ]"
check "--version names vgen" "head -1 <<<\"\$out\" | grep -q '^vgen '"
gemm=$(sed -n 2p <<<"$out")
echo "     $gemm"
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
if grep -qw -e avx512_bf16 -e amx_bf16 <<<"$flags"; then
    check "bf16 on oneDNN where the CPU has bf16 instructions" "grep -q 'bf16 oneDNN' <<<\"\$gemm\""
else
    check "bf16 converted to f32 without bf16 instructions" "grep -q 'bf16 converted to f32' <<<\"\$gemm\""
fi
check "f32 names a library" "grep -qE 'f32 (OpenBLAS|oneDNN)' <<<\"\$gemm\""
# OpenBLAS forced onto its oldest x86-64 kernels: on a CPU with AVX2 or more vgen
# must not use them for f32
slow=$(OPENBLAS_CORETYPE=Prescott "$VGEN" --version | sed -n 2p)
if grep -qw avx2 <<<"$flags"; then
    check "f32 leaves OpenBLAS's Prescott kernels for oneDNN" "grep -q 'f32 oneDNN' <<<\"\$slow\""
fi
forced=$(OPENBLAS_CORETYPE=Prescott VGEN_GEMM_F32=openblas "$VGEN" --version | sed -n 2p)
check "VGEN_GEMM_F32=openblas overrides the choice" "grep -q 'f32 OpenBLAS' <<<\"\$forced\""
off=$(VGEN_GEMM_BF16=off "$VGEN" --version | sed -n 2p)
check "VGEN_GEMM_BF16=off converts bf16 to f32" "grep -q 'bf16 converted to f32' <<<\"\$off\""

# the third line says what this build finds of the GPU: built or not, and if built,
# the devices found or why none; --device cuda then works or fails with that reason
gpu=$(sed -n 3p <<<"$out")
echo "     $gpu"
check "--version has a cuda line" "grep -q '^cuda: ' <<<\"\$gpu\""
if grep -qw cuda <<<"$(head -1 <<<"$out")"; then
    if grep -q 'no device found' <<<"$gpu"; then
        err=$("$VGEN" mem --device cuda 2>&1); rc=$?
        check "--device cuda without a device exits 2" "[ $rc -eq 2 ]"
        check "--device cuda without a device says so" "grep -q 'no CUDA device found' <<<\"\$err\""
    else
        "$VGEN" mem --device cuda >/dev/null; rc=$?
        check "vgen mem --device cuda runs on the device found" "[ $rc -eq 0 ]"
    fi
else
    check "a build without CUDA says so" "grep -q 'not built' <<<\"\$gpu\""
    err=$("$VGEN" mem --device cuda 2>&1); rc=$?
    check "--device cuda in a build without CUDA exits 2" "[ $rc -eq 2 ] && grep -q 'no CUDA backend' <<<\"\$err\""
fi

finish
