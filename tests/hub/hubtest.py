# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the podscope-hub tests: a real hub process, TLS sources that
speak the ingest wire, pcapng building/parsing, the API, tshark, TAP."""

import http.client
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

BUILD_ROOT = os.environ.get("PDS_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
HUB_BIN = os.environ.get("PODSCOPE_HUB_BIN", os.path.join(BUILD_ROOT, "hub", "podscope-hub"))
TOOL_BIN = os.path.join(BUILD_ROOT, "tests", "hub", "pds-hub-test-tool")

PEN = 32473
BT_SHB, BT_IDB, BT_NRB, BT_ISB, BT_EPB, BT_CUSTOM = 0x0A0D0D0A, 1, 4, 5, 6, 0xBAD
REC_FILE, REC_FLOW, REC_SOURCE, REC_CONTROL = 1, 2, 3, 4
CTL_HELLO, CTL_START, CTL_ACK, CTL_HEARTBEAT, CTL_CHECKPOINT, CTL_GOODBYE = 1, 2, 3, 4, 5, 6

# ---------------------------------------------------------------- TAP


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[-40:]:
                    print("# " + line, flush=True)
        return cond

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP " + why, flush=True)
        sys.exit(0)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


# ---------------------------------------------------------------- pcapng


def pad4(b):
    return b + b"\0" * ((4 - len(b) % 4) % 4)


def opt(code, value):
    return struct.pack("<HH", code, len(value)) + pad4(value)


def opt_kv(key, value):
    return opt(2988, struct.pack("<I", PEN) + ("%s=%s" % (key, value)).encode())


def opts_end(options):
    return b"".join(options) + (struct.pack("<HH", 0, 0) if options else b"")


def block(btype, body):
    body = pad4(body)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def shb(options=()):
    return block(BT_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opts_end(list(options)))


def idb(name, linktype=1, snaplen=262144):
    return block(BT_IDB, struct.pack("<HHI", linktype, 0, snaplen) +
                 opts_end([opt(2, name.encode()), opt(9, b"\x09")]))


def epb(if_id, ts_ns, data):
    return block(BT_EPB, struct.pack("<IIIII", if_id, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), len(data)) + pad4(data))


def isb(if_id, ts_ns, ifdrop=0):
    return block(BT_ISB, struct.pack("<III", if_id, ts_ns >> 32, ts_ns & 0xFFFFFFFF) +
                 opts_end([opt(5, struct.pack("<Q", ifdrop))]))


def record(rtype, if_id, ts_ns, fields):
    body = b""
    for code, value in fields:
        body += struct.pack("<HH", code, len(value)) + pad4(value)
    body += struct.pack("<HH", 0, 0)
    length = 20 + len(body)
    return struct.pack("<HHIIII", rtype, 1, length, if_id, ts_ns >> 32, ts_ns & 0xFFFFFFFF) + body


def custom(rec):
    return block(BT_CUSTOM, struct.pack("<I", PEN) + rec)


def control(kind, seq=None, source_id=None, message=None):
    fields = [(1, bytes([kind]))]
    if seq is not None:
        fields.append((2, struct.pack("<Q", seq)))
    if source_id is not None:
        fields.append((3, source_id.encode()))
    if message is not None:
        fields.append((4, message.encode()))
    return custom(record(REC_CONTROL, 0xFFFFFFFF, time.time_ns(), fields))


def flow_record(if_id, n):
    return record(REC_FLOW, if_id, time.time_ns(), [
        (1, b"\x01"), (2, struct.pack("<Q", n)),
        (3, bytes([10, 0, 0, 1])), (4, bytes([10, 0, 0, 2])),
        (50, b"GET"), (51, ("/item/%d" % n).encode()), (53, struct.pack("<H", 200))])


def nrb(entries):
    """Name Resolution Block of (IPv4 bytes, name) entries."""
    body = b""
    for addr, name in entries:
        value = bytes(addr) + name.encode() + b"\0"
        body += struct.pack("<HH", 1, len(value)) + pad4(value)
    return block(BT_NRB, body + struct.pack("<HH", 0, 0))


def source_record(kernel_dropped=0, spool_dropped=0):
    return record(REC_SOURCE, 0xFFFFFFFF, time.time_ns(), [
        (1, b"agent"), (8, b"eth0"),
        (10, struct.pack("<Q", kernel_dropped)), (12, struct.pack("<Q", spool_dropped))])


def udp_frame(n, src=(10, 0, 0, 1), dst=(10, 0, 0, 2)):
    payload = ("packet %d " % n).encode() + b"x" * 40
    udp = struct.pack(">HHHH", 40000, 9999, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0, bytes(src), bytes(dst))
    csum = 0
    for i in range(0, 20, 2):
        csum += (ip[i] << 8) | ip[i + 1]
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    ip = ip[:10] + struct.pack(">H", ~csum & 0xFFFF) + ip[12:]
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + udp


def be_block(btype, body):
    body = pad4(body)
    total = 12 + len(body)
    return struct.pack(">II", btype, total) + body + struct.pack(">I", total)


def be_opt(code, value):
    return struct.pack(">HH", code, len(value)) + pad4(value)


def big_endian_header(source_id, pod):
    """SHB + IDB of a big-endian section (records inside stay little-endian)."""
    kv = lambda k, v: be_opt(2988, struct.pack(">I", PEN) + ("%s=%s" % (k, v)).encode())
    shb_opts = kv("source_id", source_id) + kv("namespace", "default") + kv("pod", pod) + struct.pack(">HH", 0, 0)
    out = be_block(BT_SHB, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    out += be_block(BT_IDB, struct.pack(">HHI", 1, 0, 262144) + be_opt(2, b"eth0") + be_opt(9, b"\x09") +
                    struct.pack(">HH", 0, 0))
    return out


def be_control_start(seq):
    rec = record(REC_CONTROL, 0xFFFFFFFF, time.time_ns(), [(1, bytes([CTL_START])), (2, struct.pack("<Q", seq))])
    return be_block(BT_CUSTOM, struct.pack(">I", PEN) + rec)


def be_epb(if_id, ts_ns, data):
    return be_block(BT_EPB, struct.pack(">IIIII", if_id, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), len(data)) +
                    pad4(data))


class PcapngStream:
    """Splits a little-endian pcapng byte stream into blocks."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def blocks(self):
        out = []
        while len(self.buf) >= 12:
            btype, length = struct.unpack_from("<II", self.buf)
            if length < 12 or length % 4:
                raise ValueError("bad block length %d" % length)
            if len(self.buf) < length:
                break
            out.append((btype, self.buf[:length]))
            self.buf = self.buf[length:]
        return out


