#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podscope-hub integration tests (TAP). Usage: test-hub.py api|faults|recovery|disk|heartbeat

Each group starts the real podscope-hub on port 0 with certificates made by
the PodScope TLS code, feeds it over real mutual TLS, and reads the result
back through the API, our pcapng reader and tshark."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.client

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hubtest as h  # noqa: E402

tap = h.Tap()


def payload_numbers(path):
    """Packet numbers ("packet N") of the UDP frames in a file, via tshark."""
    rc, out, err = h.tshark(path, "-Y", "udp", "-T", "fields", "-e", "data.data")
    nums = []
    for line in out.split():
        try:
            text = bytes.fromhex(line).decode(errors="replace")
        except ValueError:
            continue
        m = re.match(r"packet (\d+) ", text)
        if m:
            nums.append(int(m.group(1)))
    return rc, nums, err


# ------------------------------------------------------------------ api


def group_api(work, certs):
    hub = h.Hub(work, certs, extra=["--name", "10.0.0.1=client.default",
                                    "--name", "10.0.0.2=web.default"]).start()
    try:
        # The RAM ring (256 MiB by default) is resident once the hub is ready,
        # so the first capture does not pay a page fault per 4 KiB of it.
        with open("/proc/%d/status" % hub.proc.pid) as f:
            rss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
        tap.ok(rss >= 256 * 1024, "the RAM ring is resident at start (VmRSS %d KiB)" % rss, rss)

        # Authorisation, on every path.
        st, hd, body = hub.request("/healthz", token=None)
        tap.ok(st == 401 and "Bearer" in hd.get("WWW-Authenticate", ""),
               "healthz without a token: 401 with WWW-Authenticate: Bearer", (st, hd))
        st, _hd, _b = hub.request("/v1/capture.pcapng", token="wrong")
        tap.ok(st == 401, "capture with a wrong token: 401", st)
        st, _hd, _b = hub.request("/v1/sources", token=None)
        tap.ok(st == 401, "sources without a token: 401", st)
        st, _hd, _b = hub.request("/nothing", token=None)
        tap.ok(st == 401, "unknown path without a token: 401 (not 404)", st)
        st, _hd, _b = hub.request("/nothing")
        tap.ok(st == 404, "unknown path with the token: 404", st)
        st, js = hub.json("/healthz")
        tap.ok(st == 200 and js["status"] == "ok" and js["persistence"] is True,
               "healthz with the token: 200 ok", js)

        # Follow before anything is there: the stream must deliver blocks live.
        conn = http.client.HTTPConnection("127.0.0.1", hub.api_port, timeout=10)
        conn.request("GET", "/v1/capture.pcapng?follow=1",
                     headers={"Authorization": "Bearer " + hub.token})
        follow = conn.getresponse()
        tap.ok(follow.status == 200 and follow.getheader("Content-Type") == "application/x-pcapng",
               "follow=1: 200 application/x-pcapng", follow.getheaders())
        live = h.PcapngStream()

        # Two sources, both describing their interface 0.
        a = h.Source(hub.ingest_port, certs, cert="agent-a", source_id="src-a", pod="web-1")
        b = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="src-b", pod="db-1",
                     ifnames=("eth0", "lo"))
        tap.ok(a.hello() == 0 and b.hello() == 0, "HELLO seq 0 for unknown sources")
        a.start(1)
        b.start(1)
        a.send(h.custom(h.source_record(kernel_dropped=3, spool_dropped=2)))
        a.send(h.packets(1, 100))
        b.send(h.packets(1001, 50) + h.packets(2001, 5, if_id=1))
        a.send(h.custom(h.flow_record(0, 7)))
        a.send(h.isb(0, time.time_ns(), ifdrop=4))
        tap.ok(a.wait_ack(103) == 103, "source A acked up to its last block (103)", a.acked)
        tap.ok(b.wait_ack(55) == 55, "source B acked up to its last block (55)", b.acked)

        # The live stream got them, flushed without waiting for more.
        t0 = time.time()
        got = 0
        while time.time() - t0 < 10 and got < 155:
            live.feed(follow.read1(65536))
            got += sum(1 for t, _ in live.blocks() if t == h.BT_EPB)
        tap.ok(got >= 155, "follow=1 delivered the 155 packets live (%.2fs)" % (time.time() - t0), got)
        a.send(h.packets(101, 1))
        t1 = time.time()
        one = 0
        while time.time() - t1 < 5 and one < 1:
            live.feed(follow.read1(65536))
            one += sum(1 for t, _ in live.blocks() if t == h.BT_EPB)
        tap.ok(one == 1, "follow=1: a single new packet arrives alone (%.3fs)" % (time.time() - t1))
        tap.ok(a.wait_ack(104) == 104, "ack for the single packet")
        follow.close()
        conn.close()
        # The hub notices a vanished consumer when it next writes to it.
        for i in range(30):
            a.send(h.custom(h.source_record(kernel_dropped=3, spool_dropped=2)))
            time.sleep(0.1)
            st, js = hub.json("/healthz")
            if js["streams"] == 0:
                break
        tap.ok(js["streams"] == 0, "a consumer that goes away ends its stream", js)
        extra = i + 1  # source records sent to wake the stream up
        a.wait_ack(104 + extra)

        # A big-endian source: its blocks are re-encoded little-endian.
        be = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="src-be", pod="be-1")
        be.send(h.big_endian_header("src-be", "be-1"))
        be.read_controls(until=lambda k, q, m: k == h.CTL_HELLO)
        be.send(h.be_control_start(1) + b"".join(h.be_epb(0, time.time_ns(), h.udp_frame(3000 + i))
                                                 for i in range(3)))
        tap.ok(be.wait_ack(3) == 3, "big-endian source acked")
        be.close()

        # Whole-session download, default envelope (exported PDU).
        path = os.path.join(work, "session.pcapng")
        st, hd, body = hub.capture(path)
        s = h.scan(path)
        tap.ok(st == 200 and s["ok"] and s["sections"] == 1, "capture.pcapng: one valid section", s)
        tap.ok(s["if_names"] == ["podscope", "default/web-1/eth0", "default/db-1/eth0", "default/db-1/lo",
                                 "default/be-1/eth0"],
               "interfaces re-numbered into one list", s["if_names"])
        tap.ok(s["epb_per_if"] == [2 + extra, 101, 50, 5, 3],
               "packets on the re-mapped interfaces (records on the 252 interface)", s["epb_per_if"])
        tap.ok(s["exported_pdus"] == 2 + extra and s["customs"] == 0 and s["controls"] == 0,
               "envelope=exported-pdu (default): records as exported PDUs, no control records", s)
        tap.ok(s["nrbs"] >= 1, "a Name Resolution Block is served", s)
        rc, out, err = h.tshark(path, "-T", "fields", "-e", "frame.interface_name")
        names = set(out.split())
        tap.ok(rc == 0 and {"default/web-1/eth0", "default/db-1/eth0", "default/db-1/lo", "podscope"} <= names,
               "tshark shows every if_name of both sources", (rc, names, err))
        rc, out, err = h.tshark(path, "-Y", "exported_pdu", "-T", "fields", "-e", "exported_pdu.prot_name")
        tap.ok(rc == 0 and out.split() == ["podscope"] * (2 + extra),
               "tshark: exported_pdu.prot_name == podscope for every record", (out, err))
        rc, out, err = h.tshark(path, "-N", "n", "-Y", "udp", "-T", "fields", "-e", "ip.src_host", "-e", "ip.dst_host")
        tap.ok(rc == 0 and out.splitlines()[0].split() == ["client.default", "web.default"],
               "tshark resolves addresses from the hub's NRB", (out[:200], err))
        rc, nums, err = payload_numbers(path)
        tap.ok(sorted(nums) == sorted(list(range(1, 102)) + list(range(1001, 1051)) + list(range(2001, 2006))
                                      + [3000, 3001, 3002]),
               "every packet exactly once", nums)
        rc, out, err = h.tshark(path, "-Y", "frame.interface_name == \"default/be-1/eth0\"", "-T", "fields",
                                "-e", "frame.len", "-e", "udp.dstport")
        tap.ok(rc == 0 and out.split() == [str(len(h.udp_frame(3000))), "9999"] * 3,
               "tshark decodes the big-endian source's packets", (out, err))

        # Custom envelope.
        cpath = os.path.join(work, "session-custom.pcapng")
        st, hd, body = hub.capture(cpath, "?envelope=custom")
        s = h.scan(cpath)
        tap.ok(st == 200 and s["ok"] and s["customs"] == 2 + extra and s["exported_pdus"] == 0
               and s["controls"] == 0 and s["records_by_type"][3] == 1 + extra and s["records_by_type"][2] == 1,
               "envelope=custom: records as Custom Blocks (PEN 32473), no control records", s)
        rc, out, err = h.tshark(cpath, "-T", "fields", "-e", "frame.number")
        tap.ok(rc == 0 and len(out.split()) == 159 + 2 + extra, "tshark reads the custom-envelope file (packets and custom blocks)", (rc, len(out.split()), err))
        st, _hd, _b = hub.request("/v1/capture.pcapng?envelope=bogus")
        tap.ok(st == 400, "unknown envelope: 400", st)

        # Sources.
        st, js = hub.json("/v1/sources")
        fields = {"source_id", "role", "namespace", "pod", "interface", "node", "packets", "bytes", "drops",
                  "kernel_drops", "spool_drops", "connected", "connected_since", "last_seen"}
        by_id = {x["source_id"]: x for x in js}
        tap.ok(st == 200 and len(js) == 3 and all(fields <= set(x) for x in js),
               "/v1/sources lists every source with every contract field", js)
        sa = by_id.get("src-a", {})
        tap.ok(sa.get("pod") == "web-1" and sa.get("namespace") == "default" and sa.get("packets") == 101
               and sa.get("interface") == "eth0" and sa.get("node") == "node-1" and sa.get("connected") is True
               and sa.get("role") == "agent" and sa.get("bytes") == sum(len(h.udp_frame(n)) for n in range(1, 102)),
               "source A: identity and packet/byte counters", sa)
        tap.ok(sa.get("kernel_drops") == 3 and sa.get("spool_drops") == 2 and sa.get("drops") == 3 + 2 + 4,
               "source A: drops from its source record and ISB", sa)
        sb = by_id.get("src-b", {})
        tap.ok(sb.get("packets") == 55 and sb.get("interface") == "eth0,lo", "source B counters", sb)
        a.close()
        tap.ok(hub.wait_log("closed connection of src-a"), "a closed source is logged")
        time.sleep(0.2)
        st, js = hub.json("/v1/sources")
        tap.ok({x["source_id"]: x["connected"] for x in js} == {"src-a": False, "src-b": True, "src-be": False},
               "/v1/sources: connected follows the connection", js)
        b.close()

        # Names a source learnt reach consumers as NRBs, also live.
        conn = http.client.HTTPConnection("127.0.0.1", hub.api_port, timeout=10)
        conn.request("GET", "/v1/capture.pcapng?follow=1", headers={"Authorization": "Bearer " + hub.token})
        follow = conn.getresponse()
        n = h.Source(hub.ingest_port, certs, cert="agent-a", source_id="src-n", pod="names-1")
        n.hello()
        n.start(1)
        n.send(h.nrb([((10, 0, 0, 9), "db.default")]) + h.epb(0, time.time_ns(), h.udp_frame(4000, src=(10, 0, 0, 9))))
        n.wait_ack(2)
        live = h.PcapngStream()
        t0 = time.time()
        types = []
        conn.sock.settimeout(0.5)
        while time.time() - t0 < 5:
            try:
                live.feed(follow.read1(65536))
            except socket.timeout:
                break  # everything there is has arrived
            types += [t for t, _ in live.blocks()]
        follow.close()
        conn.close()
        first_epb = types.index(h.BT_EPB) if h.BT_EPB in types else len(types)
        late_nrbs = [i for i, t in enumerate(types) if t == h.BT_NRB and i > first_epb]
        tap.ok(late_nrbs and types[-1] == h.BT_EPB and late_nrbs[-1] < len(types) - 1,
               "follow=1: a new name arrives as an NRB before the packet", types[-6:])
        path = os.path.join(work, "names.pcapng")
        hub.capture(path)
        rc, out, err = h.tshark(path, "-N", "n", "-Y", "ip.src == 10.0.0.9", "-T", "fields", "-e", "ip.src_host")
        tap.ok(rc == 0 and out.split() == ["db.default"], "a name from a source's NRB resolves in tshark", (out, err))
        n.close()

        # Chunk files: complete sections on their own.
        for f in h.chunk_files(hub.data_dir):
            rc, out, err = h.tshark(f, "-T", "fields", "-e", "frame.interface_name")
            tap.ok(rc == 0 and h.scan(f)["ok"] and "default/db-1/lo" in out,
                   "chunk %s opens alone in tshark and our reader" % os.path.basename(f), err)
    finally:
        tap.ok(hub.stop() == 0, "hub exits 0 on SIGTERM", hub.read_log()[-2000:])


