"""RunPod worker mode against a protocol peer that follows RunPod's documented
worker protocol (job-take long poll with 204 / 429, job-done with progress and
results, heartbeat pings with the running job's id, the raw Authorization key).
usage: test_serve_runpod.py VGEN SOURCE_DIR"""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import fail, ok, small_input  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
KEY = "rp-key-42"
POD = "pod-1"
PING_MS = 300
HOLD_S = 1.5

jobs = [
    {"id": "job-ok", "input": small_input(seed=3)},
    {"id": "job-bad", "input": {"prompt": "x", "colour": "red", "height": 7}},
    {"id": "job-long", "input": small_input(seed=4, num_inference_steps=150, guidance_scale=1.0)},
]
lock = threading.Lock()
takes, done, pings = [], [], []   # (time, path/query, headers, body)
state = {"served": 0, "failed_once": False}


class Peer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        with lock:
            if u.path == "/v2/ep/job-take/" + POD:
                takes.append((time.time(), q, dict(self.headers)))
                if len(takes) == 1:
                    return self.reply(429)          # the first take: too many requests
                if len(takes) <= 3:
                    return self.reply(204)          # then no job, twice
                if state["served"] < len(jobs):
                    j = jobs[state["served"]]
                    state["served"] += 1
                    return self.reply(200, json.dumps(j).encode())
                return self.reply(204)
            if u.path == "/v2/ep/ping/" + POD:
                pings.append((time.time(), q, dict(self.headers)))
                return self.reply(200)
        self.reply(404)

    def do_POST(self):
        u = urlparse(self.path)
        n = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(n))
        parts = u.path.split("/")
        if parts[-1] == "job-long" and body.get("status") == "IN_PROGRESS" and not state.get("held"):
            # hold job-long's first progress post (posted from the job's thread) for a while:
            # the job then lasts at least HOLD_S however fast this machine is, and the
            # heartbeat, on its own thread, must keep pinging meanwhile
            state["held"] = time.time()
            time.sleep(HOLD_S)
        with lock:
            if u.path.startswith("/v2/ep/job-done/" + POD + "/"):
                done.append((time.time(), parts[-1], parse_qs(u.query), dict(self.headers), body))
                if parts[-1] == "job-ok" and "output" in body and "status" not in body and not state["failed_once"]:
                    state["failed_once"] = True
                    return self.reply(502)          # the first result post fails: retried
                return self.reply(200)
        self.reply(404)


peer = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
threading.Thread(target=peer.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d/v2/ep" % peer.server_address[1]
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           RUNPOD_WEBHOOK_GET_JOB=base + "/job-take/$ID?gpu=test",
           RUNPOD_WEBHOOK_POST_OUTPUT=base + "/job-done/$RUNPOD_POD_ID/$ID?gpu=test",
           RUNPOD_WEBHOOK_PING=base + "/ping/$RUNPOD_POD_ID?gpu=test",
           RUNPOD_PING_INTERVAL=str(PING_MS), RUNPOD_POD_ID=POD, RUNPOD_AI_API_KEY=KEY)
