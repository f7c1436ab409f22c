#!/usr/bin/env bash
# The CUDA backend's check on a machine with an NVIDIA GPU, in one run of at most
# 8 minutes on an H100-class card (each stage under a timeout from one deadline):
#
#   0. environment   nvidia-smi, the toolkit, what vgen --version finds
#   1. build         build-gpu/ (CMake, VG_CUDA=ON, this GPU's architecture), or
#                    the build given as BUILD=<dir> when it already holds the binaries
#   2. op table      every op of tests/core/test_backend_ops.c on cuda against the
#                    float64 references and the CPU backend (NMSE, NaN/Inf, guards,
#                    measured scratch == real scratch)
#   2b. video pieces test_video_dst on cuda: decoded pieces into a device video and
#                    downloaded into host memory, against an element-by-element video
#   3. golden        vgen-golden --device cuda over tests/data/golden
#   4. DiT forward   bench_cuda: Wan2.1-1.3B shapes, 30 blocks, 480x832x81 (32760
#                    tokens), random bf16 weights, resident and block-streamed, and
#                    one guidance step as a batch of two against two passes, and the
#                    resident forward with bf16 activations against f32
#   4b. attention    bench_cuda: one self-attention call at those shapes (bf16 q, k,
#                    v), the tensor-core kernel against the f32 one (seconds, TFLOP/s)
#   5. VAE chunks    bench_cuda: two latent frames (the first chunk and one full
#                    chunk of the causal decode) -> 1 + 4 frames at 480x832
#   6. PyTorch       if python3 has torch with CUDA: the same blocks with SDPA
#   7. sanitizers    with the time left: the op table under compute-sanitizer
#                    memcheck, the attention and conv cases under racecheck
#
# Then a summary: pass/fail per stage, seconds per forward (= per denoising step
# and guidance pass), TFLOP/s, streaming overhead, peak memory against the plan, and
# vgen's time against PyTorch's. Logs and the summary go to $GPU_CHECK_OUT (default
# gpu-check-out/). Exit status: 0 when every stage that ran passed.
#
# The build needs the Debian packages of scripts/install-deps.sh. A GPU machine without
# network access may lack them: then prepare them here, on a machine of the same OS
# with apt, into the git-ignored folder .debs/ (and send that folder along):
#     mkdir -p .debs && (cd .debs && apt-get download $(apt-cache depends --recurse \
#         --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
#         --no-enhances libopenblas0-openmp libopenblas-dev libdnnl-dev libjansson-dev \
#         libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libpng-dev pkg-config \
#         | grep '^[a-z]' | sort -u))
# and this script unpacks them (dpkg -x, as root) when the configure step fails.
#
# usage: scripts/gpu-check.sh            (from the repository root)
#        BUILD=build scripts/gpu-check.sh    reuse an existing CUDA build
set -u
cd "$(dirname "$0")/.."
START=$(date +%s)
DEADLINE=$((START + ${GPU_CHECK_SECONDS:-470}))
OUT=${GPU_CHECK_OUT:-gpu-check-out}
BUILD=${BUILD:-build-gpu}
LAYERS=${LAYERS:-30}
LATENT_FRAMES=${LATENT_FRAMES:-21}
mkdir -p "$OUT"
declare -a SUMMARY
status=0

left() { local l=$((DEADLINE - $(date +%s))); [ $l -lt 5 ] && l=5; echo $l; }
# stage NAME CAP_SECONDS COMMAND...: runs under min(cap, time left), logs to $OUT/NAME.log
stage() {
    local name=$1 cap=$2; shift 2
    local t=$(left); [ "$cap" -lt "$t" ] && t=$cap
    local t0=$(date +%s)
    echo "== $name (timeout ${t}s): $*"
    timeout --signal=INT --kill-after=10 "$t" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    local dt=$(( $(date +%s) - t0 ))
    tail -n 25 "$OUT/$name.log"
    local verdict=PASS
    if [ $rc -eq 124 ] || [ $rc -eq 130 ]; then verdict="FAIL (timed out after ${t}s)"; status=1
    elif [ $rc -eq 77 ]; then verdict="FAIL (no CUDA device)"; status=1
    elif [ $rc -ne 0 ]; then verdict="FAIL (exit $rc)"; status=1; fi
    SUMMARY+=("$(printf '%-10s %-28s %4ss' "$name" "$verdict" "$dt")")
    return $rc
}

echo "== environment"
{
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version,compute_cap --format=csv,noheader 2>&1
    else
        echo "nvidia-smi: not found"
    fi
    command -v nvcc >/dev/null && nvcc --version | tail -1 || ls /usr/local/cuda/bin/nvcc 2>&1
    cmake --version | head -1
    lscpu | grep -m1 'Model name' || true
} | tee "$OUT/env.log"