# ------------------------------------------------------------------ faults


def try_source(hub, certs, cert):
    """Connects with @cert; returns (client port, error text or None)."""
    port = None
    try:
        s = h.Source(hub.ingest_port, certs, cert=cert, source_id="bad-" + str(cert))
        port = s.sock.getsockname()[1]
        s.hello()
        return port, None
    except Exception as e:  # noqa: BLE001 - any failure is the refusal we want
        return port, str(e) or type(e).__name__


def group_faults(work, certs):
    hub = h.Hub(work, certs).start()
    try:
        good = h.Source(hub.ingest_port, certs, cert="agent-a", source_id="good")
        good.hello()
        good.start(1)
        good.send(h.packets(1, 10))
        good.wait_ack(10)

        for cert, reason in ((None, "client certificate missing"),
                             ("stranger", "not signed by the session CA"),
                             ("expired", "expired")):
            port, err = try_source(hub, certs, cert)
            tap.ok(err is not None, "certificate %s: the handshake fails for the client" % cert, err)
            # Wait for this refusal's own line: an earlier refusal already matches "refused".
            deadline = time.time() + 10
            while True:
                log = hub.read_log()
                line = [ln for ln in log.splitlines() if "refused 127.0.0.1:" in ln and reason in ln]
                if line or time.time() > deadline:
                    break
                time.sleep(0.05)
            logged = bool(line)
            tap.ok(logged and line and (port is None or ("127.0.0.1:%d" % port) in line[-1]),
                   "certificate %s: refused at the handshake, logged with peer and '%s'" % (cert, reason),
                   log[-1500:])
        good.send(h.packets(11, 10))
        tap.ok(good.wait_ack(20) == 20, "a connected source is unaffected by the refusals")

        # Garbage right after the handshake.
        s = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="garbage")
        s.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\xff" * 64)
        s.read_controls(timeout=5, until=lambda k, q, m: k == h.CTL_GOODBYE)
        tap.ok(s.goodbye and "malformed" in s.goodbye, "garbage: GOODBYE says why", s.goodbye)
        s.read_controls(timeout=5)
        tap.ok(s.closed, "garbage: the hub closed the connection")
        tap.ok(hub.wait_log("closed connection of (no source id yet)"), "garbage: logged with a reason",
               hub.read_log()[-800:])

        # Valid blocks, then a broken block: what came first is kept.
        s = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="broken", pod="broken-1")
        s.hello()
        s.start(1)
        s.send(h.packets(101, 20))
        s.wait_ack(20)
        s.send(b"\x06\x00\x00\x00\x07\x00\x00\x00" + b"\0" * 32)
        s.read_controls(timeout=5, until=lambda k, q, m: k == h.CTL_GOODBYE)
        tap.ok(s.goodbye and "malformed" in s.goodbye, "broken block after data: GOODBYE with reason", s.goodbye)
        tap.ok(hub.wait_log("closed connection of broken"), "broken block: logged")
        s.close()

        # Truncated: half a block, then the connection ends.
        s = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="trunc", pod="trunc-1")
        s.hello()
        s.start(1)
        s.send(h.packets(201, 10))
        s.wait_ack(10)
        half = h.packets(211, 1)
        s.send(half[: len(half) // 2])
        time.sleep(0.2)
        s.sock.close()
        tap.ok(hub.wait_log("closed connection of trunc from") and "ended inside a block" in hub.read_log(),
               "truncated block: connection closed, reason logged", hub.read_log()[-800:])

        # Protocol errors.
        s = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="early")
        s.hello()
        s.send(h.packets(301, 1))
        s.read_controls(timeout=5, until=lambda k, q, m: k == h.CTL_GOODBYE)
        tap.ok(s.goodbye and "before START" in s.goodbye, "data before START: GOODBYE says so", s.goodbye)
        s.close()
        s = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="noif")
        s.hello()
        s.start(1)
        s.send(h.packets(401, 1, if_id=5))
        s.read_controls(timeout=5, until=lambda k, q, m: k == h.CTL_GOODBYE)
        tap.ok(s.goodbye and "interface 5" in s.goodbye, "unknown interface id: GOODBYE names it", s.goodbye)
        s.close()

        # What the hub stored is intact.
        path = os.path.join(work, "after-faults.pcapng")
        hub.capture(path)
        rc, nums, err = payload_numbers(path)
        tap.ok(rc == 0 and nums == list(range(1, 21)) + list(range(101, 121)) + list(range(201, 211)),
               "after the faults the session holds exactly the valid packets", (nums, err))
        for f in h.chunk_files(hub.data_dir):
            rc, out, err = h.tshark(f)
            tap.ok(rc == 0 and h.scan(f)["ok"], "chunk %s still reads cleanly" % os.path.basename(f), err)
        good.send(h.packets(21, 1))
        tap.ok(good.wait_ack(21) == 21, "the good source still works after all of it")
        good.close()
    finally:
        hub.stop()


