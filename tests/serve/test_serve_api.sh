#!/usr/bin/env bash
# vgen serve's local API driven with curl: jobs run on the warm model and return
# a real MP4 (checked with ffprobe), input checks, ids, cancel, timeout, retry,
# purge, failures that leave the worker serving, outputs as files, metrics.
# usage: test_serve_api.sh VGEN GOLDEN SOURCE_DIR
VGEN=$1
SRC=$3
MODEL="$SRC/models/tiny-wan"
. "$SRC/tests/serve/lib.sh"
T=$(mktemp -d)
trap 'kill -KILL $PID 2>/dev/null || true; rm -rf "$T"' EXIT
SMALL='"prompt": "a red fox", "height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 2, "seed": 7, "guidance_scale": 1.0'
LONG='"prompt": "a red fox", "height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 1000, "seed": 7'

# ---- bad starts: a clear message naming the problem, and a non-zero exit
bad_start() {   # exit code, words of the message, options...
    local want=$1 words=$2; shift 2
    set +e; timeout 30 "$VGEN" serve --port 0 "$@" >"$T/bad.log" 2>&1; local rc=$?; set -e
    [ "$rc" = "$want" ] || fail "vgen serve $* exited $rc, expected $want: $(cat "$T/bad.log")"
    grep -q "$words" "$T/bad.log" || fail "vgen serve $*: the message lacks '$words': $(cat "$T/bad.log")"
}
echo garbage >"$T/bad.db"
bad_start 1 "loading the model failed: /nonexistent" --model /nonexistent --store "$T/x.db"
bad_start 1 "/nonexistent/dir/jobs.db: unable to open" --model "$MODEL" --store /nonexistent/dir/jobs.db
bad_start 1 "bad.db: file is not a database" --model "$MODEL" --store "$T/bad.db"
bad_start 1 "numeric address" --model "$MODEL" --host example.com --store "$T/x.db"
bad_start 2 "from 0 to 65535" --model "$MODEL" --port 99999
bad_start 2 "api-key-file" --model "$MODEL" --api-key-file /dev/null
bad_start 2 "max-body" --model "$MODEL" --max-body 10
bad_start 2 "activations: unknown activation dtype 'fp8'" --model "$MODEL" --activations fp8
bad_start 2 "cfg-batch: unknown guidance batching 'twice'" --model "$MODEL" --cfg-batch twice
bad_start 2 "RUNPOD_WEBHOOK_POST_OUTPUT" --model "$MODEL" --runpod
ok "bad starts: the model, the store, the address, options: one message each, exit 1 or 2"

serve_start "$T/a" --inline-limit 10MB
post() { curl -s -m 60 -o "$T/r.json" -w '%{http_code}' -H 'Content-Type: application/json' "$URL$1" -d "$2"; }

# ---- readiness and health
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ping")" = 200 ] || fail "/ping is not 200 once loaded"
curl -s "$URL/health" -o "$T/h.json"
[ "$(json "$T/h.json" 'd["workers"]["idle"]')" = 1 ] || fail "/health: $(cat "$T/h.json")"
ok "ping and health"

# ---- a job end to end: runsync returns the video inline
code=$(post /runsync "{\"input\": {$SMALL}}")
[ "$code" = 200 ] || fail "/runsync answered $code: $(head -c 300 "$T/r.json")"
[ "$(json "$T/r.json" 'd["status"]')" = COMPLETED ] || fail "runsync: $(head -c 300 "$T/r.json")"
json "$T/r.json" 'd["output"]["video"]' | base64 -d >"$T/v.mp4"
probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$T/v.mp4")
for want in codec_name=h264 width=64 height=64 nb_read_frames=5; do
    grep -qx "$want" <<<"$probe" || fail "the returned video lacks $want: $probe"