# 1. build
if [ -x "$BUILD/bench_cuda" ] && [ -x "$BUILD/test_backend_ops" ] && [ -x "$BUILD/vgen-golden" ]; then
    SUMMARY+=("$(printf '%-10s %-28s' build "reused $BUILD")")
else
    arch="80;86;89;90"   # without nvidia-smi: every architecture vgen targets
    if command -v nvidia-smi >/dev/null; then
        cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
        [ -n "$cc" ] && arch=$cc
    fi
    CONFIGURE=(cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVG_CUDA=ON -DVG_CUDA_ARCHS="$arch")
    if ! "${CONFIGURE[@]}" >"$OUT/configure.log" 2>&1 && ls .debs/*.deb >/dev/null 2>&1; then
        echo "== configure failed; unpacking the packages of .debs/ (see the header of this script)"
        for f in .debs/*.deb; do dpkg -x "$f" / ; done
        ldconfig 2>/dev/null || true
        rm -rf "$BUILD/CMakeCache.txt"
    fi
    configured=0
    if stage configure 60 "${CONFIGURE[@]}"; then
        configured=1
    else
        echo "configure failed: the Debian packages of scripts/install-deps.sh (OpenBLAS, oneDNN, jansson,"
        echo "FFmpeg, libpng) must be installed on this machine (or prepared in .debs/); see $OUT/configure.log"
    fi
    if [ $configured -eq 1 ] && grep -q "CUDA backend ON" "$OUT/configure.log" 2>/dev/null; then
        stage build 240 cmake --build "$BUILD" -j "$(nproc)" --target vgen vgen-golden test_backend_ops test_video_dst bench_cuda \
            test_cuda_on_host test_cuda_bf16_on_host test_cuda_tc_attention_on_host
    else
        SUMMARY+=("$(printf '%-10s %-28s' build 'FAIL (no CUDA in the configure)')"); status=1
    fi
fi

if [ -x "$BUILD/vgen" ]; then
    "$BUILD/vgen" --version | tee -a "$OUT/env.log"
fi

# 2-5. vgen on the GPU (and the kernels' host checks, seconds)
[ -x "$BUILD/test_cuda_on_host" ] && stage host 30 "$BUILD/test_cuda_on_host"
[ -x "$BUILD/test_cuda_bf16_on_host" ] && stage host_bf16 30 "$BUILD/test_cuda_bf16_on_host"
[ -x "$BUILD/test_cuda_tc_attention_on_host" ] && stage host_tc 30 "$BUILD/test_cuda_tc_attention_on_host"
if [ -x "$BUILD/test_backend_ops" ]; then
    stage ops 90 env OMP_NUM_THREADS=8 "$BUILD/test_backend_ops" --device cuda:4GiB
fi
[ -x "$BUILD/test_video_dst" ] && stage video_dst 30 "$BUILD/test_video_dst" --device cuda:1GiB
if [ -x "$BUILD/vgen-golden" ]; then
    # a budget, not the whole card: the pipeline set makes a second context on the device
    stage golden 120 env OMP_NUM_THREADS=8 "$BUILD/vgen-golden" --device cuda:6GiB tests/data/golden
fi
if [ -x "$BUILD/bench_cuda" ]; then
    stage dit 240 env OMP_NUM_THREADS=8 "$BUILD/bench_cuda" cuda "$LAYERS" "$LATENT_FRAMES" 1 dit
    stage att 60 env OMP_NUM_THREADS=8 "$BUILD/bench_cuda" cuda "$LAYERS" "$LATENT_FRAMES" 1 att
    stage vae 60 env OMP_NUM_THREADS=8 "$BUILD/bench_cuda" cuda "$LAYERS" "$LATENT_FRAMES" 1 vae
fi

# 6. PyTorch, same shapes, same run
if python3 -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    tokens=$((LATENT_FRAMES * 30 * 52))
    stage torch 90 python3 bench/torch_cuda_block.py "$LAYERS" "$tokens" 2
else
    SUMMARY+=("$(printf '%-10s %-28s' torch 'SKIP (no PyTorch with CUDA)')")
fi

# 7. with the time left: the op table under compute-sanitizer (out-of-bounds device
# accesses, then shared-memory races in the attention and convolution kernels)
if command -v compute-sanitizer >/dev/null && [ -x "$BUILD/test_backend_ops" ] && [ "$(left)" -gt 60 ]; then
    stage memcheck 90 compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/test_backend_ops" --device cuda:1GiB
    [ "$(left)" -gt 40 ] && stage racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 9 \
        "$BUILD/test_backend_ops" --device cuda:1GiB attention
    [ "$(left)" -gt 30 ] && stage racecheck2 45 compute-sanitizer --tool racecheck --error-exitcode 9 \
        "$BUILD/test_backend_ops" --device cuda:1GiB conv
fi

# summary
field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) {print $(i + 1); exit}}' <<<"$1"; }
{
    echo
    echo "================ gpu-check summary ($(( $(date +%s) - START )) s) ================"
    head -1 "$OUT/env.log" 2>/dev/null
    for l in "${SUMMARY[@]}"; do echo "  $l"; done
    if [ -f "$OUT/ops.log" ]; then
        echo "  op table: $(grep -c ': ok (' "$OUT/ops.log") cases ok, $(grep -c 'check failed' "$OUT/ops.log") failing"
    fi
    [ -f "$OUT/golden.log" ] && echo "  golden: $(grep '^golden' "$OUT/golden.log" | tail -1)"
    if [ -f "$OUT/dit.log" ]; then
        for pol in none block; do
            l=$(grep "^dit $pol " "$OUT/dit.log")
            [ -n "$l" ] && echo "  DiT $pol: $(field "$l" forward_s) s per forward (one step, one guidance pass)," \
                "$(field "$l" tflops) TFLOP/s, peak $(field "$l" peak_mib) MiB vs plan $(field "$l" plan_mib) MiB," \
                "weights on device $(field "$l" weights_mib) MiB"
        done
        echo "  DiT streaming overhead (block / resident): $(field "$(grep '^dit stream_overhead' "$OUT/dit.log")" stream_overhead)"
        echo "  DiT outputs identical resident vs streamed: $(field "$(grep '^dit outputs_identical' "$OUT/dit.log")" outputs_identical)"
        none=$(field "$(grep '^dit none ' "$OUT/dit.log")" forward_s)
        [ -n "$none" ] && awk -v s="$none" 'BEGIN {printf "  50 steps with CFG (2 passes each) at this rate: %.1f s of denoising\n", s * 100}'
        l=$(grep '^dit cfg_batch step_s' "$OUT/dit.log")
        [ -n "$l" ] && echo "  guidance step as one batch of two: $(field "$l" step_s) s against $(field "$l" two_pass_s) s" \
            "for two passes (ratio $(field "$l" ratio), max |diff| $(field "$l" max_diff)); 50 steps:" \
            "$(awk -v s="$(field "$l" step_s)" 'BEGIN {printf "%.1f", s * 50}') s"
        l=$(grep '^dit bf16_act ' "$OUT/dit.log")
        [ -n "$l" ] && echo "  activations in bf16 (resident): time x$(field "$l" time_ratio) and peak x$(field "$l" peak_ratio)" \
            "of f32's, output error $(field "$l" max_rel_err) of max|f32|; its own line: $(grep '^dit bf16_act forward_s' "$OUT/dit.log")"
    fi
    if [ -f "$OUT/att.log" ]; then
        l=$(grep '^att ' "$OUT/att.log")
        [ -n "$l" ] && echo "  attention, $(field "$l" tokens) tokens, 12 heads x 128, bf16: tensor cores $(field "$l" tc_s) s" \
            "($(field "$l" tc_tflops) TFLOP/s), f32 SIMT kernel $(field "$l" simt_s) s ($(field "$l" simt_tflops) TFLOP/s)," \
            "speedup $(field "$l" speedup), max |diff| $(field "$l" max_rel_diff) of max|o|"
        f=$([ -f "$OUT/dit.log" ] && field "$(grep '^dit bf16_act forward_s' "$OUT/dit.log")" forward_s)
        [ -n "$l" ] && [ -n "$f" ] && awk -v a="$(field "$l" tc_s)" -v n="$LAYERS" -v f="$f" \
            'BEGIN {printf "  tensor-core self-attention in the bf16 forward: %d x %.3f s = %.2f s of %.2f s (%.0f%%)\n", n, a, n * a, f, 100 * n * a / f}'
    fi
    if [ -f "$OUT/vae.log" ]; then
        l=$(grep '^vae ' "$OUT/vae.log")
        [ -n "$l" ] && echo "  VAE decode (2 latent frames -> $(field "$l" frames) frames $(field "$l" size)): $(field "$l" decode_s) s, peak" \
            "$(field "$l" peak_mib) MiB vs plan $(field "$l" plan_mib) MiB"
    fi
    if [ -f "$OUT/torch.log" ] && [ -f "$OUT/dit.log" ]; then
        t=$(field "$(grep '^torch ' "$OUT/torch.log")" forward_s)
        v=$(field "$(grep '^dit none ' "$OUT/dit.log")" forward_s)
        [ -n "$t" ] && [ -n "$v" ] && awk -v t="$t" -v v="$v" \
            'BEGIN {printf "  PyTorch (SDPA, bf16) %.3f s per forward; vgen / PyTorch time: %.2fx\n", t, v / t}'
    fi
    echo "  result: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
} | tee "$OUT/summary.txt"
exit $status
