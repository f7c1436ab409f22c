"""Cold start, cold job and warm jobs of vgen serve, against one-shot `vgen generate`
runs of the same job interleaved with the warm jobs (the baseline: what a job costs
without a warm worker). Prints times, bytes copied host to device per job, and ratios.
usage: python3 bench/serve_cold_warm.py [BUILD_DIR] [MODEL] [DEVICE] [ROUNDS]
e.g.   python3 bench/serve_cold_warm.py build models/demo-wan sim:1GiB 3"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "serve"))
from serve_util import Server  # noqa: E402

build = sys.argv[1] if len(sys.argv) > 1 else "build"
model = sys.argv[2] if len(sys.argv) > 2 else "models/demo-wan"
device = sys.argv[3] if len(sys.argv) > 3 else "sim:1GiB"
rounds = int(sys.argv[4] if len(sys.argv) > 4 else 3)
vgen = os.path.abspath(os.path.join(build, "vgen"))
job = {"prompt": "a red circle moving right on a blue background", "height": 64, "width": 64, "num_frames": 17,
       "num_inference_steps": 20, "seed": 42}
print("vgen serve cold/warm: model %s, device %s, job %dx%dx%d frames, %d steps; %s" %
      (model, device, job["height"], job["width"], job["num_frames"], job["num_inference_steps"],
       subprocess.run([vgen, "--version"], capture_output=True, text=True).stdout.splitlines()[-1]))

with tempfile.TemporaryDirectory() as tmp:
    t0 = time.time()
    srv = Server(vgen, os.path.abspath(model), tmp, "--device", device).start(timeout=600)
    cold_start = time.time() - t0

    def run_job():
        t = time.time()
        code, j = srv.call("POST", "/runsync", {"input": job}, timeout=600)
        assert code == 200 and j["status"] == "COMPLETED", j
        m = j["output"]["meta"]
        return time.time() - t, j["executionTime"] / 1000.0, m["gpu_memory"]["upload_bytes"], m["gpu_memory"]["resident_bytes"]

    def one_shot():
        out = os.path.join(tmp, "o.mp4")
        t = time.time()
        subprocess.run([vgen, "generate", "--model", model, "--device", device, "--prompt", job["prompt"],
                        "--height", "64", "--width", "64", "--num-frames", "17", "--steps", "20", "--seed", "42",
                        "--output", out, "--quiet"], check=True, env=srv.env)
        wall = time.time() - t
        side = json.load(open(out + ".json"))
        return wall, side["weight_upload_bytes"]

    cold = run_job()
    warm, shots = [], []
    for _ in range(rounds):   # interleaved: a warm job, then a one-shot process
        warm.append(run_job())
        shots.append(one_shot())
    srv.stop()

med = lambda xs: statistics.median(xs)
w_wall, w_exec = med([w[0] for w in warm]), med([w[1] for w in warm])
s_wall = med([s[0] for s in shots])
print("cold start (process start to /ping 200): %.2f s" % cold_start)
print("cold job (first after start): %.2f s wall, %.2f s executing, %d bytes host->device" % cold[:3])
print("warm jobs (median of %d): %.2f s wall, %.2f s executing, %s bytes host->device each; resident %d bytes" %
      (rounds, w_wall, w_exec, "/".join(str(w[2]) for w in warm), warm[-1][3]))
print("one-shot vgen generate (median of %d): %.2f s wall, %d bytes host->device" % (rounds, s_wall, shots[-1][1]))
print("ratios: warm job / one-shot process %.2f; warm / cold job %.2f; warm upload / cold upload %.3f" %
      (w_wall / s_wall, w_wall / cold[0], warm[-1][2] / cold[2]))
