#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR (fuzz_<name>) for SECONDS each,
# seeded with tests/fuzz/corpus/<name>/, and fails if any target finds a crash,
# a leak, a timeout or an out-of-memory.
#
#   CC=clang cmake -S . -B build-fuzz -DVG_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug
#   cmake --build build-fuzz --target fuzz_targets
#   scripts/run-fuzz.sh build-fuzz [SECONDS]
#
# The committed corpus is only read: new inputs go to BUILD_DIR/fuzz-work/<name>/corpus,
# crash reproducers to BUILD_DIR/fuzz-work/<name>/ (replay one with
# `BUILD_DIR/fuzz_<name> FILE`). Environment: VG_FUZZ_MAX_LEN overrides -max_len,
# VG_FUZZ_JOBS > 1 fuzzes each target with that many processes (-fork).
set -u

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
build=$1
secs=${2:-30}
case $secs in ''|*[!0-9]*) echo "run-fuzz: SECONDS must be a whole number, got '$secs'" >&2; exit 2;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
work="$build/fuzz-work"

targets=()
for f in "$build"/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] && targets+=("$f")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "run-fuzz: no fuzz_* executables in $build (configure with -DVG_FUZZ=ON and build fuzz_targets)" >&2
    exit 1
fi

fork=
[ "${VG_FUZZ_JOBS:-1}" -gt 1 ] 2>/dev/null && fork=$VG_FUZZ_JOBS
failed=0
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    name=${name#fuzz_}
    seeds="$root/tests/fuzz/corpus/$name"
    out="$work/$name"
    mkdir -p "$out/corpus"
    # reproducers from an earlier run are not this run's findings
    find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -delete
    # -max_len: room to grow past the largest seed (headers, token lists), 4 KiB at
    # least, 1 MiB at most so each run stays fast.
    maxlen=${VG_FUZZ_MAX_LEN:-}
    if [ -z "$maxlen" ]; then
        largest=0
        if [ -d "$seeds" ]; then
            largest=$(find "$seeds" -type f -printf '%s\n' | sort -n | tail -1)
            largest=${largest:-0}
        else
            echo "run-fuzz: $name: no seed folder $seeds, starting from nothing" >&2
        fi
        maxlen=$((largest * 2))
        [ "$maxlen" -lt 4096 ] && maxlen=4096
        [ "$maxlen" -gt 1048576 ] && maxlen=1048576
    fi
    dirs=("$out/corpus")
    [ -d "$seeds" ] && dirs+=("$seeds")
    echo "== fuzz_$name: ${secs}s, -max_len=$maxlen, seeds: $( [ -d "$seeds" ] && find "$seeds" -type f | wc -l || echo 0)"
    log="$out/log.txt"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
        ${fork:+-fork="$fork"} \
        -print_final_stats=1 -artifact_prefix="$out/" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)' "$log" | sed 's/^/   /'
    arts=$(find "$out" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
    if [ $rc -ne 0 ] || [ -n "$arts" ]; then
        echo "FAIL fuzz_$name (exit $rc); log: $log" >&2
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 | sed 's/^/   /' >&2
        [ -n "$arts" ] && echo "$arts" | sed 's/^/   reproducer: /' >&2
        failed=$((failed + 1))
    else
        echo "ok   fuzz_$name"
    fi
done
echo "$((${#targets[@]} - failed)) passed, $failed failed"
[ $failed -eq 0 ]
