"""Shared helpers for the vgen serve tests (standard library only): start a server
on a free loopback port, wait for it, call it. Every wait is bounded."""
import atexit
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


class Server:
    """vgen serve in `workdir` (store workdir/jobs.db, outputs workdir/out, log workdir/log)."""

    def __init__(self, vgen, model, workdir, *args, env=None):
        self.vgen, self.model, self.dir, self.args = vgen, model, workdir, list(args)
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **(env or {}))
        self.proc, self.port = None, None
        os.makedirs(workdir, exist_ok=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def log(self):
        with open(os.path.join(self.dir, "log"), errors="replace") as f:
            return f.read()

    def start(self, timeout=30):
        logf = open(os.path.join(self.dir, "log"), "a")
        logf.write("--- start\n")
        logf.flush()
        self.proc = subprocess.Popen(
            [self.vgen, "serve", "--model", self.model, "--port", "0", "--store", os.path.join(self.dir, "jobs.db"),
             "--outputs", os.path.join(self.dir, "out")] + self.args,
            stdout=logf, stderr=logf, env=self.env)
        logf.close()
        # a test that ends early (a failed check, a timeout) never leaves a server running
        atexit.register(lambda p=self.proc: p.poll() is None and p.kill())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("vgen serve exited early (%d):\n%s" % (self.proc.returncode, self.log()[-2000:]))
            ports = re.findall(r"listening on http://[0-9.]+:(\d+)", self.log().split("--- start\n")[-1])
            if ports:
                self.port = int(ports[-1])
                try:
                    if urllib.request.urlopen(self.url + "/ping", timeout=2).status == 200:
                        return self
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.05)
        fail("vgen serve not ready within %d s:\n%s" % (timeout, self.log()[-2000:]))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                fail("vgen serve did not stop within %d s of SIGTERM" % timeout)
            if rc != 0:
                fail("vgen serve exited %d after SIGTERM" % rc)

    def call(self, method, path, body=None, headers=None, timeout=60):
        """(HTTP code, parsed JSON or text) of one request."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                code, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, text = e.code, e.read()
        try:
            return code, json.loads(text) if text else None
        except ValueError:
            return code, text.decode(errors="replace")

    def wait_final(self, job_id, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            code, j = self.call("GET", "/status/" + job_id)
            if code == 200 and j["status"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
                return j
            time.sleep(0.1)
        fail("job %s not finished within %d s" % (job_id, timeout))


def small_input(seed=7, **kw):
    d = {"prompt": "a red fox", "height": 64, "width": 64, "num_frames": 5, "num_inference_steps": 2, "seed": seed,
         "guidance_scale": 1.0}   # one text encoding per job: short tests
    d.update(kw)
    return d
