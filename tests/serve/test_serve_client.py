"""vgen serve from a Python HTTP client (urllib): webhooks with retries, runsync's
wait, several clients at once, jobs after a restart.
usage: test_serve_client.py VGEN SOURCE_DIR"""
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok, small_input  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
hooks = []
lock = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with lock:
            hooks.append((time.time(), self.path, body))
            n = sum(1 for h in hooks if h[1] == self.path)
        code = 500 if self.path == "/flaky" and n == 1 else 404 if self.path == "/gone" else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


hook_srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook_srv.serve_forever, daemon=True).start()
hook_url = "http://127.0.0.1:%d" % hook_srv.server_address[1]

with tempfile.TemporaryDirectory() as tmp:
    srv = Server(vgen, os.path.join(src, "models/tiny-wan"), tmp, "--webhook-retry-ms", "300").start()

    # ---- webhooks: POSTed on completion; a 500 is retried; a dead URL is given up after 3 attempts
    code, a = srv.call("POST", "/run", {"input": small_input(seed=1), "webhook": hook_url + "/flaky"})
    code, b = srv.call("POST", "/run", {"input": small_input(seed=2), "webhook": hook_url + "/gone"})
    ja, jb = srv.wait_final(a["id"]), srv.wait_final(b["id"])
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            fl = [h for h in hooks if h[1] == "/flaky"]
            gone = [h for h in hooks if h[1] == "/gone"]
        if len(fl) >= 2 and len(gone) >= 3:
            break
        time.sleep(0.1)
    time.sleep(1.0)   # no more attempts after success or after the third
    with lock:
        fl = [h for h in hooks if h[1] == "/flaky"]
        gone = [h for h in hooks if h[1] == "/gone"]
    if len(fl) != 2 or len(gone) != 3:
        fail("webhook attempts: flaky %d (want 2), gone %d (want 3)" % (len(fl), len(gone)))
    if fl[1][0] - fl[0][0] < 0.25:
        fail("the webhook retry came %.3f s after the failure (want >= 0.3 s)" % (fl[1][0] - fl[0][0]))
    body = fl[1][2]
    if body["id"] != a["id"] or body["status"] != "COMPLETED" or body["output"]["video"] != ja["output"]["video"]:
        fail("the webhook body is not the job's /status: %s" % str(body)[:300])
    ok("webhooks: the /status body on completion, retried after a 500, given up after 3 attempts")

    # ---- runsync: ?wait bounds the wait; a job still running is returned as such
    t0 = time.time()
    # a job far longer than the wait however fast the machine (81 frames, 1000 steps:
    # 0.8 s took 400 steps at 5 frames on a quiet 2-core Zen 4); cancelled right after
    code, j = srv.call("POST", "/runsync?wait=1000",
                       {"input": small_input(seed=5, num_frames=81, num_inference_steps=1000)})
    dt = time.time() - t0
    if code != 200 or j["status"] not in ("IN_QUEUE", "IN_PROGRESS") or not 0.9 <= dt <= 5:
        fail("runsync?wait=1000 on a long job: %d %s after %.2f s" % (code, j, dt))
    srv.call("POST", "/cancel/" + j["id"])
    for bad in ["10", "abc", "300001", ""]:
        code, e = srv.call("POST", "/runsync?wait=" + bad, {"input": small_input()})
        if code != 400 or "wait" not in e["errors"][0]:
            fail("runsync?wait=%s: %d %s" % (bad, code, e))
    ok("runsync?wait: returns the running job after %.2f s; bad waits refused" % dt)

    # ---- several clients at once, each with its own jobs
    results, errors = {}, []

    def client(k):
        try:
            ids = []
            for i in range(2):
                code, j = srv.call("POST", "/run", {"input": small_input(seed=100 * k + i)})
                if code != 200:
                    raise RuntimeError("run answered %d" % code)
                ids.append(j["id"])
            for jid in ids:
                results[jid] = srv.wait_final(jid, timeout=120)
        except Exception as e:   # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    if errors or len(results) != 6 or any(r["status"] != "COMPLETED" for r in results.values()):
        fail("3 clients x 2 jobs: %s %s" % (errors, [r["status"] for r in results.values()]))
    seeds = sorted(r["output"]["meta"]["seed"] for r in results.values())
    if seeds != sorted(100 * k + i for k in range(3) for i in range(2)):
        fail("the jobs' seeds: %s" % seeds)
    ok("3 clients x 2 jobs, one worker: all 6 completed with their own seeds")

    # ---- the store outlives the process: statuses and outputs after a restart
    srv.stop()
    srv.start()
    code, again = srv.call("GET", "/status/" + a["id"])
    if code != 200 or again["output"]["video"] != ja["output"]["video"]:
        fail("after a restart /status/%s is %d %s" % (a["id"], code, str(again)[:200]))
    code, h = srv.call("GET", "/health")
    if h["jobs"]["completed"] < 8:
        fail("after a restart: %s" % h)
    srv.stop()
    ok("after a restart the jobs and their outputs are still there")

    # ---- outputs are dropped --keep-results seconds after completion; the job stays
    srv.args += ["--keep-results", "1"]
    srv.start()
    code, j = srv.call("POST", "/runsync", {"input": small_input(seed=77)})
    if j["status"] != "COMPLETED" or "video" not in j["output"]:
        fail("a job with --keep-results 1: %s" % str(j)[:200])
    deadline = time.time() + 15
    while time.time() < deadline:
        code, e = srv.call("GET", "/status/" + j["id"])
        if "output" not in e:
            break
        time.sleep(0.2)
    if e["status"] != "COMPLETED" or "output" in e or "expired" not in e.get("error", ""):
        fail("after --keep-results: %s" % str(e)[:200])
    srv.stop()
    ok("--keep-results 1: the output is dropped after a second, the job stays COMPLETED with the reason")
hook_srv.shutdown()
