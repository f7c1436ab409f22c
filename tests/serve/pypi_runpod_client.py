"""RunPod's own Python client (the `runpod` package's Endpoint and Job) against the
local API: run, status, output, run_sync, cancel, health, purge_queue, with an API key.
usage: pypi_runpod_client.py VGEN SOURCE_DIR"""
import base64
import os
import sys
import tempfile
import time

import runpod  # from tests/serve/setup-venv.sh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok, small_input  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as tmp:
    keyf = os.path.join(tmp, "key")
    open(keyf, "w").write("rp-test-key\n")
    srv = Server(vgen, os.path.join(src, "models/tiny-wan"), tmp, "--api-key-file", keyf).start()
    runpod.api_key = "rp-test-key"
    runpod.endpoint_url_base = srv.url + "/v2"
    ep = runpod.Endpoint("local-endpoint")

    job = ep.run(small_input(seed=21))
    st = job.status()
    if st not in ("IN_QUEUE", "IN_PROGRESS", "COMPLETED"):
        fail("Job.status() = %r" % st)
    out = job.output(timeout=60)
    if not out or base64.b64decode(out["video"])[4:8] != b"ftyp" or out["meta"]["seed"] != 21:
        fail("Job.output(): %s" % str(out)[:200])
    if job.status() != "COMPLETED":
        fail("status after output: %s" % job.status())
    ok("Endpoint.run, Job.status, Job.output: an MP4 with meta.seed 21")

    out = ep.run_sync(small_input(seed=22), timeout=60)
    if not out or base64.b64decode(out["video"])[4:8] != b"ftyp" or out["meta"]["seed"] != 22:
        fail("run_sync: %s" % str(out)[:200])
    ok("Endpoint.run_sync returns the output")

    long = ep.run(small_input(seed=23, num_frames=81, num_inference_steps=1000))
    deadline = time.time() + 60
    while long.status() != "IN_PROGRESS" and time.time() < deadline:
        time.sleep(0.1)
    ans = long.cancel(timeout=30)
    if ans.get("status") != "CANCELLED" or long.status() != "CANCELLED":
        fail("Job.cancel: %s, then %s" % (ans, long.status()))
    ok("Job.cancel stops a running job: CANCELLED")

    h = ep.health()
    if h["jobs"]["completed"] < 2 or h["jobs"]["cancelled"] < 1 or h["workers"]["idle"] != 1:
        fail("Endpoint.health: %s" % h)
    for i in range(3):
        ep.run(small_input(seed=30 + i, num_frames=81, num_inference_steps=1000))
    p = ep.purge_queue(timeout=10)
    if p.get("removed", 0) < 2:
        fail("Endpoint.purge_queue: %s" % p)
    for j in srv.call("GET", "/jobs", headers={"Authorization": "rp-test-key"})[1]["jobs"]:
        if j["status"] == "IN_PROGRESS":
            srv.call("POST", "/cancel/" + j["id"], headers={"Authorization": "rp-test-key"})
    ok("Endpoint.health and Endpoint.purge_queue")

    runpod.api_key = "wrong"
    try:
        runpod.Endpoint("local-endpoint").run(small_input())
        fail("a wrong key was accepted")
    except RuntimeError as e:
        if "Unauthorized" not in str(e):
            fail("a wrong key: %s" % e)
    srv.stop()
    ok("a wrong key is refused (the client reports Unauthorized)")