done
[ "$(json "$T/r.json" 'd["output"]["meta"]["frames"]')" = 5 ] || fail "meta.frames"
[ "$(json "$T/r.json" 'd["output"]["meta"]["seed"]')" = 7 ] || fail "meta.seed"
# guidance 1.0: one transformer pass per step, so nothing to batch (cfg_batched false)
json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["peak_bytes"] > 0 and "denoise" in d["output"]["meta"]["gpu_memory"]["phases"] and d["output"]["meta"]["gpu_memory"]["cfg_batched"] is False' | grep -qx True || fail "meta.gpu_memory: $(json "$T/r.json" 'd["output"]["meta"]')"
json "$T/r.json" 'd["executionTime"] > 0 and d["delayTime"] >= 0' | grep -qx True || fail "delayTime / executionTime"
ok "runsync: a 5-frame 64x64 H.264 MP4 inline, with meta"

# with guidance the two passes run as one batch where the plan fits (the worker plans auto)
code=$(post /runsync "{\"input\": {${SMALL/\"guidance_scale\": 1.0/\"guidance_scale\": 5.0}}}")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["cfg_batched"]')" = True ] ||
    fail "guidance 5: $(head -c 300 "$T/r.json")"
json "$T/r.json" 'd["output"]["video"]' | base64 -d >"$T/g_batched.mp4"
ok "runsync with guidance: the passes batched (meta.gpu_memory.cfg_batched)"

# plan_only: the plan that job takes, without running it; its planned phases are the ones
# the run just reported
cp "$T/r.json" "$T/ran.json"
code=$(post /runsync "{\"input\": {${SMALL/\"guidance_scale\": 1.0/\"guidance_scale\": 5.0}, \"plan_only\": true}}")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["status"]')" = COMPLETED ] || fail "plan_only: $(head -c 300 "$T/r.json")"
python3 - "$T/r.json" "$T/ran.json" <<'PY' || fail "plan_only's plan is not the run's: $(cat "$T/r.json")"
import json, sys
plan, ran = json.load(open(sys.argv[1]))["output"], json.load(open(sys.argv[2]))["output"]["meta"]
assert "video" not in plan and "path" not in plan
p, m = plan["plan"], ran["gpu_memory"]
assert p["fits"] is True and p["cfg_batched"] is True and p["offload"] == m["offload"]
assert set(p["phases"]) == set(m["phases"])
for k, v in p["phases"].items():
    assert v["planned_bytes"] == m["phases"][k]["planned_bytes"], k
assert p["peak_bytes"] == max(v["planned_bytes"] for v in p["phases"].values())
assert (p["frames"], p["height"], p["width"], p["steps"]) == (ran["frames"], ran["height"], ran["width"], ran["steps"])
PY
ok "runsync with plan_only: the plan the run took, and no video"

# a request may ask for the passes one after the other: the same video
code=$(post /runsync "{\"input\": {${SMALL/\"guidance_scale\": 1.0/\"guidance_scale\": 5.0}, \"cfg_batch\": \"off\"}}")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["cfg_batched"]')" = False ] ||
    fail "cfg_batch off: $(head -c 300 "$T/r.json")"
json "$T/r.json" 'd["output"]["video"]' | base64 -d >"$T/g_two.mp4"
cmp -s "$T/g_batched.mp4" "$T/g_two.mp4" || fail "cfg_batch off gave another video than the batched passes"
ok "runsync with cfg_batch off: two passes per step (meta.gpu_memory.cfg_batched false), the same video"

# activations in bf16 when the request asks, planned and measured (tests/cli/test_generate.sh
# compares the peaks with f32 at a size where the token stream outweighs the fixed scratch)
code=$(post /runsync "{\"input\": {${SMALL/\"guidance_scale\": 1.0/\"guidance_scale\": 5.0}, \"activations\": \"bf16\"}}")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["activations"]')" = bf16 ] &&
    [ "$(json "$T/r.json" "d['output']['meta']['gpu_memory']['phases']['denoise']['peak_bytes'] == d['output']['meta']['gpu_memory']['phases']['denoise']['planned_bytes']")" = True ] ||
    fail "activations bf16: $(json "$T/r.json" "d['output']['meta']['gpu_memory']")"