with tempfile.TemporaryDirectory() as tmp:
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([vgen, "serve", "--model", os.path.join(src, "models/tiny-wan"), "--outputs",
                             os.path.join(tmp, "out")], env=env, stdout=log, stderr=log)

    def results():
        with lock:
            return {d[1]: d for d in done if "status" not in d[4]}

    # wait for job-long to be running, then SIGTERM: it must still finish
    deadline = time.time() + 120
    while time.time() < deadline:
        with lock:
            started = any(d[1] == "job-long" and d[4].get("status") == "IN_PROGRESS" for d in done)
        if started or proc.poll() is not None:
            break
        time.sleep(0.05)
    if not started:
        fail("job-long never reported progress:\n" + open(os.path.join(tmp, "log")).read()[-2000:])
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("the worker did not stop within 120 s of SIGTERM")
    t_exit = time.time()
    if rc != 0:
        fail("the worker exited %d after SIGTERM" % rc)
    r = results()
    logtext = open(os.path.join(tmp, "log")).read()

    # job-take: raw key, worker id in the path, job_in_progress, 429 back-off
    t0, q0, h0 = takes[0]
    if h0.get("Authorization") != KEY:
        fail("job-take Authorization is %r, not the raw key" % h0.get("Authorization"))
    if q0.get("job_in_progress") != ["0"] or q0.get("gpu") != ["test"]:
        fail("job-take query %s" % q0)
    if takes[1][0] - t0 < 4.5:
        fail("after a 429 the next take came %.2f s later (back-off 5 s)" % (takes[1][0] - t0))
    ok("job-take: raw key, the template's query kept, 429 backs off %.1f s" % (takes[1][0] - t0))

    # job-ok: progress, then the result (retried after a 502), a real MP4
    posts = [d for d in done if d[1] == "job-ok"]
    prog = [d for d in posts if d[4].get("status") == "IN_PROGRESS"]
    final = [d for d in posts if "status" not in d[4]]
    if not prog or prog[0][4]["output"].get("steps") != 2:
        fail("job-ok progress posts: %s" % [d[4] for d in prog])
    if len(final) != 2:
        fail("job-ok result posted %d times; expected a retry after the 502" % len(final))
    d = final[-1]
    if d[2].get("isStream") != ["false"] or d[3].get("X-Request-ID") != "job-ok" or d[3].get("Authorization") != KEY:
        fail("job-done query / headers: %s %s" % (d[2], d[3]))
    mp4 = base64.b64decode(d[4]["output"]["video"])
    p = os.path.join(tmp, "ok.mp4")
    open(p, "wb").write(mp4)
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames",
                            "-of", "default=nw=1", p], capture_output=True, text=True).stdout
    if "codec_name=h264" not in probe or "nb_read_frames=5" not in probe:
        fail("job-ok video: %s" % probe)
    if d[4]["output"]["meta"]["seed"] != 3:
        fail("job-ok meta: %s" % d[4]["output"]["meta"])
    ok("job-done: progress then the result, retried after a 502, headers X-Request-ID and raw key, a 5-frame MP4")

    # job-bad: refused with the reasons, without running
    bad = r.get("job-bad")
    if not bad or "input.colour: unknown key" not in bad[4].get("error", "") or "input.height" not in bad[4]["error"]:
        fail("job-bad: %s" % (bad[4] if bad else None))
    ok("an invalid job is answered {\"error\": ...} naming each problem")

    # job-long: finished after SIGTERM, and nothing taken after it
    lr = r.get("job-long")
    if not lr or "output" not in lr[4]:
        fail("job-long was not finished after SIGTERM: %s" % (lr[4] if lr else None))
    t_long_start = min([d[0] for d in done if d[1] == "job-long"] + [state.get("held") or lr[0]])
    late_takes = [t for t in takes if t[0] > lr[0]]
    if late_takes:
        fail("%d job-takes after SIGTERM's job finished" % len(late_takes))
    ok("SIGTERM: the running job finished and was posted, no job taken after it, exit 0")

    # heartbeat: its own thread, every ~PING_MS, with the running job's id, during the long job too
    during = [p for p in pings if t_long_start <= p[0] <= lr[0]]
    ids = {p[1].get("job_id", [""])[0] for p in during}
    gaps = [b[0] - a[0] for a, b in zip(pings, pings[1:])]
    if len(during) < 3 or "job-long" not in ids:
        fail("%d pings during job-long (ids %s)" % (len(during), ids))
    if max(gaps) > 3 * PING_MS / 1000.0:
        fail("the heartbeat paused %.2f s (interval %d ms)" % (max(gaps), PING_MS))
    if any(p[1].get("runpod_version", [""])[0] == "" for p in pings):
        fail("a ping without runpod_version")
    ok("heartbeat: %d pings, every %.0f ms at most %.0f ms apart, job id sent while running" %
       (len(pings), 1000 * sum(gaps) / len(gaps), 1000 * max(gaps)))
peer.shutdown()
