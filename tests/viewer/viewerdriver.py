# SPDX-License-Identifier: LGPL-2.1-or-later
"""Headless Chromium through chromedriver with the W3C WebDriver protocol,
from Python's standard library only, and a raw WebSocket handshake for the
hub's /v1/live."""

import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriverError(Exception):
    pass


class Browser:
    """One chromedriver and one headless Chromium session with a fresh profile."""

    def __init__(self, log_path):
        self.profile = tempfile.mkdtemp(prefix="pds-viewer-chromium-")
        self.downloads = os.path.join(self.profile, "downloads")
        os.makedirs(self.downloads)
        self.port = free_port()
        self.log = open(log_path, "w")
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = None
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._call("GET", "/status").get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or self.driver.poll() is not None:
                raise WebDriverError("chromedriver did not become ready")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                # As root Chromium needs --no-sandbox; the rest keeps it from
                # talking to anything but the page we open.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", f"--user-data-dir={self.profile}"],
                "prefs": {"download.default_directory": self.downloads,
                          "download.prompt_for_download": False},
            },
        }}}
        value = self._call("POST", "/session", caps)
        self.session = value["sessionId"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return json.loads(res.read())["value"]
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def current_url(self):
        return self.cmd("GET", "/url")

    def run(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in
                self.cmd("POST", "/elements", {"using": "css selector", "value": css})]

    def click(self, element):
        self.cmd("POST", f"/element/{element}/click", {})

    def clear(self, element):
        self.cmd("POST", f"/element/{element}/clear", {})

    def type(self, element, text):
        self.cmd("POST", f"/element/{element}/value", {"text": text})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def wait_for(self, what, timeout=30, interval=0.2):
        """Polls what() until it returns a true value; returns the last value."""
        deadline = time.monotonic() + timeout
        value = what()
        while not value and time.monotonic() < deadline:
            time.sleep(interval)
            value = what()
        return value

    def quit(self):
        try:
            if self.session is not None:
                self.cmd("DELETE", "")
        except (OSError, WebDriverError):
            pass
        self.session = None
        if self.driver.poll() is None:
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.profile])


def websocket_handshake(port, path, headers):
    """Sends a WebSocket upgrade; returns (status, response headers (lowercase), socket)."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    status = int(head_lines[0].split()[1]) if head_lines and head_lines[0] else 0
    hdrs = {}
    for line in head_lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, sock, rest


def websocket_read_text(sock, pending=b""):
    """Reads one unfragmented text frame from the server (unmasked); returns (text, rest)."""
    buf = pending

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("WebSocket closed")
            buf += chunk

    need(2)
    length = buf[1] & 0x7F
    pos = 2
    if length == 126:
        need(4)
        length = int.from_bytes(buf[2:4], "big")
        pos = 4
    elif length == 127:
        need(10)
        length = int.from_bytes(buf[2:10], "big")
        pos = 10
    need(pos + length)
    payload = buf[pos:pos + length]
    return buf[0] & 0x0F, payload.decode("utf-8", "replace"), buf[pos + length:]


def http_get(url, token=None, timeout=10):
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