ok "runsync with bf16 activations: as planned (meta.gpu_memory.activations)"

# the same seed and settings give the same video (the warm state changes nothing)
code=$(post /run "{\"input\": {$SMALL}}")
[ "$code" = 200 ] || fail "/run answered $code"
id=$(json "$T/r.json" 'd["id"]')
[ "$(json "$T/r.json" 'd["status"]')" = IN_QUEUE ] || [ "$(json "$T/r.json" 'd["status"]')" = IN_PROGRESS ] || fail "/run status: $(cat "$T/r.json")"
wait_status "$id" COMPLETED 60
json "$T/st.json" 'd["output"]["video"]' | base64 -d >"$T/v2.mp4"
cmp -s "$T/v.mp4" "$T/v2.mp4" || fail "the same request on the warm model gave another video"
ok "run + status: a warm job gives the same bytes"

# ---- input checks: {"errors": [...]} and 400, nothing queued
before=$(curl -s "$URL/health" | python3 -c 'import json,sys; d=json.load(sys.stdin)["jobs"]; print(sum(d.values()))')
n400=0
check_400() {   # body, a word the errors must name
    n400=$((n400 + 1))
    code=$(post /run "$1")
    [ "$code" = 400 ] || fail "expected 400 for $1, got $code: $(cat "$T/r.json")"
    grep -q "$2" "$T/r.json" || fail "the errors for $1 do not name $2: $(cat "$T/r.json")"
}
check_400 '{"input": {"prompt": "x", "colour": "red"}}' 'input.colour: unknown key'
check_400 '{"input": {"prompt": "x", "height": 100}}' 'input.height'
check_400 '{"input": {"prompt": "x", "num_frames": 6}}' '4k+1'
check_400 '{"input": {"prompt": "x", "num_inference_steps": 0}}' 'num_inference_steps'
check_400 '{"input": {"prompt": "x", "guidance_scale": "high"}}' 'guidance_scale: must be a number'
check_400 '{"input": {"prompt": "x", "seed": -1}}' 'seed'
check_400 '{"input": {"prompt": "x", "seed": "18446744073709551616"}}' 'seed'
check_400 '{"input": {"prompt": "x", "output": "s3"}}' 'output'
check_400 '{"input": {"prompt": "x", "activations": "fp8"}}' 'input.activations'
check_400 '{"input": {"prompt": "x", "cfg_batch": true}}' 'input.cfg_batch'
check_400 '{"input": {"prompt": "x", "plan_only": "yes"}}' 'input.plan_only'
check_400 '{"input": {"prompt": ""}}' 'prompt: must not be empty'
check_400 '{"input": {}}' 'prompt: required'
check_400 '{"prompt": "x"}' 'input: required'
check_400 '{"input": "x"}' 'input: must be an object'
check_400 '{"input": {"prompt": "x"}, "policy": {"executionTimeout": 5}}' 'executionTimeout'
check_400 '{"input": {"prompt": "x"}, "webhook": "ftp://x"}' 'webhook'
check_400 '{"input": {"prompt": "x"}, "id": "../etc"}' '"id: '
check_400 '{"input": {"prompt": "x"}, "s3Config": {}}' 's3Config'
check_400 '{"input": ' 'not valid JSON'
check_400 '[1, 2]' 'JSON object'
check_400 '{"input": {"prompt": "x", "prompt": "y"}}' 'not valid JSON'
code=$(post /run "{\"input\": {\"prompt\": \"x\", \"height\": 100, \"width\": 30, \"fps\": 0}}")
[ "$(json "$T/r.json" 'len(d["errors"])')" = 3 ] || fail "every problem is reported at once: $(cat "$T/r.json")"
after=$(curl -s "$URL/health" | python3 -c 'import json,sys; d=json.load(sys.stdin)["jobs"]; print(sum(d.values()))')
[ "$before" = "$after" ] || fail "refused requests were queued ($before -> $after jobs)"
ok "input checks: $n400 bad requests refused with their errors, none queued"