# ------------------------------------------------------------------ recovery


def all_chunk_numbers(data_dir):
    nums = []
    for f in h.chunk_files(data_dir):
        rc, n, err = payload_numbers(f)
        nums += n
    return nums


def group_recovery(work, certs):
    # 1. Restart after kill -9 with a torn tail: HELLO names what was stored.
    data = os.path.join(work, "data1")
    hub = h.Hub(work, certs, data_dir=data).start()
    s = h.Source(hub.ingest_port, certs, source_id="rec")
    s.hello()
    s.start(1)
    s.send(h.packets(1, 50))
    s.wait_ack(50)
    hub.kill9()
    s.close()
    last = h.chunk_files(data)[-1]
    with open(last, "ab") as f:
        # A whole block with no checkpoint after it (a batch cut short), then half a block.
        f.write(h.packets(51, 1) + h.packets(52, 1)[:30])
    hub = h.Hub(work, certs, data_dir=data).start()
    tap.ok("cutting" in hub.read_log(), "restart: the torn tail of the last chunk is cut", hub.read_log())
    s = h.Source(hub.ingest_port, certs, source_id="rec")
    seq = s.hello()
    tap.ok(seq == 50, "restart: HELLO seq equals what was stored (50)", seq)
    s.start(45)  # a source that did not see the last ACKs replays 45..50
    s.send(h.packets(45, 16))
    tap.ok(s.wait_ack(60) == 60, "replayed and new blocks acked up to 60")
    path = os.path.join(work, "recovered.pcapng")
    hub.capture(path)
    rc, nums, err = payload_numbers(path)
    tap.ok(nums == list(range(1, 61)), "exactly once: packets 1..60 in order, none twice", nums)
    sc = h.scan(path)
    tap.ok(sc["if_names"] == ["podscope", "default/web-1/eth0"],
           "after the restart the source's interface keeps its session id", sc["if_names"])
    for f in h.chunk_files(data):
        rc, out, err = h.tshark(f)
        tap.ok(rc == 0 and h.scan(f)["ok"], "recovered chunk %s reads in tshark and our reader" % os.path.basename(f), err)
    s.close()
    hub.stop()

    # 2. kill -9 during a flood with small chunks.
    data = os.path.join(work, "data2")
    hub = h.Hub(work, certs, data_dir=data, extra=["--chunk-size", "32768"]).start()
    s = h.Source(hub.ingest_port, certs, source_id="flood")
    s.hello()
    s.start(1)
    sent = [0]

    def flood():
        try:
            for i in range(400):
                s.send(h.packets(sent[0] + 1, 25))
                sent[0] += 25
        except OSError:
            pass
    t = threading.Thread(target=flood)
    t.start()
    # Kill once a good part is stored, while the flood goes on.
    deadline = time.time() + 20
    while time.time() < deadline and hub.json("/healthz")[1]["blocks"] < 1500:
        time.sleep(0.002)
    hub.kill9()
    t.join()
    s.close()
    chunks = h.chunk_files(data)
    tap.ok(len(chunks) >= 3, "flood: several chunks were written (%d)" % len(chunks))
    bad = []
    for f in chunks[:-1]:
        rc, out, err = h.tshark(f)
        if rc != 0 or not h.scan(f)["ok"]:
            bad.append((f, err))
    tap.ok(not bad, "kill -9: every finished chunk reads in tshark and our reader", bad)
    hub = h.Hub(work, certs, data_dir=data, extra=["--chunk-size", "32768"]).start()
    bad = []
    for f in h.chunk_files(data):
        rc, out, err = h.tshark(f)
        if rc != 0 or not h.scan(f)["ok"]:
            bad.append((f, err))
    tap.ok(not bad, "after restart every chunk (the last one cut) reads cleanly", bad)
    s = h.Source(hub.ingest_port, certs, source_id="flood")
    seq = s.hello()
    nums = all_chunk_numbers(data)
    tap.ok(seq > 0 and nums == list(range(1, seq + 1)),
           "HELLO seq (%d) equals the packets in the chunk files, in order" % seq, nums[-5:])
    s.start(seq + 1)
    s.send(h.packets(seq + 1, 10))
    tap.ok(s.wait_ack(seq + 10) == seq + 10, "the source continues after the restart")
    path = os.path.join(work, "flood.pcapng")
    hub.capture(path)
    rc, nums, err = payload_numbers(path)
    tap.ok(nums == list(range(1, seq + 11)), "served session: 1..%d once each" % (seq + 10), nums[-5:])
    s.close()
    hub.stop()

    # 3. Retention, and serving from chunk files when the ring has moved on.
    data = os.path.join(work, "data3")
    hub = h.Hub(work, certs, data_dir=data,
                extra=["--chunk-size", "16k", "--retention", "64k", "--ring-size", "32k"]).start()
    s = h.Source(hub.ingest_port, certs, source_id="ret")
    s.hello()
    s.start(1)
    for i in range(40):
        # Small batches: a chunk rotates after the batch that fills it.
        s.send(h.packets(i * 50 + 1, 50))
        s.wait_ack(i * 50 + 50)
    chunks = h.chunk_files(data)
    total = sum(os.path.getsize(f) for f in chunks)
    tap.ok(total <= 64 * 1024 and len(chunks) >= 3, "retention: %d chunk files, %d bytes <= 64 KiB" % (len(chunks), total))

    # Finished chunks are synced and closed by a thread of their own: after
    # dozens of rotations only the open chunk is still open.
    def open_chunk_fds():
        fd_dir = "/proc/%d/fd" % hub.proc.pid
        targets = []
        for fd in os.listdir(fd_dir):
            try:
                targets.append(os.readlink(os.path.join(fd_dir, fd)))
            except OSError:
                pass
        return [t for t in targets if t.startswith(data + "/")]
    deadline = time.time() + 5
    while len(open_chunk_fds()) > 1 and time.time() < deadline:
        time.sleep(0.05)
    tap.ok(len(open_chunk_fds()) == 1, "finished chunks are closed: 1 chunk file open after "
           "the rotations", open_chunk_fds())
    path = os.path.join(work, "retained.pcapng")
    hub.capture(path)
    rc, nums, err = payload_numbers(path)
    first = nums[0] if nums else 0
    tap.ok(rc == 0 and first > 1 and nums == list(range(first, 2001)),
           "served: chunk files then ring, contiguous %d..2000" % first, (nums[:3], nums[-3:], err))
    s.close()
    hub.stop()


