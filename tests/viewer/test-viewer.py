#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The web viewer end to end: `podscope tap --netns SERVER --open -w FILE`
against a real HTTP server in a network namespace, real curl requests from a
second namespace, the hub's data API refusing requests without the token,
and the page driven in real headless Chromium through chromedriver."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ.get("PDS_SOURCE_ROOT", "."), "tests", "cli"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pds_cli_test as t  # noqa: E402
import viewerdriver as vd  # noqa: E402

N_FIRST = 6
N_LATER = 3
# Blocks a viewer that stops acknowledging may fall behind before it skips.
MAX_LAG = 500


def rows(browser, table):
    """[[cell text, ...], ...] of a table's body as the page shows it."""
    return browser.run(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))"
        ".map(tr => Array.from(tr.cells).map(td => td.textContent));", f"#{table}")


def paths_with_status(browser):
    got = {}
    for r in rows(browser, "http-table"):
        got[r[3]] = r[4]
    return got


def slow_viewer(tap, pair, port, token, page):
    """A viewer that reads but never acknowledges gets at most the window of
    record batches, then a counted "skipped" once it is too far behind; after
    acknowledging it is served again."""
    status, _, sock, rest = vd.websocket_handshake(
        port, "/v1/live", {"Sec-WebSocket-Protocol": f"podscope.v1, podscope.bearer.{token}"})
    if status != 101:
        tap.check(False, "slow viewer connects", f"{status}")
        tap.check(False, "slow viewer is served again after acknowledging")
        return
    load = subprocess.run(["ip", "netns", "exec", pair.a, "wrk", "-t1", "-c4", "-d3s",
                           f"http://{pair.addr_b}:8080/{page}"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    batches = 0
    max_seq = 0
    skipped = None
    sock.settimeout(20)
    try:
        while skipped is None:
            _, text, rest = vd.websocket_read_text(sock, rest)
            msg = json.loads(text)
            if msg.get("type") == "records":
                batches += 1
                max_seq = max(max_seq, msg["seq"])
            elif msg.get("type") == "skipped":
                skipped = msg
    except (OSError, EOFError, ValueError) as e:
        tap.diag(f"slow viewer: {e}")
    tap.check(skipped is not None and skipped["count"] > 0 and batches <= 4,
              "a viewer that does not acknowledge gets ≤ 4 batches, then “skipped N records”",
              f"batches {batches}, skipped {skipped}\n{load.stdout[-600:]}")
    # Acknowledge what arrived: new records flow again.
    marker = f"after-skip-{os.getpid()}"
    payload = json.dumps({"ack": max_seq}).encode()
    mask = os.urandom(4)
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(frame)
    t.curl(pair.a, [f"http://{pair.addr_b}:8080/{marker}"])
    seen = False
    deadline = time.monotonic() + 20
    try:
        while not seen and time.monotonic() < deadline:
            _, text, rest = vd.websocket_read_text(sock, rest)
            msg = json.loads(text)
            if msg.get("type") == "records":
                seen = any(r.get("http_uri") == f"/{marker}" for r in msg["records"])
                ack = json.dumps({"ack": msg["seq"]}).encode()
                sock.sendall(bytes([0x81, 0x80 | len(ack)]) + mask + bytes(
                    b ^ mask[i % 4] for i, b in enumerate(ack)))
    except (OSError, EOFError, ValueError) as e:
        tap.diag(f"slow viewer: {e}")
    sock.close()
    tap.check(seen, "after acknowledging, the viewer is served new records again")


def main():
    if os.geteuid() != 0:
        t.skip_all("needs root (network namespaces)")
    for prog in (vd.CHROMIUM, vd.CHROMEDRIVER):
        if not os.path.exists(prog):
            t.bail_out(f"{prog} is missing: apt-get install chromium chromium-driver")
    podscope = os.path.join(t.build_root(), "extcap", "podscope")
    log_dir = os.path.join(t.build_root(), "meson-logs")
    os.makedirs(log_dir, exist_ok=True)
    tap = t.Tap(29)
    pid = os.getpid()
    work = tempfile.mkdtemp(prefix="pds-viewer-")
    pair = None
    server = None
    capture = None
    browser = None
    try:
        pair = t.NetnsPair(f"pdsview-{pid}", f"10.{200 + pid % 40}.{pid % 250}")
        site = os.path.join(work, "site")
        t.make_site(site)
        names = [f"page-{pid}-{i}.txt" for i in range(N_FIRST + N_LATER)]
        for name in names:
            with open(os.path.join(site, name), "w") as f:
                f.write(f"{name}\n" * (10 + len(name)))
        server = t.start_http_server(pair.b, pair.addr_b, 8080, site)

        url_file = os.path.join(work, "url")
        browser_script = os.path.join(work, "browser.sh")
        with open(browser_script, "w") as f:
            f.write(f"#!/bin/sh\nprintf '%s\\n' \"$1\" > {url_file}.tmp && "
                    f"mv {url_file}.tmp {url_file}\n")
        os.chmod(browser_script, 0o755)
        env = dict(os.environ, BROWSER=browser_script, LANG="C", LC_ALL="C",
                   PODSCOPE_HUB_LIVE_MAX_LAG=str(MAX_LAG))
        env.pop("DISPLAY", None)
        pcapng = os.path.join(work, "capture.pcapng")
        stderr_path = os.path.join(work, "tap.stderr")
        capture = subprocess.Popen([podscope, "tap", "--netns", pair.b, "--open", "-w", pcapng,
                                    "--log-file", os.path.join(work, "children.log")],
                                   env=env, stdout=subprocess.DEVNULL,
                                   stderr=open(stderr_path, "w"))
        deadline = time.monotonic() + 60
        while not os.path.exists(url_file) and time.monotonic() < deadline:
            if capture.poll() is not None:
                break
            time.sleep(0.1)
        stderr_text = open(stderr_path).read()
        url = open(url_file).read().strip() if os.path.exists(url_file) else ""
        if not tap.check(url.startswith("http://127.0.0.1:") and "/#token=" in url,
                         "--open ran $BROWSER with the viewer URL", stderr_text):
            t.bail_out("no viewer URL")
        tap.check(f"Web viewer: {url}" in stderr_text, "the URL is printed on stderr",
                  stderr_text)
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
        token = parsed.fragment.split("=", 1)[1]
        base = f"http://127.0.0.1:{port}"

        statuses = []
        for i, name in enumerate(names[:N_FIRST]):
            # Every third path does not exist: the server answers 404.
            path = name if i % 3 != 2 else "missing-" + name
            statuses += t.curl(pair.a, [f"http://{pair.addr_b}:8080/{path}"])
        expected = {}
        for i, name in enumerate(names[:N_FIRST]):
            path = "/" + (name if i % 3 != 2 else "missing-" + name)
            expected[f"{pair.addr_b}:8080{path}"] = "200" if i % 3 != 2 else "404"
        tap.check(statuses == [expected[k] for k in expected], "curl got the expected statuses",
                  f"{statuses}")

        # ---- the data API without a browser ----
        status, _, _ = vd.http_get(f"{base}/v1/records")
        tap.check(status == 401, "GET /v1/records without a token: 401", f"{status}")
        status, _, _ = vd.http_get(f"{base}/v1/records", token="0" * 64)
        tap.check(status == 401, "GET /v1/records with a wrong token: 401", f"{status}")
        records = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, _, body = vd.http_get(f"{base}/v1/records?limit=5000", token=token)
            records = json.loads(body) if status == 200 else []
            uris = {r.get("http_uri") for r in records if r.get("event") == "http_exchange"}
            if all(k.split(":8080", 1)[1] in uris for k in expected):
                break
            time.sleep(0.3)
        exchanges = [r for r in records if r.get("event") == "http_exchange"]
        tap.check(len(exchanges) >= N_FIRST and
                  all(k.split(":8080", 1)[1] in {r.get("http_uri") for r in exchanges}
                      for k in expected),
                  "GET /v1/records with the token lists every exchange",
                  json.dumps(records)[:2000])
        indices = [r["index"] for r in records]
        tap.check(indices == sorted(set(indices)) and all(
            r.get("source_namespace") and r.get("source_interface") == "eth0" for r in exchanges),
            "records have increasing indices and their source", json.dumps(records[:3]))
        # Paging two at a time with after= gives the same records, in order.
        paged = []
        after = None
        for _ in range(len(indices) + 2):
            q = "limit=2" + ("" if after is None else f"&after={after}")
            status, hdrs, body = vd.http_get(f"{base}/v1/records?{q}", token=token)
            page = json.loads(body) if status == 200 else []
            if not page:
                break
            paged += [r["index"] for r in page]
            after = page[-1]["index"]
            next_index = int(hdrs.get("X-PodScope-Next-Index", "-1"))
        tap.check(bool(indices) and paged[:len(indices)] == indices and next_index > after,
                  "after= pages through the same records", f"{indices}\n{paged}")

        status, hdrs, sock, _ = vd.websocket_handshake(
            port, "/v1/live", {"Sec-WebSocket-Protocol": "podscope.v1"})
        sock.close()
        tap.check(status == 401 and "upgrade" not in {k for k in hdrs},
                  "WebSocket upgrade without a token: 401, no upgrade", f"{status} {hdrs}")
        status, hdrs, sock, _ = vd.websocket_handshake(
            port, "/v1/live", {"Sec-WebSocket-Protocol": "podscope.v1, podscope.bearer." + "1" * 64})
        sock.close()
        tap.check(status == 401, "WebSocket upgrade with a wrong token: 401", f"{status} {hdrs}")
        status, hdrs, sock, rest = vd.websocket_handshake(
            port, "/v1/live", {"Sec-WebSocket-Protocol": f"podscope.v1, podscope.bearer.{token}"})
        first = ""
        if status == 101:
            try:
                _, first, rest = vd.websocket_read_text(sock, rest)
            except (OSError, EOFError) as e:
                first = f"read failed: {e}"
        sock.close()
        tap.check(status == 101 and hdrs.get("sec-websocket-protocol") == "podscope.v1" and
                  json.loads(first or "{}").get("type") == "hello" if first.startswith("{") else False,
                  "WebSocket upgrade with the token in the subprotocol: 101 and hello",
                  f"{status} {hdrs} {first[:200]}")
        status, hdrs, body = vd.http_get(f"{base}/")
        tap.check(status == 200 and hdrs.get("Content-Type", "").startswith("text/html") and
                  token.encode() not in body and b"viewer.js" in body,
                  "the page itself is served without a token and holds no session data",
                  f"{status} {hdrs}")

        # ---- the page in headless Chromium ----
        browser = vd.Browser(os.path.join(log_dir, "viewer-chromedriver.log"))
        browser.get(url)
        got = browser.wait_for(
            lambda: (lambda g: g if all(g.get(k) == v for k, v in expected.items()) else None)(
                paths_with_status(browser)), timeout=40)
        tap.check(got is not None, f"the exchanges table shows all {N_FIRST} paths with status",
                  json.dumps(paths_with_status(browser)))
        address = browser.current_url()
        tap.check("token" not in address and token not in address,
                  "the token is gone from the address bar", address)
        tap.check(browser.run("return document.getElementById('state').dataset.state") == "live",
                  "the connection state shows live",
                  browser.run("return document.getElementById('state').textContent"))

        row_ttfb = [r for r in rows(browser, "http-table") if r[3].endswith(names[0])]
        tap.check(len(row_ttfb) == 1 and row_ttfb[0][2] == "GET" and
                  float(row_ttfb[0][5] or "-1") >= 0 and float(row_ttfb[0][6] or "-1") > 0 and
                  f"{pair.addr_a}:" in row_ttfb[0][1] and f"{pair.addr_b}:8080" in row_ttfb[0][1],
                  "a row has client → server, method, TTFB and total in ms", f"{row_ttfb}")

        flt = browser.find("#filter")
        browser.type(flt, names[1])
        n = browser.wait_for(lambda: (lambda r: r if len(r) == 1 else None)(
            rows(browser, "http-table")), timeout=5)
        tap.check(n is not None and names[1] in n[0][3], "a substring filter leaves one row",
                  f"{rows(browser, 'http-table')}")
        browser.clear(flt)
        browser.type(flt, "status=404")
        n404 = sum(1 for v in expected.values() if v == "404")
        got = browser.wait_for(lambda: (lambda r: r if len(r) == n404 else None)(
            rows(browser, "http-table")), timeout=5)
        tap.check(got is not None and all(r[4] == "404" for r in got),
                  f"status=404 leaves the {n404} missing paths", f"{rows(browser, 'http-table')}")
        browser.clear(flt)
        browser.type(flt, "path~missing method=GET")
        got = browser.wait_for(lambda: (lambda r: r if len(r) == n404 else None)(
            rows(browser, "http-table")), timeout=5)
        tap.check(got is not None and all("missing" in r[3] for r in got),
                  "path~missing method=GET combines two field terms",
                  f"{rows(browser, 'http-table')}")
        browser.clear(flt)
        browser.run("const f = document.getElementById('filter');"
                    "f.dispatchEvent(new Event('input'));")
        browser.wait_for(lambda: len(rows(browser, "http-table")) >= N_FIRST, timeout=5)

        target = [e for e in browser.find_all("#http-table tbody tr")]
        browser.click(target[0])
        detail = browser.wait_for(lambda: browser.run(
            "const d = document.getElementById('detail'); if (d.hidden) return null;"
            "return Object.fromEntries(Array.from(d.querySelectorAll('tr'))"
            ".map(tr => [tr.dataset.field, tr.cells[1].textContent]));"), timeout=5)
        first_row = rows(browser, "http-table")[0]
        tap.check(bool(detail) and detail.get("http_uri", "") and
                  first_row[3].endswith(detail.get("http_uri", "?")) and
                  detail.get("http_status") == first_row[4] and "t_server" in detail and
                  "src_addr" in detail and "index" in detail,
                  "clicking a row shows all its fields in the detail pane", f"{detail}")

        for name in names[N_FIRST:]:
            t.curl(pair.a, [f"http://{pair.addr_b}:8080/{name}"])
        got = browser.wait_for(
            lambda: all(any(p.endswith(n) and s == "200"
                            for p, s in paths_with_status(browser).items())
                        for n in names[N_FIRST:]), timeout=30)
        tap.check(bool(got), f"{N_LATER} later requests appear live over the WebSocket",
                  json.dumps(paths_with_status(browser)))

        sources = browser.wait_for(lambda: (lambda r: r if any(
            c[0] == pair.b and int(c[4].replace(",", "") or "0") > 0 and c[8] == "live"
            for c in r) else None)(rows(browser, "sources-table")), timeout=10)
        tap.check(bool(sources), "the sources table shows the tapped netns, live, with packets",
                  f"{rows(browser, 'sources-table')}")

        browser.click(browser.find("#download"))
        saved = browser.wait_for(lambda: [f for f in os.listdir(browser.downloads)
                                          if f.endswith(".pcapng")], timeout=20)
        data = b""
        if saved:
            with open(os.path.join(browser.downloads, saved[0]), "rb") as f:
                data = f.read()
        tap.check(data[:4] == b"\x0a\x0d\x0d\x0a" and names[N_FIRST].encode() in data,
                  "Download pcapng saves the session, later requests included",
                  f"{saved} {len(data)} bytes")

        shot = os.path.join(log_dir, "viewer-screenshot.png")
        browser.screenshot(shot)
        with open(shot, "rb") as f:
            png = f.read()
        tap.check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000,
                  f"screenshot saved to {shot}", f"{len(png)} bytes")

        # A wrong token: the page says so instead of retrying for ever.
        browser.get(f"{base}/index.html#token={'2' * 64}")
        state = browser.wait_for(lambda: browser.run(
            "const s = document.getElementById('state').dataset.state;"
            "return s === 'refused' ? s : null;"), timeout=15)
        tap.check(state == "refused", "a wrong token shows “token refused”",
                  browser.run("return document.getElementById('state').textContent"))

        browser.quit()
        browser = None

        slow_viewer(tap, pair, port, token, names[0])

        rc = t.stop_process(capture)
        capture_done = rc == 0 and os.path.getsize(pcapng) > 0
        tap.check(capture_done, "tap --open -w stopped cleanly and wrote the capture",
                  f"rc {rc}\n{open(stderr_path).read()}")
        status = None
        try:
            vd.http_get(f"{base}/", timeout=2)
        except OSError:
            status = "closed"
        tap.check(status == "closed", "the viewer address is gone after the session ends")
    finally:
        if browser is not None:
            browser.quit()
        if capture is not None and capture.poll() is None:
            t.stop_process(capture)
        if server is not None:
            server.kill()
            server.wait()
        if pair is not None:
            pair.remove()
        if tap.failed == 0:
            subprocess.run(["rm", "-rf", work])
        else:
            tap.diag(f"kept {work}")
    tap.exit()


if __name__ == "__main__":
    main()