# ---- routes and methods
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/status/no-such-job")" = 404 ] || fail "unknown id is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" = 404 ] || fail "unknown route is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/run")" = 405 ] || fail "GET /run is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL/health")" = 405 ] || fail "DELETE /health is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/status/$id")" = 200 ] || fail "POST /status is not 200"
# the runpod client's URLs: /v2/<endpoint>/...
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/my-endpoint/status/$id")" = 200 ] || fail "/v2/<endpoint>/status"
curl -s "$URL/openapi.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["openapi"].startswith("3"); assert "/runsync" in d["paths"]' || fail "/openapi.json"
# the schema names every input key the server takes, and no other (the unknown-key error lists them)
post /run '{"input": {"prompt": "x", "colour": "red"}}' >/dev/null
curl -s "$URL/openapi.json" -o "$T/openapi.json"
python3 - "$T/openapi.json" "$T/r.json" <<'PY' || fail "/openapi.json's Input and the keys the server takes differ"
import json, re, sys
schema = set(json.load(open(sys.argv[1]))["components"]["schemas"]["Input"]["properties"])
err = json.load(open(sys.argv[2]))["errors"][0]
taken = set(re.search(r"known: ([^)]*)\)", err).group(1).split(", "))
sys.exit(0 if schema == taken else print(sorted(schema ^ taken)) or 1)
PY
curl -s "$URL/" -o "$T/page.html"
grep -q '<form id="form">' "$T/page.html" || fail "/ is not the page"
ok "404, 405, /v2/<endpoint> prefix, openapi, page"

# ---- idempotent ids
code=$(post /run "{\"id\": \"client-1\", \"input\": {$SMALL}}")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["id"]')" = client-1 ] || fail "client id: $code $(cat "$T/r.json")"
code=$(post /run "{\"input\": {$SMALL}, \"id\": \"client-1\"}")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["id"]')" = client-1 ] || fail "the same id again: $code"
code=$(post /run "{\"id\": \"client-1\", \"input\": {\"prompt\": \"another\"}}")
[ "$code" = 409 ] || fail "the same id for another request is not 409: $code"
wait_status client-1 COMPLETED 60
n=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from jobs where id=?", ("client-1",)).fetchone()[0])' "$T/a/jobs.db")
[ "$n" = 1 ] || fail "client-1 stored $n times"
ok "ids are idempotent (same request: same job; another request: 409)"

# ---- cancel: a queued job at once, a running one at the next step
code=$(post /run "{\"input\": {$LONG}}"); long=$(json "$T/r.json" 'd["id"]')
code=$(post /run "{\"input\": {$SMALL}}"); queued=$(json "$T/r.json" 'd["id"]')
code=$(post "/cancel/$queued" "")
[ "$code" = 200 ] && [ "$(json "$T/r.json" 'd["status"]')" = CANCELLED ] || fail "cancel of a queued job: $code $(cat "$T/r.json")"
for _ in $(seq 600); do   # running, past its first step
    curl -s "$URL/status/$long" -o "$T/st.json"
    [ "$(json "$T/st.json" 'd.get("progress", {}).get("step", 0) >= 1')" = True ] && break
    sleep 0.1
done
[ "$(json "$T/st.json" 'd["status"]')" = IN_PROGRESS ] || fail "the long job is not running: $(cat "$T/st.json")"
t0=$(date +%s%N)
code=$(post "/cancel/$long" "")
t1=$(date +%s%N)
[ "$(json "$T/r.json" 'd["status"]')" = CANCELLED ] || fail "cancel of a running job: $(cat "$T/r.json")"
echo "  cancel of a running job answered in $(( (t1 - t0) / 1000000 )) ms"
code=$(post /runsync "{\"input\": {$SMALL}}")
[ "$(json "$T/r.json" 'd["status"]')" = COMPLETED ] || fail "a job after a cancel: $(head -c 300 "$T/r.json")"
ok "cancel: queued at once, running at the next step, the worker serves on"