def parse_control(raw):
    """(kind, seq, message) of a control Custom Block, or None."""
    btype, length, pen = struct.unpack_from("<III", raw)
    if btype != BT_CUSTOM or pen != PEN:
        return None
    rtype, _ver, rlen = struct.unpack_from("<HHI", raw, 12)
    if rtype != REC_CONTROL:
        return None
    p, end = 12 + 20, 12 + rlen
    kind, seq, msg = None, None, None
    while p + 4 <= end:
        code, vlen = struct.unpack_from("<HH", raw, p)
        if code == 0:
            break
        v = raw[p + 4:p + 4 + vlen]
        if code == 1:
            kind = v[0]
        elif code == 2:
            seq = struct.unpack("<Q", v)[0]
        elif code == 4:
            msg = v.decode(errors="replace")
        p += 4 + vlen + ((4 - vlen % 4) % 4)
    return kind, seq, msg


# ---------------------------------------------------------------- a source


class Source:
    def __init__(self, port, certdir, cert="agent-a", source_id="src-a", pod="web-1",
                 namespace="default", ifnames=("eth0",), timeout=10):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_verify_locations(os.path.join(certdir, "ca.crt"))
        if cert:
            ctx.load_cert_chain(os.path.join(certdir, cert + ".crt"), os.path.join(certdir, cert + ".key"))
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="podscope-hub")
        self.source_id = source_id
        self.pod = pod
        self.namespace = namespace
        self.ifnames = ifnames
        self.stream = PcapngStream()
        self.pending = []
        self.acked = 0
        self.goodbye = None
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def header(self):
        b = shb([opt(4, b"podscope-agent 0.1.0"), opt_kv("source_id", self.source_id),
                 opt_kv("role", "agent"), opt_kv("namespace", self.namespace),
                 opt_kv("pod", self.pod), opt_kv("node", "node-1")])
        for name in self.ifnames:
            b += idb(name)
        return b

    def read_controls(self, timeout=10, until=None):
        """Reads until until(kind, seq, msg) is true (or, without until, until the
        timeout or the end of the stream); returns the controls seen."""
        deadline = time.time() + timeout
        seen = []
        while True:
            for btype, raw in self.stream.blocks():
                c = parse_control(raw)
                if c is None:
                    continue
                seen.append(c)
                if c[0] == CTL_ACK and c[1] is not None:
                    self.acked = max(self.acked, c[1])
                if c[0] == CTL_GOODBYE:
                    self.goodbye = c[2]
                if until and until(*c):
                    return seen
            if time.time() > deadline:
                if until is None:
                    return seen
                raise TimeoutError("no matching control within %ss (saw %r)" % (timeout, seen))
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                self.closed = True
                return seen
            self.stream.feed(data)

    def hello(self):
        """Sends the header, returns the HELLO sequence."""
        self.send(self.header())
        seen = self.read_controls(until=lambda k, s, m: k == CTL_HELLO)
        return [c for c in seen if c[0] == CTL_HELLO][0][1]

    def start(self, seq):
        self.send(control(CTL_START, seq))

    def wait_ack(self, seq, timeout=10):
        if self.acked >= seq:
            return self.acked
        self.read_controls(timeout, until=lambda k, s, m: k == CTL_ACK and s >= seq)
        return self.acked

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def packets(first, count, if_id=0):
    now = time.time_ns()
    return b"".join(epb(if_id, now + i * 1000, udp_frame(first + i)) for i in range(count))


