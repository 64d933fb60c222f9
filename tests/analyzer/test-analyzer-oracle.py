#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Oracle suite of the analyzer: real HTTP and TLS traffic between two network
namespaces made here, captured with dumpcap, analysed with `podscope analyze
--json`, and compared field by field with tshark's own dissection of the same
file. Prints TAP.

Captures: "basic" (everything once), "reordered" (basic with data segments
swapped in the file), "loss" (10 % of the server's packets dropped by nftables
in its namespace, captured on the client side, so holes, retransmissions and
out-of-order segments are real).

Deliberate differences from tshark, handled in the comparison:
 - A 100 Continue is its own http.response in tshark; we keep it in the same
   exchange as http_interim_status. Response codes are compared as the
   sequence interim + final.
 - http.time (request frame to the frame that completes the response) equals
   our t_server + t_transfer only when frames arrive in order: under loss or
   reordering tshark counts to the frame that fills the last hole, we count to
   the arrival of the last byte. It is compared on the basic capture only.
 - In TLS 1.3 the chosen ALPN travels encrypted (EncryptedExtensions): neither
   side sees it; both report nothing.
 - A HEAD response that says "Transfer-Encoding: chunked" has no body (RFC 9110
   9.3.2, RFC 9112 6.3). tshark 4.0 reads the next response on the connection
   as that body (it shows it as "HTTP chunked response" with the next status
   line as trailer) and so loses one response and the http.time of the rest.
   We follow the RFC; where tshark's list is ours minus the response after a
   HEAD, the difference is reported as explained, and http.time is compared
   up to that HEAD only. In the lossy capture tshark's reassembly of that
   phantom body may never complete and swallow every later response of the
   connection: a tshark list that is ours cut after the HEAD response or later
   is explained the same way.
 - When several requests arrive in one frame (pipelining), tshark gives
   http.time to the first response only; the others are compared by code.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import json

BUILD = os.environ.get("PDS_BUILD_ROOT")
SOURCE = os.environ.get("PDS_SOURCE_ROOT")
PID = os.getpid()
NS_C = "pdsan-c-%d" % PID
NS_S = "pdsan-s-%d" % PID
VETH_C = "pdsac%d" % (PID % 100000)
VETH_S = "pdsas%d" % (PID % 100000)
IP_C, IP_S = "10.231.0.1", "10.231.0.2"
IP6_C, IP6_S = "fd77:5::1", "fd77:5::2"

procs = []
tmpdir = None
n_tests = 0
failed = 0


def tap(ok, desc, diag=None):
    global n_tests, failed
    n_tests += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n_tests, desc), flush=True)
    if diag and not ok:
        for line in str(diag).splitlines()[:40]:
            print("# " + line, flush=True)


def run(args, check=True, **kw):
    return subprocess.run(args, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)


def in_ns(ns, args):
    return ["ip", "netns", "exec", ns] + args


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
    for ns in (NS_C, NS_S):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    if tmpdir:
        if os.environ.get("PDS_ORACLE_KEEP"):
            print("# captures kept in " + tmpdir)
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)


def on_signal(signum, frame):
    cleanup()
    sys.exit(1)


def setup_net():
    run(["ip", "netns", "add", NS_C])
    run(["ip", "netns", "add", NS_S])
    run(["ip", "link", "add", VETH_C, "netns", NS_C, "type", "veth", "peer", "name", VETH_S,
         "netns", NS_S])
    for ns, dev, ip4, ip6 in ((NS_C, VETH_C, IP_C, IP6_C), (NS_S, VETH_S, IP_S, IP6_S)):
        run(in_ns(ns, ["ip", "link", "set", "lo", "up"]))
        run(in_ns(ns, ["ip", "addr", "add", ip4 + "/24", "dev", dev]))
        run(in_ns(ns, ["ip", "addr", "add", ip6 + "/64", "dev", dev, "nodad"]))
        run(in_ns(ns, ["ip", "link", "set", dev, "up"]))
        # Segmentation offload would hand the capture 64 KB "packets".
        if shutil.which("ethtool"):
            run(in_ns(ns, ["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"]),
                check=False)