# ---- execution timeout
code=$(post /run "{\"input\": {$LONG}, \"policy\": {\"executionTimeout\": 1500}}"); tid=$(json "$T/r.json" 'd["id"]')
wait_status "$tid" TIMED_OUT 60
grep -q "execution timeout of 1500 ms" "$T/st.json" || fail "the timeout's reason: $(cat "$T/st.json")"
json "$T/st.json" 'd["executionTime"] < 15000' | grep -qx True || fail "the timed-out job ran $(json "$T/st.json" 'd["executionTime"]') ms"
ok "execution timeout: TIMED_OUT, stopped within the step"

# ---- retry (TIMED_OUT -> IN_QUEUE) and purge-queue
code=$(post "/retry/$queued" "")
[ "$code" = 400 ] || fail "retry of a CANCELLED job is not 400: $code"
code=$(post "/retry/$tid" "")
[ "$code" = 200 ] || fail "retry of a TIMED_OUT job: $code $(cat "$T/r.json")"
[ "$(json "$T/r.json" 'd["retries"]')" = 1 ] || fail "retries: $(cat "$T/r.json")"
post "/cancel/$tid" "" >/dev/null
for i in 1 2 3; do post /run "{\"input\": {$LONG}}" >/dev/null; done
code=$(post /purge-queue "")
[ "$code" = 200 ] || fail "purge-queue: $code"
json "$T/r.json" 'd["removed"] >= 2' | grep -qx True || fail "purge-queue removed $(cat "$T/r.json")"
curl -s "$URL/jobs?limit=100" | python3 -c '
import json, sys, urllib.request
jobs = json.load(sys.stdin)["jobs"]
running = [j["id"] for j in jobs if j["status"] in ("IN_QUEUE", "IN_PROGRESS")]
for i in running:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/cancel/" + i, data=b"", method="POST"), timeout=40).read()
' "$URL"
curl -s "$URL/health" -o "$T/h.json"
[ "$(json "$T/h.json" 'd["jobs"]["inQueue"] + d["jobs"]["inProgress"]')" = 0 ] || fail "jobs left after purge + cancel: $(cat "$T/h.json")"
ok "retry and purge-queue"

# ---- output as a file on the outputs volume
code=$(post /runsync "{\"input\": {$SMALL, \"output\": \"file\"}}")
path=$(json "$T/r.json" 'd["output"]["path"]')
[ -f "$path" ] || fail "output file $path missing: $(head -c 300 "$T/r.json")"
cmp -s "$path" "$T/v.mp4" || fail "the file differs from the inline video of the same request"
ok "output \"file\": $path"

# ---- metrics
curl -s "$URL/metrics" >"$T/m.txt"
for name in 'vgen_jobs_total{status="COMPLETED"}' 'vgen_jobs_total{status="CANCELLED"}' 'vgen_jobs_total{status="TIMED_OUT"}' \
    vgen_job_duration_seconds_bucket vgen_job_duration_seconds_count vgen_queue_wait_seconds_bucket vgen_jobs_waiting \
    vgen_jobs_running vgen_device_memory_used_bytes 'vgen_device_memory_peak_bytes{phase="decode"}' \
    vgen_denoise_step_seconds_bucket process_resident_memory_bytes; do
    grep -qF "$name" "$T/m.txt" || fail "/metrics lacks $name"
done
completed=$(awk -F' ' '/^vgen_jobs_total\{status="COMPLETED"\}/ {print $2}' "$T/m.txt")
[ "$completed" -ge 5 ] || fail "vgen_jobs_total COMPLETED = $completed"
ok "metrics"
serve_stop