# ---------------------------------------------------------------- the hub


class Hub:
    instances = []  # every hub started, so a failing test still stops them all

    @classmethod
    def kill_all(cls):
        for hub in cls.instances:
            if hub.proc and hub.proc.poll() is None:
                hub.proc.kill()
                hub.proc.wait()

    def __init__(self, workdir, certdir, data_dir=None, extra=(), token="t0ken-for-tests"):
        self.workdir = workdir
        self.certdir = certdir
        self.data_dir = data_dir or os.path.join(workdir, "data")
        self.token = token
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(workdir, "hub-%d.log" % time.time_ns())
        with open(os.path.join(workdir, "token"), "w") as f:
            f.write(token + "\n")

    def start(self, timeout=10):
        ready = os.path.join(self.workdir, "ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        self.log = open(self.log_path, "w")
        c = self.certdir
        self.proc = subprocess.Popen(
            [HUB_BIN, "--data-dir", self.data_dir, "--ca", os.path.join(c, "ca.crt"),
             "--cert", os.path.join(c, "podscope-hub.crt"), "--key", os.path.join(c, "podscope-hub.key"),
             "--token-file", os.path.join(self.workdir, "token"),
             "--ingest", "127.0.0.1:0", "--api", "127.0.0.1:0", "--ready-file", ready, "-v"] + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        Hub.instances.append(self)
        deadline = time.time() + timeout
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("hub did not start:\n" + self.read_log())
            time.sleep(0.02)
        with open(ready) as f:
            info = json.load(f)
        self.ingest_port = info["ingest_port"]
        self.api_port = info["api_port"]
        assert info["pid"] == self.proc.pid
        return self

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.read_log():
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def request(self, path, token=True, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=timeout)
        headers = {}
        if token is True:
            headers["Authorization"] = "Bearer " + self.token
        elif token:
            headers["Authorization"] = "Bearer " + token
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, dict(resp.getheaders()), body

    def json(self, path):
        status, _h, body = self.request(path)
        return status, json.loads(body)

    def capture(self, path, query=""):
        status, headers, body = self.request("/v1/capture.pcapng" + query)
        with open(path, "wb") as f:
            f.write(body)
        return status, headers, body


# ---------------------------------------------------------------- tools


def make_certs(workdir):
    certdir = os.path.join(workdir, "certs")
    os.makedirs(certdir, exist_ok=True)
    subprocess.run([TOOL_BIN, "certs", certdir], check=True)
    return certdir


def scan(path):
    r = subprocess.run([TOOL_BIN, "scan", path], capture_output=True, text=True)
    return json.loads(r.stdout) if r.stdout else {"ok": False, "error": r.stderr}


def tshark(path, *args):
    """Runs tshark as an unprivileged user on a copy it can read; returns (rc, stdout, stderr)."""
    tmp = tempfile.mkdtemp(prefix="pds-hub-tshark-")
    os.chmod(tmp, 0o755)
    copy = os.path.join(tmp, os.path.basename(path))
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o644)
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    os.chown(home, 65534, 65534)
    env = dict(os.environ, HOME=home, WIRESHARK_CONFIG_DIR=os.path.join(home, "ws"))
    cmd = ["tshark", "-r", copy] + list(args)
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
    shutil.rmtree(tmp, ignore_errors=True)
    return r.returncode, r.stdout, r.stderr


def chunk_files(data_dir):
    return sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir)
                  if f.startswith("chunk-") and f.endswith(".pcapng"))
