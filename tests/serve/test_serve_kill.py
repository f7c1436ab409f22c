"""Durability: vgen serve is killed with SIGKILL 20 times while jobs run and while
clients submit; after each restart no accepted job is lost and none completes
twice. A client retries a submission that got no answer with the same id (ids
are idempotent), as a careful client would.
usage: test_serve_kill.py VGEN SOURCE_DIR"""
import base64
import os
import random
import sys
import tempfile
import threading
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok, small_input  # noqa: E402

KILLS = 20
JOBS = 30

vgen, src = sys.argv[1], sys.argv[2]
rng = random.Random(1234)
with tempfile.TemporaryDirectory() as tmp:
    srv = Server(vgen, os.path.join(src, "models/tiny-wan"), tmp).start()
    accepted = set()
    lock = threading.Lock()
    down = threading.Event()
    stop = threading.Event()

    def submitter():
        """Submits JOBS jobs, one every ~0.4 s, each retried with its id until accepted."""
        for k in range(JOBS):
            jid = "kill-%02d" % k
            body = {"id": jid, "input": small_input(seed=k, guidance_scale=1.0, num_inference_steps=12)}
            deadline = time.time() + 120
            while not stop.is_set() and time.time() < deadline:
                try:
                    code, j = srv.call("POST", "/run", body, timeout=10)
                    if code == 200 and j["id"] == jid:
                        with lock:
                            accepted.add(jid)
                        break
                    fail("submission of %s answered %d: %s" % (jid, code, j))
                except (urllib.error.URLError, OSError, ConnectionError):
                    time.sleep(0.05)   # the server is down: try again with the same id
            time.sleep(0.4)

    def job_seconds():
        """How long a completed job ran (kill moments are drawn within that, so that
        they fall during jobs as fast a build as this one runs them); 1.5 before any."""
        with lock:
            ids = sorted(accepted)
        for jid in ids:
            try:
                code, j = srv.call("GET", "/status/" + jid, timeout=5)
                if code == 200 and j.get("status") == "COMPLETED" and j.get("executionTime", 0) > 0:
                    return j["executionTime"] / 1000.0
            except (urllib.error.URLError, OSError):
                return 1.5
        return 1.5

    th = threading.Thread(target=submitter)
    th.start()
    kills_in_job = 0
    for i in range(KILLS):
        # wait for a running job (bounded; not once every job has been submitted and
        # none waits: then the kill finds the worker idle), then kill at a random moment of it
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                code, h = srv.call("GET", "/health", timeout=5)
                if h["jobs"]["inProgress"] > 0 or (not th.is_alive() and h["jobs"]["inQueue"] == 0):
                    break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, job_seconds()))
        try:
            running = srv.call("GET", "/health", timeout=5)[1]["jobs"]["inProgress"] > 0
        except (urllib.error.URLError, OSError):
            running = False
        kills_in_job += running
        srv.kill9()
        srv.start()
    th.join(timeout=180)
    stop.set()
    if len(accepted) != JOBS:
        fail("only %d of %d submissions were accepted" % (len(accepted), JOBS))

    # every accepted job ends, exactly once
    final = {}
    for jid in sorted(accepted):
        final[jid] = srv.wait_final(jid, timeout=120)
    log = srv.log()
    completed = [j for j in final.values() if j["status"] == "COMPLETED"]
    for j in final.values():
        n = log.count("job %s COMPLETED" % j["id"])
        if j["status"] == "COMPLETED":
            if n > 1:
                fail("%s completed %d times" % (j["id"], n))
            mp4 = base64.b64decode(j["output"]["video"])
            if mp4[4:8] != b"ftyp":
                fail("%s: the video is not an MP4" % j["id"])
        elif j["status"] == "FAILED" and "the worker stopped" in j.get("error", ""):
            pass   # killed during each of its attempts: failed with the reason, not lost
        else:
            fail("%s ended %s: %s" % (j["id"], j["status"], j.get("error")))
        if n > 1:
            fail("%s recorded as completed %d times" % (j["id"], n))
    code, h = srv.call("GET", "/health")
    total = sum(h["jobs"].values()) - h["jobs"]["retried"]
    if total != JOBS:
        fail("the store holds %d jobs, %d were submitted" % (total, JOBS))
    srv.stop()
    ok("%d kill -9 (%d during a running job): %d jobs accepted, %d completed once, %d failed after %s, 0 lost, "
       "0 completed twice" % (KILLS, kills_in_job, JOBS, len(completed), JOBS - len(completed),
                              "3 interrupted attempts"))
