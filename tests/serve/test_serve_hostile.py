"""Auth, the body cap, slow and broken clients, hostile JSON, graceful SIGTERM.
usage: test_serve_hostile.py VGEN SOURCE_DIR"""
import os
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok, small_input  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
KEY = "s3cret-key_123"


def raw(port, data, timeout=5.0, close_write=False):
    """Sends raw bytes; returns what the server answers before closing (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if close_write:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


with tempfile.TemporaryDirectory() as tmp:
    keyf = os.path.join(tmp, "key")
    with open(keyf, "w") as f:
        f.write(KEY + "\n")
    srv = Server(vgen, os.path.join(src, "models/tiny-wan"), tmp, "--api-key-file", keyf, "--max-body", "4KiB",
                 "--conn-timeout", "2", "--max-conns", "80").start()
    bearer = {"Authorization": "Bearer " + KEY}

    # ---- auth: every route but /ping, /health and the page
    for method, path in [("POST", "/run"), ("POST", "/runsync"), ("GET", "/status/x"), ("POST", "/cancel/x"),
                         ("POST", "/retry/x"), ("POST", "/purge-queue"), ("GET", "/metrics"),
                         ("GET", "/openapi.json"), ("GET", "/jobs")]:
        for hdr in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY + "x"},
                    {"Authorization": "Bearer " + KEY[:-1]}]:
            code, j = srv.call(method, path, {"input": small_input()} if method == "POST" else None, headers=hdr)
            if code != 401:
                fail("%s %s with %s answered %d" % (method, path, hdr, code))
    for path in ["/ping", "/health", "/"]:
        code, _ = srv.call("GET", path)
        if code != 200:
            fail("%s without a key answered %d" % (path, code))
    code, j = srv.call("POST", "/runsync", {"input": small_input()}, headers=bearer)
    if code != 200 or j["status"] != "COMPLETED":
        fail("runsync with Bearer: %d %s" % (code, str(j)[:200]))
    code, j = srv.call("GET", "/status/" + j["id"], headers={"Authorization": KEY})   # raw key, as RunPod sends
    if code != 200:
        fail("the raw key: %d" % code)
    code, j = srv.call("GET", "/metrics", headers={"Authorization": "bearer " + KEY})
    if code != 200:
        fail("'bearer' in lower case: %d" % code)
    ok("auth: 36 refused requests (no key, wrong keys, a prefix of the key), Bearer and raw keys accepted")

    # ---- body cap: 413 from Content-Length before reading, and for a chunked body
    big = b'{"input": {"prompt": "' + b"x" * 5000 + b'"}}'
    code, j = srv.call("POST", "/run", big, headers=bearer)
    if code != 413:
        fail("a 5 KB body answered %d" % code)
    head = ("POST /run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/json\r\n\r\n" % KEY).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (1000, b"x" * 1000) for _ in range(8)) + b"0\r\n\r\n"
    ans = raw(srv.port, head + chunks)
    if b" 413 " not in ans.split(b"\r\n")[0]:
        fail("a chunked 8 KB body answered %r" % ans[:100])
    ok("413 for bodies over --max-body (Content-Length and chunked)")

    # ---- hostile JSON inside the cap
    hostile = [b"[" * 2000 + b"]" * 2000, b'{"input": {"prompt": "a\\u0000b"}}', b'{"input": {"prompt": "\xff\xfe"}}',
               b'{"input": {"prompt": "x", "height": 1e400}}', b'{"input": {"prompt": "x", "seed": 1e30}}',
               b'{"input": {"prompt": "x", "num_frames": 99999999999999999999999}}', b"\x00" * 100, b"",
               b'{"input": {"prompt": "x", "height": 64.0}}', b'{"input": null}', b"null", b'"str"']
    for body in hostile:
        code, j = srv.call("POST", "/run", body, headers=bearer)
        if code != 400 or not isinstance(j, dict) or not j.get("errors"):
            fail("hostile body %r answered %d %s" % (body[:40], code, j))
    ok("%d hostile JSON bodies refused with 400 and errors" % len(hostile))

    # ---- broken and slow clients
    for junk in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, b"GARBAGE\r\n\r\n",
                 b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"POST /run HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"]:
        raw(srv.port, junk, timeout=4, close_write=True)
    slow = []
    for i in range(20):   # connections that send a few bytes and then nothing
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"POST /run HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GE")
        slow.append(s)
    t0 = time.time()
    code, j = srv.call("POST", "/runsync", {"input": small_input(seed=9)}, headers=bearer)
    if code != 200 or j["status"] != "COMPLETED":
        fail("a job while 20 slow clients hold connections: %d %s" % (code, str(j)[:200]))
    code, _ = srv.call("GET", "/ping", timeout=2)
    if code != 200:
        fail("/ping with 20 slow clients: %d" % code)
    # the server closes them after --conn-timeout 2 s
    time.sleep(max(0.0, 3.5 - (time.time() - t0)))
    closed = 0
    for s in slow:
        try:
            s.settimeout(3)
            data = s.recv(100)
            closed += data == b"" or data.startswith(b"HTTP/1.1 4")   # closed (perhaps after an error answer)
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass   # still open: a failure below
        s.close()
    if closed != len(slow):
        fail("only %d of %d idle connections were closed by the server" % (closed, len(slow)))
    ok("broken clients ignored; 20 slow clients neither block a job nor /ping, and are closed after --conn-timeout")

    # ---- SIGTERM finishes the running job, then exits 0
    code, j = srv.call("POST", "/run", {"input": small_input(seed=11, num_inference_steps=20)}, headers=bearer)
    jid = j["id"]
    deadline = time.time() + 30
    while time.time() < deadline:
        if srv.call("GET", "/status/" + jid, headers=bearer)[1]["status"] == "IN_PROGRESS":
            break
        time.sleep(0.05)
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=60)
    if rc != 0:
        fail("exit %d after SIGTERM" % rc)
    srv.start()
    code, j = srv.call("GET", "/status/" + jid, headers=bearer)
    if j["status"] != "COMPLETED":
        fail("the job running at SIGTERM ended %s" % j["status"])
    srv.stop()
    ok("SIGTERM: the running job completes, exit 0")