# ------------------------------------------------------------------ disk


def mount(*args):
    subprocess.run(["mount"] + list(args), check=True)


def group_disk(work, certs):
    if os.geteuid() != 0:
        tap.skip_all("needs root for read-only and tmpfs mounts")
    ro = os.path.join(work, "ro")
    full = os.path.join(work, "full")
    os.makedirs(ro)
    os.makedirs(full)
    mounted = []
    try:
        # Read-only data directory.
        mount("--bind", ro, ro)
        mounted.append(ro)
        mount("-o", "remount,ro,bind", ro)
        hub = h.Hub(work, certs, data_dir=ro).start()
        st, js = hub.json("/healthz")
        tap.ok(st == 503 and "Read-only file system" in js.get("reason", "") and js["persistence"] is False,
               "read-only data dir: healthz 503 with the reason", js)
        tap.ok("Read-only file system" in hub.read_log(), "read-only data dir: a clear error in the log",
               hub.read_log())
        s = h.Source(hub.ingest_port, certs, source_id="ro")
        s.hello()
        s.start(1)
        s.send(h.packets(1, 20))
        tap.ok(s.wait_ack(20) == 20, "read-only data dir: the source is still acked")
        path = os.path.join(work, "ro.pcapng")
        hub.capture(path)
        rc, nums, err = payload_numbers(path)
        tap.ok(nums == list(range(1, 21)), "read-only data dir: the RAM ring serves the session", nums)
        s.close()
        hub.stop()

        # Full data directory.
        mount("-t", "tmpfs", "-o", "size=64k", "pds-hub-test", full)
        mounted.append(full)
        hub = h.Hub(work, certs, data_dir=full, extra=["--chunk-size", "1M"]).start()
        s = h.Source(hub.ingest_port, certs, source_id="full")
        s.hello()
        s.start(1)
        for i in range(20):
            s.send(h.packets(i * 50 + 1, 50))
        tap.ok(s.wait_ack(1000) == 1000, "full disk: every block is still acked")
        st, js = hub.json("/healthz")
        tap.ok(st == 503 and "No space left on device" in js.get("reason", ""),
               "full disk: healthz 503 with the reason", js)
        log = hub.read_log()
        tap.ok(log.count("data directory failing") == 1, "full disk: logged once", log[-1500:])
        path = os.path.join(work, "full.pcapng")
        hub.capture(path)
        rc, nums, err = payload_numbers(path)
        tap.ok(nums == list(range(1, 1001)), "full disk: the session is served whole (ring)", nums[-3:])
        bad = []
        for f in h.chunk_files(full):
            rc, out, err = h.tshark(f)
            sc = h.scan(f)
            if rc != 0 or not sc["ok"]:
                bad.append((f, err, sc))
        tap.ok(h.chunk_files(full) and not bad, "full disk: what was written stays readable", bad)
        # Room again: within the 10 s retry the hub writes chunk files again.
        before = set(h.chunk_files(full))
        mount("-o", "remount,size=4m", full)
        time.sleep(10.5)
        s.send(h.packets(1001, 10))
        s.wait_ack(1010)
        st, js = hub.json("/healthz")
        new = sorted(set(h.chunk_files(full)) - before)
        nums = []
        for f in new:
            nums += payload_numbers(f)[1]
        tap.ok(st == 200 and js["persistence"] is True and nums == list(range(1001, 1011)),
               "full disk freed: chunk files resume, healthz 200", (st, js, new, nums))
        tap.ok(hub.wait_log("data directory works again"), "full disk freed: logged")
        s.close()
        hub.stop()
    finally:
        h.Hub.kill_all()
        for m in reversed(mounted):
            subprocess.run(["umount", "-l", m])


