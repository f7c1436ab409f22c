"""Load: 10,000 requests from a second process (tests/serve/load.py), 1,000 of
them malformed, 2,000 job submissions, over 32 keep-alive connections, while the
worker runs jobs. Then: the server is alive, every malformed request got a 4xx,
every submission was accepted and is in the store, none twice.
usage: test_serve_load.py VGEN SOURCE_DIR [N]"""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
with tempfile.TemporaryDirectory() as tmp:
    srv = Server(vgen, os.path.join(src, "models/tiny-wan"), tmp).start()
    ids = os.path.join(tmp, "ids")
    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "load.py"),
                          srv.url, str(N), "32", ids], capture_output=True, text=True, timeout=240)
    if out.returncode != 0:
        fail("load.py: %s" % out.stderr[-2000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print("  " + out.stdout.strip())
    if srv.proc.poll() is not None:
        fail("vgen serve died under load (exit %s):\n%s" % (srv.proc.returncode, srv.log()[-2000:]))
    codes = r["codes"]
    if r["requests"] != N:
        fail("%d of %d requests answered" % (r["requests"], N))
    bad = {k: v for k, v in codes.items() if k.startswith("bad ")}
    if sum(bad.values()) != N // 10 or any(not k.split()[1].startswith("4") for k in bad):
        fail("malformed requests answered %s" % bad)
    errors = {k: v for k, v in codes.items() if "error" in k or " 5" in k}
    if errors:
        fail("errors or 5xx under load: %s" % errors)
    accepted = open(ids).read().split()
    if len(accepted) != N // 5 or codes.get("run 200") != N // 5:
        fail("%d of %d submissions accepted" % (len(accepted), N // 5))
    code, h = srv.call("GET", "/health")
    srv.call("POST", "/purge-queue")
    srv.stop()
    db = sqlite3.connect(os.path.join(tmp, "jobs.db"))
    stored = {row[0] for row in db.execute("select id from jobs")}
    rows = db.execute("select count(*) from jobs").fetchone()[0]
    lost = set(accepted) - stored
    if lost or rows != len(stored) or len(stored) != len(accepted):
        fail("%d accepted jobs lost, %d rows for %d ids" % (len(lost), rows, len(stored)))
    ok("%d requests (%d malformed, all 4xx; %d jobs accepted) in %.1f s, %.0f requests/s: 0 crashes, 0 lost jobs, "
       "0 5xx; %d jobs ran meanwhile" % (N, N // 10, len(accepted), r["seconds"], r["per_second"],
                                         h["jobs"]["completed"]))
