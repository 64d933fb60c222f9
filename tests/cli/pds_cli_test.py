# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared pieces of the CLI integration tests: TAP output, network namespaces
joined by a veth pair, an HTTP/1.1 server and client inside them, and a small
pcap/pcapng reader that digests TCP flows (packet count and a hash of the
payload bytes per direction) so two captures can be compared."""

import hashlib
import os
import signal
import struct
import subprocess
import sys
import time


class Tap:
    """Test Anything Protocol output."""

    def __init__(self, planned):
        self.n = 0
        self.failed = 0
        print(f"1..{planned}", flush=True)

    def check(self, ok, name, details=None):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {name}", flush=True)
        if not ok:
            self.failed += 1
            for line in (details or "").splitlines():
                print(f"# {line}", flush=True)
        return ok

    def diag(self, text):
        for line in text.splitlines():
            print(f"# {line}", flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)


def skip_all(reason):
    print(f"1..0 # SKIP {reason}", flush=True)
    sys.exit(0)


def bail_out(reason):
    print(f"Bail out! {reason}", flush=True)
    sys.exit(1)


def build_root():
    root = os.environ.get("PDS_BUILD_ROOT")
    if not root:
        bail_out("PDS_BUILD_ROOT is not set (run through meson test)")
    return root


def ip(*args):
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class NetnsPair:
    """Two namespaces <prefix>-a (10.x.0.1) and <prefix>-b (10.x.0.2), eth0 in each."""

    def __init__(self, prefix, subnet):
        self.a = f"{prefix}-a"
        self.b = f"{prefix}-b"
        self.addr_a = f"{subnet}.1"
        self.addr_b = f"{subnet}.2"
        self.created = []
        for ns in (self.a, self.b):
            ip("netns", "add", ns)
            self.created.append(ns)
        ip("link", "add", "eth0", "netns", self.a, "type", "veth", "peer", "name", "eth0",
           "netns", self.b)
        ip("-n", self.a, "address", "add", f"{self.addr_a}/24", "dev", "eth0")
        ip("-n", self.b, "address", "add", f"{self.addr_b}/24", "dev", "eth0")
        for ns in (self.a, self.b):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", "eth0", "up")

    def remove(self):
        for ns in self.created:
            subprocess.run(["ip", "netns", "delete", ns], stderr=subprocess.DEVNULL)
        self.created = []


# An HTTP/1.1 server (keep-alive) serving a directory; python3's standard library.
HTTP_SERVER = r"""
import functools, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
h = functools.partial(H, directory=sys.argv[3])
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), h).serve_forever()
"""


def start_http_server(netns, address, port, directory):
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", HTTP_SERVER,
                             address, str(port), directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Ready when a connection succeeds.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-s", "-o", "/dev/null",
                            f"http://{address}:{port}/"], stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return proc
        time.sleep(0.1)
    proc.kill()
    bail_out(f"HTTP server in {netns} did not come up: {proc.stderr.read().decode()}")


def make_site(directory):
    """A few files: small, medium and one of 1 MiB (many segments)."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "index.html"), "w") as f:
        f.write("<html><body>PodScope test</body></html>\n")
    with open(os.path.join(directory, "medium.txt"), "w") as f:
        f.write("".join(f"line {i} of a medium file\n" for i in range(2000)))
    with open(os.path.join(directory, "big.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    return ["index.html", "medium.txt", "big.bin"]


def curl(netns, urls):
    """One curl: several URLs on one kept-alive connection. Returns the status codes."""
    r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-s", "--max-time", "20",
                        "-w", "%{http_code}\\n", *sum((["-o", "/dev/null", u] for u in urls), [])],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.stdout.split()


def start_tcpdump(netns, path, interface="eth0"):
    # A big buffer (-B, KiB): veth carries 64 KiB GSO packets, and a reference
    # that drops is no reference.
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "tcpdump", "-i", interface, "-U",
                             "-B", "131072", "-s", "262144", "--immediate-mode", "-w", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    if "listening on" not in line:
        proc.kill()
        bail_out(f"tcpdump in {netns} did not start: {line}")
    return proc


def stop_tcpdump(proc):
    """Stops tcpdump; returns how many packets the kernel dropped (None if unknown)."""
    stop_process(proc)
    text = proc.stderr.read()
    for line in text.splitlines():
        if "dropped by kernel" in line:
            return int(line.split()[0])
    return None


def stop_process(proc, sig=signal.SIGINT, timeout=30):
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


# ---- captures ----

def _blocks(data):
    """pcapng blocks: yields (type, body, big_endian)."""
    pos = 0
    endian = "<"
    while pos + 12 <= len(data):
        btype_le = struct.unpack_from("<I", data, pos)[0]
        if btype_le == 0x0A0D0D0A:
            magic = data[pos + 8:pos + 12]
            endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(endian + "II", data, pos)
        if blen < 12 or pos + blen > len(data):
            raise ValueError(f"truncated or malformed block at offset {pos}")
        yield btype, data[pos + 8:pos + blen - 4], endian
        pos += blen
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes after the last block")


def _idb_name(body, endian):
    pos = 8
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, pos)
        if code == 0:
            break
        if code == 2:
            return body[pos + 4:pos + 4 + length].decode("utf-8", "replace")
        pos += 4 + ((length + 3) & ~3)
    return None


