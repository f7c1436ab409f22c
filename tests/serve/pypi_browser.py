"""The web page at / in headless Chromium (Debian's chromium package), driven over
the DevTools protocol: the page submits a prompt, shows progress, and the <video>
element loads the returned MP4 (decoded by the browser: 64x64).
usage: pypi_browser.py VGEN SOURCE_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websocket  # websocket-client, from tests/serve/setup-venv.sh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, fail, ok  # noqa: E402

vgen, src = sys.argv[1], sys.argv[2]
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    fail("chromium is not installed (scripts/install-deps.sh installs it)")

with tempfile.TemporaryDirectory() as tmp:
    srv = Server(vgen, os.path.join(src, "models/demo-wan"), tmp).start()
    prof = os.path.join(tmp, "profile")
    br = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-dev-shm-usage", "--remote-debugging-port=0", "--user-data-dir=" + prof,
                           "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ws_url, deadline = None, time.time() + 30
        while time.time() < deadline and not ws_url:
            line = br.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                ws_url = m.group(1)
            elif br.poll() is not None:
                fail("chromium exited %d" % br.returncode)
        if not ws_url:
            fail("chromium did not open its DevTools port")
        port = urllib.parse.urlparse(ws_url).port
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        seq = [0]

        def cdp(method, **params):
            seq[0] += 1
            ws.send(json.dumps({"id": seq[0], "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == seq[0]:
                    if "error" in msg:
                        fail("%s: %s" % (method, msg["error"]))
                    return msg.get("result", {})

        def js(expr):
            r = cdp("Runtime.evaluate", expression=expr, returnByValue=True)
            return r.get("result", {}).get("value")

        q = urllib.parse.urlencode({"prompt": "a red circle moving right on a blue background", "height": 64,
                                    "width": 64, "num_frames": 9, "num_inference_steps": 4, "seed": 5,
                                    "autorun": 1})
        cdp("Page.enable")
        cdp("Page.navigate", url=srv.url + "/?" + q)
        states, deadline = set(), time.time() + 90
        while time.time() < deadline:
            st = js("document.body && document.body.dataset.video || ''")
            states.add(js("(document.getElementById('state') || {}).textContent || ''").split(": ")[-1].split(" (")[0])
            if st in ("loaded", "error"):
                break
            time.sleep(0.2)
        if st != "loaded":
            fail("the <video> did not load (state %r, page said %r, error %r)" %
                 (st, states, js("document.getElementById('error').textContent")))
        w, h, dur = js("[document.getElementById('video').videoWidth, document.getElementById('video').videoHeight,"
                       " document.getElementById('video').duration]")
        if (w, h) != (64, 64) or not 0.4 < dur < 0.7:
            fail("the browser decoded a %dx%d video of %.3f s (want 64x64, 9 frames at 16 fps)" % (w, h, dur))
        rows = js("document.querySelectorAll('#recent tr').length")
        if not rows:
            fail("the recent jobs table is empty")
        # "Will it fit?": the plan of the same job, without running it
        js("document.getElementById('fit').click()")
        deadline = time.time() + 30
        while time.time() < deadline and not js("document.getElementById('plan').dataset.fits || ''"):
            time.sleep(0.2)
        plan = js("document.getElementById('plan').textContent")
        if js("document.getElementById('plan').dataset.fits") != "yes" or "policy" not in plan or "denoise" not in plan:
            fail("the page's plan: %r (error %r)" % (plan, js("document.getElementById('error').textContent")))
        ws.close()
    finally:
        br.terminate()
        try:
            br.wait(timeout=10)
        except subprocess.TimeoutExpired:
            br.kill()
    srv.stop()
    ok("headless Chromium: the page submitted the prompt, showed %s, played the %dx%d MP4 (%.2f s), and "
       "answered 'Will it fit?' with the plan" %
       (" -> ".join(s for s in ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"] if s in states), w, h, dur))
