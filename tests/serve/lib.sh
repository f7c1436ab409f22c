# Helpers for the vgen serve tests: start a server on a free loopback port, wait
# for it, stop it. Every wait is bounded. Source after setting VGEN and MODEL.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# serve_start DIR [options...]: runs vgen serve in DIR (store DIR/jobs.db, outputs
# DIR/out), sets PORT, PID, URL; waits until /ping answers 200 (30 s at most).
serve_start() {
    local dir=$1; shift
    mkdir -p "$dir"
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$VGEN" serve --model "$MODEL" --port 0 --store "$dir/jobs.db" \
        --outputs "$dir/out" "$@" >>"$dir/log" 2>&1 &
    PID=$!
    PORT=""
    for _ in $(seq 300); do
        PORT=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$dir/log" | tail -1 | sed 's/.*://') || true
        [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$PORT/ping")" = 200 ] && break
        kill -0 "$PID" 2>/dev/null || { cat "$dir/log" >&2; fail "vgen serve exited early"; }
        PORT=""
        sleep 0.1
    done
    [ -n "$PORT" ] || { cat "$dir/log" >&2; fail "vgen serve did not become ready"; }
    URL="http://127.0.0.1:$PORT"
}

# serve_stop: SIGTERM, then wait (20 s at most) for the exit code
serve_stop() {
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fail "vgen serve did not stop within 20 s of SIGTERM"; fi
    wait "$PID" || fail "vgen serve exited with $? after SIGTERM"
}

# json FILE EXPR: a value from a JSON file (python3 -c, stdlib only)
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# wait_status ID WANT [SECONDS]: polls /status/ID until its status is WANT
wait_status() {
    local id=$1 want=$2 secs=${3:-60} st=""
    for _ in $(seq $((secs * 10))); do
        curl -s -m 5 ${AUTH:+-H "$AUTH"} "$URL/status/$id" -o "$T/st.json" || true
        st=$(json "$T/st.json" 'd.get("status")' 2>/dev/null || true)
        [ "$st" = "$want" ] && return 0
        case "$st" in COMPLETED|FAILED|CANCELLED|TIMED_OUT) fail "job $id ended $st, expected $want: $(cat "$T/st.json" | head -c 400)";; esac
        sleep 0.1
    done
    fail "job $id still $st after $secs s (expected $want)"
}