def read_packets(path):
    """Yields (interface_name, linktype, packet bytes) for pcap and pcapng files."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = "<" if magic[0] in (0xd4, 0x4d) else ">"
        linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
        pos = 24
        while pos + 16 <= len(data):
            caplen = struct.unpack_from(endian + "I", data, pos + 8)[0]
            yield None, linktype, data[pos + 16:pos + 16 + caplen]
            pos += 16 + caplen
        return
    interfaces = []
    for btype, body, endian in _blocks(data):
        if btype == 0x0A0D0D0A:
            interfaces = []
        elif btype == 1:
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            interfaces.append((_idb_name(body, endian), linktype))
        elif btype == 6:
            if_id, _, _, caplen, _ = struct.unpack_from(endian + "IIIII", body, 0)
            name, linktype = interfaces[if_id]
            yield name, linktype, body[20:20 + caplen]


def _tcp_of(linktype, pkt):
    """(src, sport, dst, dport, payload) of an IPv4/IPv6 TCP packet, or None."""
    if linktype == 1:  # Ethernet
        if len(pkt) < 14:
            return None
        ethertype = struct.unpack_from("!H", pkt, 12)[0]
        off = 14
        if ethertype == 0x8100:
            ethertype = struct.unpack_from("!H", pkt, 16)[0]
            off = 18
    elif linktype == 113:  # Linux cooked v1 (any)
        ethertype = struct.unpack_from("!H", pkt, 14)[0]
        off = 16
    elif linktype == 276:  # Linux cooked v2 (any)
        ethertype = struct.unpack_from("!H", pkt, 0)[0]
        off = 20
    else:
        return None
    if ethertype == 0x0800:
        ihl = (pkt[off] & 0x0F) * 4
        total = struct.unpack_from("!H", pkt, off + 2)[0]
        if pkt[off + 9] != 6:
            return None
        src = ".".join(str(b) for b in pkt[off + 12:off + 16])
        dst = ".".join(str(b) for b in pkt[off + 16:off + 20])
        tcp = off + ihl
        # BIG TCP packets carry total length 0; the capture then ends the packet.
        end = off + total if total else len(pkt)
    elif ethertype == 0x86DD:
        if pkt[off + 6] != 6:
            return None
        plen = struct.unpack_from("!H", pkt, off + 4)[0]
        src = pkt[off + 8:off + 24].hex()
        dst = pkt[off + 24:off + 40].hex()
        tcp = off + 40
        end = tcp + plen
    else:
        return None
    sport, dport = struct.unpack_from("!HH", pkt, tcp)
    doff = (pkt[tcp + 12] >> 4) * 4
    return src, sport, dst, dport, pkt[tcp + doff:end]


def tcp_flows(path, interface_name=None, port=None):
    """{(src, sport, dst, dport): [packets, sha256 of the payload in order]} of one
    interface (pcapng if_name; None: every packet of a pcap file)."""
    flows = {}
    for name, linktype, pkt in read_packets(path):
        if interface_name is not None and name != interface_name:
            continue
        t = _tcp_of(linktype, pkt)
        if t is None:
            continue
        src, sport, dst, dport, payload = t
        if port is not None and port not in (sport, dport):
            continue
        entry = flows.setdefault((src, sport, dst, dport), [0, hashlib.sha256()])
        entry[0] += 1
        entry[1].update(payload)
    return {k: (v[0], v[1].hexdigest()) for k, v in flows.items()}


def compare_flows(reference, candidate):
    """Text describing where @candidate lacks or differs from @reference; '' if same."""
    out = []
    for key, (count, digest) in sorted(reference.items()):
        got = candidate.get(key)
        if got is None:
            out.append(f"flow {key}: {count} packets in the reference, missing")
        elif got != (count, digest):
            out.append(f"flow {key}: reference {count} packets {digest[:12]}, "
                       f"got {got[0]} packets {got[1][:12]}")
    for key in sorted(set(candidate) - set(reference)):
        out.append(f"flow {key}: {candidate[key][0]} packets not in the reference")
    return "\n".join(out)


def interface_names(path):
    names = set()
    with open(path, "rb") as f:
        data = f.read()
    for btype, body, endian in _blocks(data):
        if btype == 1:
            names.add(_idb_name(body, endian))
    return names