# ---- a video over the inline limit is written to the outputs folder, whole;
# the server's --activations and --cfg-batch are the defaults of requests that do not say
serve_start "$T/b" --inline-limit 1KB --activations bf16 --cfg-batch off
code=$(post /runsync "{\"input\": {$SMALL, \"activations\": \"f32\"}}")
path=$(json "$T/r.json" 'd["output"]["path"]')
cmp -s "$path" "$T/v.mp4" || fail "the video over the inline limit is not the whole video: $(head -c 300 "$T/r.json")"
ok "over the inline limit: returned as a path, never truncated"
code=$(post /runsync "{\"input\": {${SMALL/\"guidance_scale\": 1.0/\"guidance_scale\": 5.0}}}")
[ "$(json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["activations"]')" = bf16 ] &&
    [ "$(json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["cfg_batched"]')" = False ] ||
    fail "the server's --activations bf16 --cfg-batch off: $(json "$T/r.json" "d['output']['meta']['gpu_memory']")"
ok "--activations bf16 --cfg-batch off: what a request leaves out"
serve_stop

# ---- a job that cannot fit the device fails with the reason; the worker serves on
serve_start "$T/c" --device sim:20MiB
code=$(post /runsync "{\"input\": {\"prompt\": \"x\", \"height\": 512, \"width\": 512, \"num_frames\": 33, \"num_inference_steps\": 1}}")
[ "$(json "$T/r.json" 'd["status"]')" = FAILED ] || fail "an out-of-budget job: $(head -c 300 "$T/r.json")"
grep -qi "budget\|fit" "$T/r.json" || fail "the failure does not say why: $(cat "$T/r.json")"
code=$(post /runsync "{\"input\": {$SMALL}}")
[ "$(json "$T/r.json" 'd["status"]')" = COMPLETED ] || fail "the worker did not serve on after a failure: $(head -c 300 "$T/r.json")"
ok "out of budget: FAILED with the reason, the next job completes"
# a cancelled job leaves nothing on the device (the simulated device counts every byte)
resident=$(json "$T/r.json" 'd["output"]["meta"]["gpu_memory"]["resident_bytes"]')
used=$(curl -s "$URL/metrics" | awk '/^vgen_device_memory_used_bytes/ {print $2}')
[ "$used" = "$resident" ] && [ "$used" -gt 0 ] || fail "after a job the device holds $used bytes, resident weights $resident"
code=$(post /run "{\"input\": {$LONG}}"); long=$(json "$T/r.json" 'd["id"]')
for _ in $(seq 600); do
    curl -s "$URL/status/$long" -o "$T/st.json"
    [ "$(json "$T/st.json" 'd.get("progress", {}).get("step", 0) >= 1')" = True ] && break
    sleep 0.1
done
code=$(post "/cancel/$long" "")
[ "$(json "$T/r.json" 'd["status"]')" = CANCELLED ] || fail "cancel on sim: $(cat "$T/r.json")"
used=$(curl -s "$URL/metrics" | awk '/^vgen_device_memory_used_bytes/ {print $2}')
[ "$used" = 0 ] || fail "after a cancel the device still holds $used bytes"
ok "cancel frees the job's device memory (0 bytes after it on sim:20MiB)"
# asked first, the out-of-budget job says it does not fit, and why, without failing;
# planning takes no device memory
code=$(post /runsync "{\"input\": {\"prompt\": \"x\", \"height\": 512, \"width\": 512, \"num_frames\": 33, \"num_inference_steps\": 1, \"plan_only\": true}}")
[ "$(json "$T/r.json" 'd["status"]')" = COMPLETED ] && [ "$(json "$T/r.json" 'd["output"]["plan"]["fits"]')" = False ] &&
    json "$T/r.json" 'd["output"]["plan"]["explain"]' | grep -qi "budget" ||
    fail "plan_only of an out-of-budget job: $(head -c 400 "$T/r.json")"
used=$(curl -s "$URL/metrics" | awk '/^vgen_device_memory_used_bytes/ {print $2}')
[ "$used" = 0 ] || fail "after a plan_only job the device holds $used bytes"
ok "plan_only of a job that cannot fit: fits false, with the reason; nothing on the device"
serve_stop
echo "all serve API checks passed"
