# SPDX-License-Identifier: LGPL-2.1-or-later
"""Start the fake API server from a test in one line, talk to it, clean up.

    sys.path.insert(0, os.path.join(os.environ["PDS_SOURCE_ROOT"], "tests/k8s/fakeapi"))
    from cluster import FakeCluster
    with FakeCluster() as k:                       # or FakeCluster("--no-ephemeral-containers")
        k.create_namespace("shop", labels={...})
        k.create_pod("shop", "web-1", {"app": "web"}, command=["python3", "-m", "http.server", "8080"])
        k.wait_pod_running("shop", "web-1")
        status, body = k.request("GET", "/api/v1/namespaces/shop/pods")
        k.kubeconfig                               # path; contexts fake, fake-token, fake-exec, ...

From a shell: `python3 cluster.py sweep PREFIX` removes every netns (and the
processes in it) whose name starts with PREFIX.
"""

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import runtime  # noqa: E402


class FakeCluster:
    def __init__(self, *extra_args, state_dir=None, env=None, verbose=False):
        self.extra_args = list(extra_args)
        self.own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="pds-fakeapi-")
        self.env = env
        self.verbose = verbose
        self.proc = None
        self.ready = None

    # ---- lifecycle ----

    def start(self, timeout=30.0):
        ready_path = os.path.join(self.state_dir, "ready.json")
        if os.path.exists(ready_path):
            os.unlink(ready_path)
        cmd = [sys.executable, os.path.join(HERE, "server.py"), "--state-dir", self.state_dir]
        cmd += ["--exit-with-parent"] + self.extra_args + (["-v"] if self.verbose else [])
        env = dict(os.environ)
        env.update(self.env or {})
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(ready_path):
                with open(ready_path) as f:
                    self.ready = json.load(f)
                break
            if self.proc.poll() is not None:
                raise RuntimeError("fake API server exited with %d before it was ready (see %s)"
                                   % (self.proc.returncode, self.state_dir))
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("fake API server not ready after %.0fs" % timeout)
        self.port = self.ready["port"]
        self.server = self.ready["server"]
        self.kubeconfig = self.ready["kubeconfig"]
        self.ca = self.ready["ca"]
        self.token = self.ready["admin_token"]
        self.prefix = self.ready["netns_prefix"]
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.ready and self.ready.get("node_netns"):
            runtime.sweep(self.prefix)
        if self.own_dir and not os.environ.get("PDS_KEEP_FAKEAPI"):
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP ----

    def ssl_context(self, user="admin"):
        ctx = ssl.create_default_context(cafile=self.ca)
        if user == "admin-cert":
            ctx.load_cert_chain(self.ready["admin_cert"], self.ready["admin_key"])
        return ctx

    def request(self, method, path, body=None, user="admin", content_type="application/json",
                headers=None, token=None, timeout=30):
        """(status, parsed JSON or bytes). user: "admin" (bearer token),
        "admin-cert" (client certificate), "viewer", None (anonymous)."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        elif user == "admin":
            h["Authorization"] = "Bearer " + self.token
        elif user == "viewer":
            h["Authorization"] = "Bearer " + self.ready["viewer_token"]
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            h["Content-Type"] = content_type
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(user),
                                           timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
        finally:
            conn.close()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw

    def ok(self, method, path, body=None, **kw):
        st, out = self.request(method, path, body, **kw)
        if st >= 300:
            raise RuntimeError("%s %s -> %d %s" % (method, path, st, out))
        return out

    def watch_lines(self, path, count, timeout=10.0, user="admin"):
        """Reads up to count watch events (dicts) or until timeout."""
        sep = "&" if "?" in path else "?"
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(user),
                                           timeout=timeout)
        conn.request("GET", path + sep + "watch=true&timeoutSeconds=%d" % max(1, int(timeout)),
                     headers={"Authorization": "Bearer " + self.token})
        r = conn.getresponse()
        events = []
        deadline = time.monotonic() + timeout
        try:
            while len(events) < count and time.monotonic() < deadline:
                line = r.readline()
                if not line:
                    break
                events.append(json.loads(line))
        except (socket.timeout, OSError):
            pass
        finally:
            conn.close()
        return events

    # ---- objects ----

    def create_namespace(self, name, labels=None):
        return self.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})

    def create_pod(self, ns, name, labels=None, command=None, containers=None, spec=None, port=None):
        """A pod whose first container runs command inside the pod's netns;
        port adds a tcpSocket readiness probe on it."""
        if containers is None:
            c = {"name": "app", "image": "registry.example/app:1"}
            if command:
                c["command"] = list(command)
            if port:
                c["ports"] = [{"containerPort": port}]
                c["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 1}
            containers = [c]
        s = dict(spec or {})
        s["containers"] = containers
        return self.ok("POST", "/api/v1/namespaces/%s/pods" % ns,
                       {"metadata": {"name": name, "labels": labels or {}}, "spec": s})

    def get(self, path):
        return self.request("GET", path)[1]

    def wait(self, fn, timeout=15.0, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.1)
        raise TimeoutError("timed out waiting for %s (last: %r)" % (what, last))

    def wait_pod_running(self, ns, name, ready=True, timeout=15.0):
        def check():
            st, p = self.request("GET", "/api/v1/namespaces/%s/pods/%s" % (ns, name))
            if st != 200 or p["status"].get("phase") != "Running":
                return None
            if ready and not any(c["type"] == "Ready" and c["status"] == "True"
                                 for c in p["status"].get("conditions") or []):
                return None
            return p
        return self.wait(check, timeout, "pod %s/%s running" % (ns, name))

    def objects(self, label_selector=""):
        import urllib.parse
        return self.ok("GET", "/_fake/objects?labelSelector=" + urllib.parse.quote(label_selector),
                       user=None)["items"]

    def requests(self):
        return self.ok("GET", "/_fake/requests", user=None)["items"]

    def processes(self):
        return self.ok("GET", "/_fake/processes", user=None)["items"]

    def config(self, **kw):
        return self.ok("POST", "/_fake/config", kw, user=None)

    def netns_of(self, ns, pod):
        for p in self.processes():
            if p["namespace"] == ns and p["pod"] == pod:
                return p["netns"]
        return None

    # ---- port-forward (client side of v4.channel.k8s.io) ----

    def portforward(self, ns, pod, port, protocol="v4.channel.k8s.io", user="admin"):
        return PortForward(self, ns, pod, port, protocol, user)


class PortForward:
    """A minimal WebSocket client for pods/<pod>/portforward (test use)."""

    def __init__(self, k, ns, pod, port, protocol, user):
        raw = socket.create_connection(("127.0.0.1", k.port), timeout=10)
        self.sock = k.ssl_context(user).wrap_socket(raw, server_hostname="127.0.0.1")
        key = base64.b64encode(os.urandom(16)).decode()
        hdr = ["GET /api/v1/namespaces/%s/pods/%s/portforward?ports=%d HTTP/1.1" % (ns, pod, port),
               "Host: 127.0.0.1:%d" % k.port, "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
        if protocol:
            hdr.append("Sec-WebSocket-Protocol: " + protocol)
        if user == "admin":
            hdr.append("Authorization: Bearer " + k.token)
        self.sock.sendall(("\r\n".join(hdr) + "\r\n\r\n").encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            resp += chunk
        head, _, rest = resp.partition(b"\r\n\r\n")
        self.status_line = head.split(b"\r\n")[0].decode()
        self.headers = head.decode()
        self.status = int(self.status_line.split()[1])
        self.buf = rest
        self.b64 = protocol == "v4.base64.channel.k8s.io"
        if self.status != 101:
            # Read the JSON body of the refusal.
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            while len(self.buf) < n:
                self.buf += self.sock.recv(n - len(self.buf))
            self.body = json.loads(self.buf[:n] or b"null")

    def _recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, channel, data, opcode=None):
        payload = (bytes([ord("0") + channel]) + base64.b64encode(data)) if self.b64 else bytes([channel]) + data
        op = opcode or (1 if self.b64 else 2)
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | op, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def recv(self, timeout=10.0):
        """(channel, data), ("close", code) or None on EOF."""
        self.sock.settimeout(timeout)
        try:
            b0, b1 = self._recv_exact(2)
        except EOFError:
            return None
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._recv_exact(8))[0]
        payload = self._recv_exact(n)
        op = b0 & 0x0F
        if op == 8:
            return ("close", struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
        if self.b64:
            return payload[0] - ord("0"), base64.b64decode(payload[1:])
        return payload[0], payload[1:]

    def close(self):
        try:
            self.sock.sendall(struct.pack("!BB", 0x88, 0x82) + b"\0\0\0\0" + b"\x03\xe8")
        except OSError:
            pass
        self.sock.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "sweep":
        for n in runtime.sweep(sys.argv[2]):
            print("removed netns", n)
    else:
        sys.stderr.write("usage: cluster.py sweep PREFIX\n")
        sys.exit(2)
