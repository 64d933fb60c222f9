#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TAP: `podscope tap -n NS -l SEL --open` against the fake API server: the
printed web viewer URL reaches the hub through the controller's own
port-forward listener (one WebSocket tunnel per browser connection): the
page without a token, /v1/sources, /v1/records and the /v1/live WebSocket
with it, 401 without it. Root (pods are network namespaces); 77 otherwise."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fakeapi"))
sys.path.insert(0, os.path.join(HERE, "..", "viewer"))

from cluster import FakeCluster  # noqa: E402
import viewerdriver as vd  # noqa: E402

_spec = importlib.util.spec_from_file_location("pds_session_test",
                                               os.path.join(HERE, "test-session.py"))
s = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s)


def wait_for(what, timeout, interval=0.3):
    deadline = time.monotonic() + timeout
    value = what()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = what()
    return value


def run(k, work, checks):
    ns = "viewer-open"
    s.make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    url_file = os.path.join(work, "url")
    browser = os.path.join(work, "browser.sh")
    with open(browser, "w") as f:
        f.write("#!/bin/sh\nprintf '%%s\\n' \"$1\" > %s\n" % url_file)
    os.chmod(browser, 0o755)
    os.environ["BROWSER"] = browser
    os.environ.pop("DISPLAY", None)
    os.environ["LC_ALL"] = "C"
    out = os.path.join(work, "open.pcapng")
    t = s.Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60", "--open"], out)
    try:
        sid = t.session_id()
        t.wait_line(r"1 pod\(s\) tapped", timeout=120)
        m = t.wait_line(r"Web viewer: (http://127\.0\.0\.1:(\d+)/#token=([0-9a-f]{64}))",
                        timeout=30)
        url, port, token = m.group(1), int(m.group(2)), m.group(3)
        checks("the URL with its token is printed", True, url)
        given = wait_for(lambda: os.path.exists(url_file) and open(url_file).read().strip(), 10)
        checks("$BROWSER got the same URL", given == url, f"{given!r}")
        api = s.re.search(r"hub API reachable at 127\.0\.0\.1:(\d+)", t.text())
        checks("the viewer has its own listener, not the capture stream's",
               api is not None and int(api.group(1)) != port, t.text()[-2000:])
        base = f"http://127.0.0.1:{port}"

        status, hdrs, body = vd.http_get(base + "/", timeout=20)
        checks("the page loads through the port-forward without a token",
               status == 200 and hdrs.get("Content-Type", "").startswith("text/html") and
               b"viewer.js" in body, f"{status} {hdrs}")
        status, _, _ = vd.http_get(base + "/viewer/viewer.js", timeout=20)
        checks("its script loads too", status == 200, f"{status}")
        status, _, _ = vd.http_get(base + "/v1/sources", timeout=20)
        checks("/v1/sources without the token: 401", status == 401, f"{status}")

        def web1_source():
            st, _, b = vd.http_get(base + "/v1/sources", token=token, timeout=20)
            if st != 200:
                return None
            return [x for x in json.loads(b) if x.get("pod") == "web-1" and x.get("connected")]
        src = wait_for(web1_source, 30)
        checks("/v1/sources with the token lists the tapped pod", bool(src), f"{src}")

        ip = s.pod_ip(k, ns, "web-1")
        s.http_from_node(k, ip, "/viewer-open-marker")

        def marker():
            st, _, b = vd.http_get(base + "/v1/records", token=token, timeout=20)
            if st != 200:
                return None
            return [r for r in json.loads(b) if r.get("http_uri") == "/viewer-open-marker"]
        recs = wait_for(marker, 30)
        checks("/v1/records shows the request with its pod",
               bool(recs) and recs[0].get("http_status") == 200 and
               recs[0].get("source_pod") == "web-1" and recs[0].get("source_namespace") == ns,
               f"{recs}")

        st, hdrs, sock, rest = vd.websocket_handshake(
            port, "/v1/live", {"Sec-WebSocket-Protocol": f"podscope.v1, podscope.bearer.{token}"})
        texts = []
        try:
            if st == 101:
                for _ in range(10):
                    _, text, rest = vd.websocket_read_text(sock, rest)
                    texts.append(text)
                    if "/viewer-open-marker" in text:
                        break
        except (OSError, EOFError) as e:
            texts.append(f"read failed: {e}")
        sock.close()
        checks("the /v1/live WebSocket works through the tunnel and sends the record",
               st == 101 and any("/viewer-open-marker" in x for x in texts),
               f"{st} {hdrs} {[x[:200] for x in texts]}")
        st, _, sock, _ = vd.websocket_handshake(
            port, "/v1/live", {"Sec-WebSocket-Protocol": "podscope.v1"})
        sock.close()
        checks("the WebSocket without the token: 401", st == 401, f"{st}")

        # The page itself in headless Chromium, through the tunnel.
        browser = vd.Browser(os.path.join(work, "chromedriver.log"))
        try:
            browser.get(url)
            row = browser.wait_for(lambda: browser.run(
                "return Array.from(document.querySelectorAll('#http-table tbody tr'))"
                ".map(tr => Array.from(tr.cells).map(td => td.textContent))"
                ".find(c => c[3].endsWith('/viewer-open-marker')) || null;"), timeout=30)
            state = browser.run("return document.getElementById('state').dataset.state")
            checks("Chromium shows the request live through the port-forward",
                   bool(row) and row[4] == "200" and "web-1" in row[1] and state == "live",
                   f"{row} {state}")
            pods = browser.wait_for(lambda: browser.run(
                "return Array.from(document.querySelectorAll('#sources-table tbody tr'))"
                ".map(tr => tr.cells[0].textContent + '/' + tr.cells[8].textContent)"
                ".filter(t => t === 'web-1/live');"), timeout=10)
            checks("its sources table lists web-1 live", bool(pods), f"{pods}")
        finally:
            browser.quit()

        t.proc.send_signal(signal.SIGINT)
        rc = t.finish(timeout=60)
        checks("podscope exits 0 on SIGINT", rc == 0, f"rc {rc}")
        closed = False
        try:
            vd.http_get(base + "/", timeout=3)
        except OSError:
            closed = True
        checks("the viewer listener is closed after the session", closed)
        checks("nothing of the session is left", s.wait_no_objects(k, sid) == [],
               f"{s.session_objects(k, sid)}")
    finally:
        if t.proc.poll() is None:
            t.proc.send_signal(signal.SIGINT)
            try:
                t.finish(timeout=60)
            except AssertionError:
                pass


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (pods are network namespaces)")
        return 77
    for b in (s.PODSCOPE, s.HUB_BIN, s.AGENT_BIN):
        if not os.access(b, os.X_OK):
            print("Bail out! %s is not built" % b)
            return 1
    planned = 15
    print("1..%d" % planned, flush=True)
    state = {"n": 0, "failed": 0}

    def checks(name, ok, details=""):
        state["n"] += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", state["n"], name), flush=True)
        if not ok:
            state["failed"] += 1
            for line in str(details).splitlines():
                print("# " + line, flush=True)

    work = tempfile.mkdtemp(prefix="pds-viewer-open-")
    with FakeCluster() as k:
        try:
            run(k, work, checks)
        except Exception:
            state["failed"] += 1
            for line in traceback.format_exc().splitlines():
                print("# " + line)
            print("# fake API state dir: %s" % k.state_dir)
    for _ in range(state["n"], planned):
        checks("not reached", False)
    if state["failed"] == 0:
        subprocess.run(["rm", "-rf", work])
    return 1 if state["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
