"""schemathesis against /openapi.json: generated requests (valid and invalid) for
every operation; no 5xx, status codes, content types and bodies as documented,
invalid data refused, auth not ignored.
usage: pypi_schemathesis.py VGEN SOURCE_DIR"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
with tempfile.TemporaryDirectory() as tmp:
    keyf = os.path.join(tmp, "key")
    open(keyf, "w").write("st-key\n")
    # small limits: the valid jobs schemathesis generates stay quick
    srv = Server(vgen, os.path.join(src, "models/tiny-wan"), tmp, "--api-key-file", keyf, "--max-height", "32",
                 "--max-width", "32", "--max-frames", "1", "--max-steps", "1").start()
    cmd = [st, "run", srv.url + "/openapi.json", "-H", "Authorization: Bearer st-key",
           "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
           "response_schema_conformance,negative_data_rejection,ignored_auth",
           "--hypothesis-max-examples", "8", "--hypothesis-seed", "1", "--hypothesis-deadline", "None",
           "--hypothesis-suppress-health-check", "all", "--request-timeout", "120000", "--no-color"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=560, env=dict(os.environ, SCHEMATHESIS_TELEMETRY="false"))
    print("\n".join(r.stdout.splitlines()[-25:]))
    srv.call("POST", "/purge-queue", headers={"Authorization": "st-key"})
    if srv.proc.poll() is not None:
        fail("vgen serve died under schemathesis:\n" + srv.log()[-2000:])
    srv.stop()
    if r.returncode != 0:
        fail("schemathesis found failures (exit %d): %s" % (r.returncode, r.stderr[-1500:]))
    ok("schemathesis: every operation conforms to /openapi.json")