def start_server(args):
    p = subprocess.Popen(in_ns(NS_S, [sys.executable, os.path.join(SOURCE, "tests", "analyzer",
                                                                   "oracle-servers.py")] + args),
                         stdout=subprocess.PIPE, text=True)
    procs.append(p)
    return int(p.stdout.readline())


def start_capture(ns, dev, path):
    p = subprocess.Popen(in_ns(ns, ["dumpcap", "-i", dev, "-w", path]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    # dumpcap says "Capturing on ..." once packets can flow.
    deadline = time.time() + 20
    while time.time() < deadline:
        line = p.stderr.readline()
        if "Capturing on" in line:
            # The message comes just before the ring is live: leave it a moment.
            time.sleep(0.5)
            return p
        if not line and p.poll() is not None:
            break
    raise RuntimeError("dumpcap did not start in %s" % ns)


def stop_capture(p):
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=20)


def client(args, timeout=40):
    return subprocess.run(in_ns(NS_C, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def raw_http(host, port, payload):
    """Sends @payload at once (pipelined requests) and reads until the server closes."""
    code = ("import socket,sys\n"
            "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=20)\n"
            "s.sendall(sys.argv[3].encode().decode('unicode_escape').encode('latin-1'))\n"
            "while s.recv(65536): pass\n")
    client([sys.executable, "-c", code, host, str(port), payload])


def http_traffic(http_port, http6_port, tls13_port, tls12_port, hrr_port, big):
    base = "http://%s:%d" % (IP_S, http_port)
    body = os.path.join(tmpdir, "body.bin")
    with open(body, "wb") as f:
        f.write(b"x" * 2048)
    # keep-alive: several requests on one connection
    client(["curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o",
            "/dev/null", "-o", "/dev/null", base + "/small", base + "/chunked", base + "/nocontent",
            base + "/large?%d" % big, base + "/etag"])
    client(["curl", "-s", "-o", "/dev/null", "-H", 'If-None-Match: "v1"', base + "/etag"])
    client(["curl", "-s", "-o", "/dev/null", "-I", base + "/small"])
    client(["curl", "-s", "-o", "/dev/null", "-X", "PUT", "-H", "Expect: 100-continue",
            "--data-binary", "@" + body, base + "/upload"])
    client(["wget", "-q", "-O", "/dev/null", base + "/small"])
    client(["wget", "-q", "-O", "/dev/null", "--post-data=a=1&b=2", base + "/upload"])
    raw_http(IP_S, http_port,
             "GET /small HTTP/1.1\\r\\nHost: p\\r\\n\\r\\n"
             "GET /chunked HTTP/1.1\\r\\nHost: p\\r\\n\\r\\n"
             "HEAD /chunked HTTP/1.1\\r\\nHost: p\\r\\n\\r\\n"
             "GET /nocontent HTTP/1.1\\r\\nHost: p\\r\\nConnection: close\\r\\n\\r\\n")
    raw_http(IP_S, http_port, "GET /close HTTP/1.1\\r\\nHost: c\\r\\n\\r\\n")
    client(["curl", "-s", "-o", "/dev/null", base + "/reset"])
    client(["curl", "-s", "-o", "/dev/null", "-g", "http://[%s]:%d/small" % (IP6_S, http6_port)])
    # TLS
    s_client = ["openssl", "s_client", "-quiet", "-ign_eof"]
    client(s_client + ["-connect", "%s:%d" % (IP_S, tls13_port), "-servername", "one.test",
                       "-alpn", "h2,http/1.1", "-tls1_3"], timeout=20)
    client(["curl", "-sk", "-o", "/dev/null", "--http1.1", "--resolve",
            "two.test:%d:%s" % (tls12_port, IP_S), "https://two.test:%d/" % tls12_port])
    client(s_client + ["-connect", "%s:%d" % (IP_S, tls12_port), "-servername", "three.test",
                       "-alpn", "h2", "-tls1_2"], timeout=20)
    client(["curl", "-sk", "-o", "/dev/null", "--http1.1", "--resolve",
            "hrr.test:%d:%s" % (hrr_port, IP_S), "https://hrr.test:%d/" % hrr_port])


# ---- the two readings of a capture ----

def analyze(path):
    out = run([os.path.join(BUILD, "extcap", "podscope"), "analyze", "--json", path]).stdout
    return [json.loads(line) for line in out.splitlines()]


def tshark(path, ports, display_filter, fields):
    args = ["tshark", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE",
            "-Y", display_filter, "-T", "fields", "-E", "separator=/t"]
    for port in ports["http"]:
        args += ["-d", "tcp.port==%d,http" % port]
    for port in ports["tls"]:
        args += ["-d", "tcp.port==%d,tls" % port]
    for f in fields:
        args += ["-e", f]
    out = run(args).stdout
    return [line.split("\t") for line in out.splitlines()]


def values(field):
    return [v for v in field.split(",") if v != ""]


def ns_of(text):
    sec, _, frac = text.partition(".")
    return int(sec) * 1000000000 + int((frac + "000000000")[:9])


def key_of(addr4, addr6, port):
    return (addr4 or addr6, int(port))


def compare_http(path, ports, records, label, check_time):
    ours_req, ours_resp, ours_time = {}, {}, {}
    for r in sorted((r for r in records if r["event"] == "http_exchange"),
                    key=lambda r: r.get("http_request_index", 0)):
        k = (r["src_addr"], r["src_port"])
        if "http_method" in r:
            ours_req.setdefault(k, []).append((r["http_method"], r["http_uri"]))
        codes = [str(c) for c in r.get("http_interim_status", [])]
        if "http_status" in r:
            codes.append(str(r["http_status"]))
        if codes:
            ours_resp.setdefault(k, []).extend(codes)
        if "http_status" in r:
            if "t_server" in r:
                ours_time.setdefault(k, []).append(r["t_server"] + r["t_transfer"])

    ts_req, ts_resp, ts_time = {}, {}, {}
    for f in tshark(path, ports, "http.request",
                    ["ip.src", "ipv6.src", "tcp.srcport", "http.request.method",
                     "http.request.uri"]):
        k = key_of(f[0], f[1], f[2])
        ts_req.setdefault(k, []).extend(zip(values(f[3]), values(f[4])))
    for f in tshark(path, ports, "http.response",
                    ["ip.dst", "ipv6.dst", "tcp.dstport", "http.response.code", "http.time"]):
        k = key_of(f[0], f[1], f[2])
        codes = values(f[3])
        ts_resp.setdefault(k, []).extend(codes)
        times = f[4].split(",") if f[4] else []
        times += [""] * (len(codes) - len(times))
        for code, t in zip(codes, times):
            if not code.startswith("1"):
                # tshark pairs only the first of several requests sent in one frame
                ts_time.setdefault(k, []).append(ns_of(t) if t else None)

    explained = {}
    for k, theirs in ts_resp.items():
        mine = ours_resp.get(k, [])
        reqs = ts_req.get(k, [])
        if mine == theirs:
            continue
        for i, (method, _) in enumerate(reqs[:-1]):
            if method == "HEAD" and mine[:i + 1] + mine[i + 2:] == theirs:
                explained[k] = i
                print("# explained (%s): tshark reads response %d after HEAD as its body: "
                      "ours %r, tshark %r" % (label, i + 2, mine, theirs), flush=True)
                ours_resp[k] = theirs
                break
            # With segments lost, tshark's reassembly of that phantom chunked body
            # never completes, so it swallows every later response of the
            # connection: all it shows is what came up to the HEAD response.
            if method == "HEAD" and len(theirs) >= i + 1 and mine[:len(theirs)] == theirs:
                explained[k] = i
                print("# explained (%s): tshark reads everything after the HEAD response %d as "
                      "its body: ours %r, tshark %r" % (label, i + 1, mine, theirs), flush=True)
                ours_resp[k] = theirs
                break

    tap(ours_req == ts_req and len(ts_req) > 0,
        "%s: HTTP requests (method, URI) agree with tshark on %d connections" % (label, len(ts_req)),
        "ours:   %r\ntshark: %r" % (ours_req, ts_req))
    tap(ours_resp == ts_resp,
        "%s: HTTP response codes agree with tshark (100 Continue as interim)" % label,
        "ours:   %r\ntshark: %r" % (ours_resp, ts_resp))
    if check_time:
        bad = []
        compared = 0
        for k, times in ts_time.items():
            mine = ours_time.get(k, [])
            if k in explained:
                mine = mine[:explained[k] + 1]
                times = times[:explained[k] + 1]
            if len(mine) != len(times) or any(b is not None and abs(a - b) > 1000
                                              for a, b in zip(mine, times)):
                bad.append((k, mine, times))
            compared += sum(1 for b in times if b is not None)
        tap(not bad and compared > 10,
            "%s: request end to response end (t_server + t_transfer) equals tshark http.time "
            "on %d responses" % (label, compared), repr(bad))


def compare_tcp(path, ports, records, label):
    syn, synack = {}, {}
    for f in tshark(path, ports, "tcp.flags.syn==1",
                    ["ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
                     "tcp.flags.ack", "frame.time_epoch"]):
        if f[6] in ("0", "False"):
            syn.setdefault(key_of(f[0], f[1], f[2]), ns_of(f[7]))
        else:
            synack.setdefault(key_of(f[3], f[4], f[5]), ns_of(f[7]))
    expected = {k: synack[k] - syn[k] for k in syn if k in synack}
    ours = {(r["src_addr"], r["src_port"]): r.get("t_tcp_handshake") for r in records
            if r["event"] == "connection_end"}
    bad = [(k, ours.get(k), v) for k, v in expected.items() if ours.get(k) != v]
    tap(not bad and len(expected) > 0,
        "%s: SYN to SYN-ACK time equals tshark's frame times on %d connections"
        % (label, len(expected)), repr(bad))


def compare_tls(path, ports, records, label):
    hellos, servers = {}, {}
    for f in tshark(path, ports, "tls.handshake.type==1",
                    ["ip.src", "ipv6.src", "tcp.srcport", "tls.handshake.extensions_server_name",
                     "tls.handshake.extensions_alpn_str",
                     "tls.handshake.extensions.supported_version"]):
        hellos.setdefault(key_of(f[0], f[1], f[2]), []).append(f[3:])
    for f in tshark(path, ports, "tls.handshake.type==2",
                    ["ip.dst", "ipv6.dst", "tcp.dstport", "tls.handshake.ciphersuite",
                     "tls.handshake.extensions.supported_version",
                     "tls.handshake.extensions_alpn_str", "tls.handshake.version"]):
        servers.setdefault(key_of(f[0], f[1], f[2]), []).append(f[3:])

    ours = {(r["src_addr"], r["src_port"]): r for r in records
            if r["event"] == "connection_end" and r["protocol"] == "tls"}
    bad_ch, bad_sh = [], []
    for k, chs in hellos.items():
        r = ours.get(k, {})
        sni, alpn, versions = chs[-1]
        mine = (r.get("tls_sni", ""), r.get("tls_alpn_offered", []),
                ["0x%04x" % v for v in r.get("tls_client_versions", [])])
        theirs = (sni, values(alpn), values(versions))
        if mine != theirs:
            bad_ch.append((k, mine, theirs))
    for k, shs in servers.items():
        r = ours.get(k, {})
        cipher, sv, alpn, legacy = shs[-1]
        theirs = (cipher, sv or legacy, alpn, len(shs) > 1)
        mine = ("0x%04x" % r.get("tls_cipher", 0), "0x%04x" % r.get("tls_version", 0),
                r.get("tls_alpn", ""), bool(r.get("tls_hrr", 0)))
        if mine != theirs:
            bad_sh.append((k, mine, theirs))
        if "t_tls_handshake" not in r or not 0 < r["t_tls_handshake"] < r["t_total"]:
            bad_sh.append((k, "handshake time", r.get("t_tls_handshake")))
    tap(not bad_ch and len(hellos) > 0 and len(ours) == len(hellos),
        "%s: ClientHello SNI, ALPN offered, supported_versions agree with tshark on %d flows"
        % (label, len(hellos)), repr(bad_ch))
    tap(not bad_sh and len(servers) > 0,
        "%s: ServerHello cipher, version, ALPN, HelloRetryRequest agree; handshake timed"
        % label, repr(bad_sh))
    return ours


def check_capture(path, ports, label, check_time):
    records = analyze(path)
    compare_http(path, ports, records, label, check_time)
    compare_tcp(path, ports, records, label)
    tls = compare_tls(path, ports, records, label)
    return records, tls


# ---- reordering a capture ----

def reorder(src, dst):
    """Swaps every other pair of consecutive data-carrying TCP packets of one
    direction of one connection; timestamps stay in file order."""
    blocks = []
    with open(src, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        blocks.append(bytearray(data[off:off + blen]))
        off += blen

    def flow_of(b):
        if struct.unpack_from("<I", b, 0)[0] != 6:
            return None
        caplen = struct.unpack_from("<I", b, 20)[0]
        pkt = bytes(b[28:28 + caplen])
        if len(pkt) < 14:
            return None
        etype = struct.unpack_from(">H", pkt, 12)[0]
        if etype == 0x0800:
            ihl = (pkt[14] & 15) * 4
            tot = struct.unpack_from(">H", pkt, 16)[0]
            if pkt[23] != 6:
                return None
            tcp = 14 + ihl
            plen = tot - ihl - (pkt[tcp + 12] >> 4) * 4
            key = (pkt[26:34], pkt[tcp:tcp + 4])
        elif etype == 0x86DD:
            if pkt[20] != 6:
                return None
            tcp = 54
            plen = struct.unpack_from(">H", pkt, 18)[0] - (pkt[tcp + 12] >> 4) * 4
            key = (pkt[22:54], pkt[tcp:tcp + 4])
        else:
            return None
        return key if plen > 0 else None

    swaps = 0
    i = 0
    while i + 1 < len(blocks):
        k = flow_of(blocks[i])
        if k is not None and k == flow_of(blocks[i + 1]):
            # exchange everything but the timestamps (bytes 12..20)
            a, b = blocks[i], blocks[i + 1]
            ta, tb = bytes(a[12:20]), bytes(b[12:20])
            blocks[i], blocks[i + 1] = b, a
            blocks[i][12:20] = ta
            blocks[i + 1][12:20] = tb
            swaps += 1
            i += 3
        else:
            i += 1
    with open(dst, "wb") as f:
        for b in blocks:
            f.write(b)
    return swaps


def main():
    global tmpdir
    if os.geteuid() != 0:
        print("1..0 # SKIP the oracle suite creates network namespaces and needs root")
        return 77
    missing = [t for t in ("tshark", "dumpcap", "curl", "wget", "openssl", "nft")
               if shutil.which(t) is None]
    if missing or not BUILD or not SOURCE:
        print("1..1\nnot ok 1 - tools missing: %s (or PDS_BUILD_ROOT unset)" % missing)
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmpdir = tempfile.mkdtemp(prefix="pds-oracle-")
    try:
        setup_net()
        cert, key = os.path.join(tmpdir, "c.pem"), os.path.join(tmpdir, "k.pem")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
             "-subj", "/CN=oracle.test"])
        http_port = start_server(["http", IP_S])
        http6_port = start_server(["http", IP6_S])
        tls13_port = start_server(["tls", IP_S, cert, key])
        tls12_port = start_server(["tls", IP_S, cert, key, "--max-tls12"])
        hrr_port = start_server(["tls", IP_S, cert, key, "--p256-only"])
        ports = {"http": [http_port, http6_port], "tls": [tls13_port, tls12_port, hrr_port]}
        print("1..21", flush=True)

        basic = os.path.join(tmpdir, "basic.pcapng")
        cap = start_capture(NS_S, VETH_S, basic)
        http_traffic(http_port, http6_port, tls13_port, tls12_port, hrr_port, 300000)
        stop_capture(cap)
        records, _ = check_capture(basic, ports, "basic", True)

        # What each connection must show beyond tshark's fields.
        resets = [r for r in records if r["event"] == "connection_end" and
                  r["tcp_state"] == "reset" and r["protocol"] == "http"]
        unanswered = [r for r in records if r["event"] == "http_exchange" and
                      "http_status" not in r]
        tap(len(resets) == 1 and len(unanswered) == 1 and unanswered[0]["http_uri"] == "/reset",
            "basic: the reset connection ends 'reset' with its request unanswered",
            repr(resets) + repr(unanswered))
        bad = [r for r in records if set(r.get("anomalies", [])) - {"retransmission"}]
        tap(not bad, "basic: no anomalies on clean traffic", repr(bad))
        sizes = {r["http_uri"]: r.get("http_response_body_len") for r in records
                 if r["event"] == "http_exchange" and r.get("http_method") == "GET"}
        tap(sizes.get("/large?300000") == 300000 and sizes.get("/chunked") == 11 + 7 * 300 + 4
            and sizes.get("/close") == len("until the end"),
            "basic: body lengths by Content-Length, chunked and connection close", repr(sizes))

        reordered = os.path.join(tmpdir, "reordered.pcapng")
        swaps = reorder(basic, reordered)
        tap(swaps > 10, "reordered: %d segment pairs swapped in the file" % swaps)
        check_capture(reordered, ports, "reordered", False)

        lossy = os.path.join(tmpdir, "loss.pcapng")
        run(in_ns(NS_S, ["nft", "add", "table", "inet", "pdsloss"]))
        run(in_ns(NS_S, ["nft", "add", "chain", "inet", "pdsloss", "out",
                         "{ type filter hook output priority 0 ; }"]))
        # A lost RST is never sent again: the client of /reset would wait forever.
        # Everything else TCP retransmits, so only RSTs are spared.
        run(in_ns(NS_S, ["nft", "add", "rule", "inet", "pdsloss", "out", "meta", "l4proto",
                         "tcp", "tcp", "flags", "&", "rst", "==", "0",
                         "numgen", "random", "mod", "100", "<", "10", "counter", "drop"]))
        cap = start_capture(NS_C, VETH_C, lossy)
        http_traffic(http_port, http6_port, tls13_port, tls12_port, hrr_port, 1000000)
        stop_capture(cap)
        records, _ = check_capture(lossy, ports, "loss", False)
        # Seen from the client, a lost segment is a hole that its retransmission fills later.
        late = len(tshark(lossy, ports, "tcp.analysis.retransmission || "
                          "tcp.analysis.out_of_order || tcp.analysis.lost_segment",
                          ["frame.number"]))
        # Data lost just before a reset is never sent again: only closed flows must be whole.
        gaps = sum(r.get("gap_bytes", 0) for r in records
                   if r["event"] == "connection_end" and r["tcp_state"] == "closed")
        # What the drop rule did and what was captured, to tell a quiet run
        # (no drops, no traffic) from a reading that missed them.
        rule = run(in_ns(NS_S, ["nft", "list", "chain", "inet", "pdsloss", "out"])).stdout
        frames = len(tshark(lossy, ports, "frame", ["frame.number"]))
        tap(late > 0 and gaps == 0,
            "loss: %d segments lost or late per tshark; every hole of the closed flows "
            "filled, 0 gap bytes" % late,
            "gap bytes %d; %d frames captured; drop rule: %s" % (
                gaps, frames, " ".join(rule.split())))
    except Exception as e:  # report, then clean up
        tap(False, "oracle suite ran to the end", repr(e))
    finally:
        cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