# ------------------------------------------------------------------ heartbeat


def group_heartbeat(work, certs):
    hub = h.Hub(work, certs).start()
    try:
        # A client that connects and never says anything.
        mute = socket.create_connection(("127.0.0.1", hub.ingest_port))
        mute_port = mute.getsockname()[1]
        silent = h.Source(hub.ingest_port, certs, source_id="silent")
        talker = h.Source(hub.ingest_port, certs, cert="agent-b", source_id="talker")
        silent.hello()
        silent.start(1)
        talker.hello()
        talker.start(1)
        t0 = time.time()
        seen = silent.read_controls(timeout=8, until=lambda k, q, m: k == h.CTL_HEARTBEAT)
        dt = time.time() - t0
        tap.ok(any(c[0] == h.CTL_HEARTBEAT for c in seen) and 4 <= dt <= 8,
               "an idle connection gets a HEARTBEAT after ~5 s (%.1fs)" % dt, seen)
        # The talker sends heartbeats every 4 s; the silent one sends nothing.
        while time.time() - t0 < 14:
            talker.send(h.control(h.CTL_HEARTBEAT))
            talker.read_controls(timeout=4)
        silent.read_controls(timeout=8, until=lambda k, q, m: k == h.CTL_GOODBYE)
        dt = time.time() - t0
        tap.ok(silent.goodbye and "nothing received" in silent.goodbye and 14 <= dt <= 21,
               "a silent source is dropped after 3 missed heartbeats (%.1fs)" % dt, silent.goodbye)
        talker.send(h.control(h.CTL_HEARTBEAT) + h.packets(1, 1))
        tap.ok(talker.wait_ack(1) == 1 and talker.goodbye is None,
               "a source sending heartbeats stays connected", talker.goodbye)
        tap.ok(hub.wait_log("closed connection of silent"), "the dead connection is logged")
        tap.ok(("refused 127.0.0.1:%d: TLS handshake not finished within 10 s" % mute_port) in hub.read_log(),
               "a client that never finishes the handshake is dropped after 10 s, logged", hub.read_log()[-1500:])
        mute.close()
        silent.close()
        talker.close()
    finally:
        hub.stop()


GROUPS = {"heartbeat": group_heartbeat, "api": group_api, "faults": group_faults, "recovery": group_recovery, "disk": group_disk}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        print("usage: %s %s" % (sys.argv[0], "|".join(GROUPS)), file=sys.stderr)
        sys.exit(2)
    if not os.path.exists(h.HUB_BIN):
        tap.skip_all("podscope-hub not built at " + h.HUB_BIN)
    work = tempfile.mkdtemp(prefix="pds-hub-%s-%d-" % (sys.argv[1], os.getpid()))
    try:
        certs = h.make_certs(work)
        GROUPS[sys.argv[1]](work, certs)
    except Exception as e:  # noqa: BLE001 - report, do not hide
        import traceback
        tap.ok(False, "group %s ran to the end" % sys.argv[1], traceback.format_exc())
    finally:
        h.Hub.kill_all()
        if tap.failed == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            tap.diag("work directory kept: " + work)
    tap.done()


if __name__ == "__main__":
    main()
