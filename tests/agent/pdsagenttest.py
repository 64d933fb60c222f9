# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the agent's integration tests and the capture benchmark.

A session CA and certificates made with the openssl command, network
namespaces joined by veth pairs, a pcapng parser, and a small hub that speaks
the ingest wire (mutual TLS, SHB + IDBs, CONTROL HELLO/START/ACK/HEARTBEAT)
written from the protocol description, independent of the C implementation.
"""

import os
import socket
import ssl
import struct
import subprocess
import threading
import time

PEN = 32473
BT_SHB = 0x0A0D0D0A
BT_IDB = 1
BT_ISB = 5
BT_EPB = 6
BT_CUSTOM = 0x00000BAD

REC_SOURCE = 3
REC_CONTROL = 4
CTL_KIND, CTL_SEQ, CTL_SOURCE_ID, CTL_MESSAGE = 1, 2, 3, 4
HELLO, START, ACK, HEARTBEAT, CHECKPOINT, GOODBYE = 1, 2, 3, 4, 5, 6

OPENSSL_CNF = """[req]
distinguished_name=dn
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[hub]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:podscope-hub,IP:127.0.0.1{extra}
[agent]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
"""


def run(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw)


def make_certs(directory, hub_ips=()):
    """ca.crt, hub.crt/key (CN podscope-hub) and agent.crt/key in directory."""
    extra = "".join(",IP:%s" % ip for ip in hub_ips)
    cnf = os.path.join(directory, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(OPENSSL_CNF.format(extra=extra))
    d = lambda n: os.path.join(directory, n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", "-new", *ec, "-keyout", d("ca.key"), "-out", d("ca.crt"),
        "-subj", "/CN=podscope-test-ca", "-days", "2", "-config", cnf, "-extensions", "ca")
    for name, cn in (("hub", "podscope-hub"), ("agent", "podscope-agent-test")):
        run("openssl", "req", "-new", *ec, "-keyout", d(name + ".key"), "-out", d(name + ".csr"),
            "-subj", "/CN=" + cn, "-config", cnf)
        run("openssl", "x509", "-req", "-in", d(name + ".csr"), "-CA", d("ca.crt"),
            "-CAkey", d("ca.key"), "-CAcreateserial", "-out", d(name + ".crt"), "-days", "2",
            "-extfile", cnf, "-extensions", name)
    return {k: d(k.replace("_", ".")) for k in
            ("ca_crt", "ca_key", "hub_crt", "hub_key", "agent_crt", "agent_key")}


class NetnsPair:
    """Two namespaces a and b joined by a veth pair (10.<x>.<y>.1 in a, .2 in b)."""

    def __init__(self, prefix):
        pid = os.getpid()
        self.a = "%sa%d" % (prefix, pid)
        self.b = "%sb%d" % (prefix, pid)
        self.if_a = "%sva%d" % (prefix[:4], pid)
        self.if_b = "%svb%d" % (prefix[:4], pid)
        n = pid % 250 + 1
        self.ip_a = "10.214.%d.1" % n
        self.ip_b = "10.214.%d.2" % n

    def __enter__(self):
        try:
            for ns in (self.a, self.b):
                run("ip", "netns", "add", ns)
                run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", self.a, "link", "add", self.if_a, "type", "veth", "peer", "name",
                self.if_b, "netns", self.b)
            run("ip", "-n", self.a, "addr", "add", self.ip_a + "/24", "dev", self.if_a)
            run("ip", "-n", self.b, "addr", "add", self.ip_b + "/24", "dev", self.if_b)
            run("ip", "-n", self.a, "link", "set", self.if_a, "up")
            run("ip", "-n", self.b, "link", "set", self.if_b, "up")
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for ns in (self.a, self.b):
            run("ip", "netns", "del", ns, check=False)
        return False

    def exec(self, ns, *cmd, **kw):
        return run("ip", "netns", "exec", ns, *cmd, **kw)


def send_udp(ns, dst, port, count, size=100, rate_pause_every=100):
    """Sends count UDP datagrams from inside namespace ns."""
    code = ("import socket,time\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "p=b'x'*%d\n"
            "for i in range(%d):\n"
            "    s.sendto(i.to_bytes(4,'big')+p[4:],('%s',%d))\n"
            "    if i %% %d == %d: time.sleep(0.002)\n" %
            (size, count, dst, port, rate_pause_every, rate_pause_every - 1))
    run("ip", "netns", "exec", ns, "python3", "-c", code)


# ---- pcapng -------------------------------------------------------------------

class Block:
    __slots__ = ("type", "body", "endian")

    def __init__(self, btype, body, endian):
        self.type = btype
        self.body = body
        self.endian = endian

    def options(self, offset):
        """[(code, value)] of the options area starting at body offset."""
        out = []
        b = self.body
        while offset + 4 <= len(b):
            code, length = struct.unpack_from(self.endian + "HH", b, offset)
            offset += 4
            if code == 0:
                break
            out.append((code, b[offset:offset + length]))
            offset += (length + 3) & ~3
        return out

    def custom_record(self):
        """(record_type, {code: [values]}) of a PodScope custom block, else None."""
        if self.type != BT_CUSTOM or len(self.body) < 4 + 20:
            return None
        if struct.unpack_from(self.endian + "I", self.body, 0)[0] != PEN:
            return None
        return parse_record(self.body[4:])


def parse_record(rec):
    rtype, _ver, rlen = struct.unpack_from("<HHI", rec, 0)
    fields = {}
    off = 20
    while off + 4 <= rlen:
        code, length = struct.unpack_from("<HH", rec, off)
        off += 4
        if code == 0:
            break
        fields.setdefault(code, []).append(bytes(rec[off:off + length]))
        off += (length + 3) & ~3
    return rtype, fields


class PcapngStream:
    """Incremental pcapng parser: feed bytes, iterate complete blocks."""

    def __init__(self):
        self.buf = bytearray()
        self.endian = "<"

    def feed(self, data):
        self.buf += data

    def blocks(self):
        while len(self.buf) >= 12:
            btype = struct.unpack_from("<I", self.buf, 0)[0]
            if btype == BT_SHB:
                magic = struct.unpack_from("<I", self.buf, 8)[0]
                self.endian = "<" if magic == 0x1A2B3C4D else ">"
            length = struct.unpack_from(self.endian + "I", self.buf, 4)[0]
            if length < 12 or length % 4:
                raise ValueError("bad pcapng block length %d" % length)
            if len(self.buf) < length:
                return
            btype = struct.unpack_from(self.endian + "I", self.buf, 0)[0]
            body = bytes(self.buf[8:length - 4])
            del self.buf[:length]
            yield Block(btype, body, self.endian)


def read_pcapng(path_or_bytes):
    data = path_or_bytes
    if isinstance(path_or_bytes, str):
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    s = PcapngStream()
    s.feed(data)
    return list(s.blocks())


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def block(btype, body):
    body = pad4(body)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def shb(userappl="podscope-test-hub"):
    opt = struct.pack("<HH", 4, len(userappl)) + pad4(userappl.encode()) + b"\0\0\0\0"
    return block(BT_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opt)


def record(rtype, fields):
    body = b""
    for code, value in fields:
        body += struct.pack("<HH", code, len(value)) + pad4(value)
    body += b"\0\0\0\0"
    ts = time.time_ns()
    hdr = struct.pack("<HHIIII", rtype, 1, 20 + len(body), 0, ts >> 32, ts & 0xFFFFFFFF)
    return hdr + body


def control_block(kind, seq=None, source_id=None, message=None):
    fields = [(CTL_KIND, bytes([kind]))]
    if seq is not None:
        fields.append((CTL_SEQ, struct.pack("<Q", seq)))
    if source_id is not None:
        fields.append((CTL_SOURCE_ID, source_id.encode()))
    if message is not None:
        fields.append((CTL_MESSAGE, message.encode()))
    return block(BT_CUSTOM, struct.pack("<I", PEN) + record(REC_CONTROL, fields))


# ---- a hub for tests ------------------------------------------------------------

class HubState:
    """What a hub keeps across restarts: stored data blocks per source."""

    def __init__(self):
        self.lock = threading.Lock()
        self.blocks = {}      # source_id -> [(seq, Block)]
        self.headers = {}     # source_id -> [Block] (SHB, IDBs, ... of the last connection)
        self.last_seq = {}    # source_id -> last stored sequence
        self.connections = 0
        self.goodbyes = []
        self.duplicates = 0
        self.gaps = 0

    def data(self, source_id=None):
        with self.lock:
            if source_id is None:
                return [b for v in self.blocks.values() for _, b in v]
            return [b for _, b in self.blocks.get(source_id, [])]

    def sources(self):
        with self.lock:
            return list(self.blocks.keys() | self.headers.keys())


class TestHub:
    """Ingest side of the wire, per README "Ingest: source -> hub"."""

    def __init__(self, certs, state=None, port=0, heartbeat=1.0):
        self.state = state or HubState()
        self.heartbeat = heartbeat
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(certs["hub_crt"], certs["hub_key"])
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs["ca_crt"])
        self.ctx = ctx
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.errors = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.errors.append("handshake: %s" % e)
            return
        self.conns.append(conn)
        if not self.running:
            conn.close()
            return
        conn.settimeout(self.heartbeat)
        stream = PcapngStream()
        st = self.state
        source_id = None
        next_seq = None
        header = []
        last_sent = time.monotonic()
        with st.lock:
            st.connections += 1
        try:
            while self.running:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    data = None
                except (ssl.SSLError, OSError):
                    return
                if data == b"":
                    return
                out = b""
                if data:
                    stream.feed(data)
                    stored_to = None
                    for b in stream.blocks():
                        rec = b.custom_record()
                        if rec and rec[0] == REC_CONTROL:
                            kind = rec[1][CTL_KIND][0][0]
                            if kind == START:
                                next_seq = struct.unpack("<Q", rec[1][CTL_SEQ][0])[0]
                            elif kind == GOODBYE:
                                with st.lock:
                                    st.goodbyes.append(rec[1].get(CTL_MESSAGE, [b""])[0])
                            continue
                        if b.type == BT_SHB:
                            header = [b]
                            source_id = None
                            for code, v in b.options(16):
                                if code == 2988 and v[4:].startswith(b"source_id="):
                                    source_id = v[4 + len("source_id="):].decode()
                            with st.lock:
                                last = st.last_seq.get(source_id, 0)
                            out += shb() + control_block(HELLO, last, source_id)
                            continue
                        if next_seq is None:
                            header.append(b)
                            with st.lock:
                                st.headers[source_id] = list(header)
                            continue
                        seq = next_seq
                        next_seq += 1
                        with st.lock:
                            last = st.last_seq.get(source_id, 0)
                            if seq <= last:
                                st.duplicates += 1
                                continue
                            if seq != last + 1:
                                st.gaps += 1
                            st.blocks.setdefault(source_id, []).append((seq, b))
                            st.last_seq[source_id] = seq
                        stored_to = seq
                    if stored_to is not None:
                        out += control_block(ACK, stored_to)
                if not out and time.monotonic() - last_sent >= self.heartbeat:
                    out = control_block(HEARTBEAT)
                if out:
                    conn.sendall(out)
                    last_sent = time.monotonic()
        except (ssl.SSLError, OSError) as e:
            self.errors.append(str(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        """Goes away at once, as a killed hub would: no GOODBYE."""
        self.running = False
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = False

    def plan(self, n):
        print("1..%d" % n, flush=True)

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed = True
            print("not ok %d - %s" % (self.n, name), flush=True)
            if diag:
                for line in str(diag).splitlines():
                    print("# " + line, flush=True)
        return cond

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why, flush=True)
