#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podscope-agent end to end: a capture in a namespace made for the test,
streamed over mutual TLS to a hub that speaks the ingest wire; packet counts
checked against what was sent; statistics blocks; the spool across a hub
restart; the spool limit; the grace period; and that the agent does not
capture its own hub connection. TAP output."""

import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pdsagenttest as T  # noqa: E402

AGENT = os.path.join(os.environ["PDS_BUILD_ROOT"], "agent", "podscope-agent")
PORT = 5555


def start_agent(certs, hub_port, *args, log=None):
    cmd = [AGENT, "--hub", "127.0.0.1:%d" % hub_port, "--ca", certs["ca_crt"],
           "--cert", certs["agent_crt"], "--key", certs["agent_key"], "-v", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)


def udp_indices(blocks, port=PORT):
    """Sequence numbers in the UDP payloads sent to port (Ethernet/IPv4/UDP)."""
    out = []
    for b in blocks:
        if b.type != T.BT_EPB:
            continue
        caplen = struct.unpack_from(b.endian + "I", b.body, 12)[0]
        pkt = b.body[20:20 + caplen]
        if len(pkt) < 46 or pkt[12:14] != b"\x08\x00" or pkt[23] != 17:
            continue
        ihl = (pkt[14] & 15) * 4
        dport = struct.unpack_from(">H", pkt, 14 + ihl + 2)[0]
        if dport == port:
            out.append(struct.unpack_from(">I", pkt, 14 + ihl + 8)[0])
    return out


def stop(proc, timeout=15):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def main():
    tap = T.Tap()
    if os.geteuid() != 0:
        tap.skip_all("network namespaces need root")
        return 0
    tap.plan(23)
    with tempfile.TemporaryDirectory(prefix="pdsae") as tmp, T.NetnsPair("pdsae") as net:
        certs = T.make_certs(tmp)
        log_path = os.path.join(tmp, "agent.log")
        log = open(log_path, "w")
        state = T.HubState()
        hub = T.TestHub(certs, state)
        port = hub.port
        agent = start_agent(certs, port, "--netns", net.a, "-i", net.if_a,
                            "-f", "udp or icmp", "--stats-interval", "1", "--grace", "60",
                            log=log)
        try:
            tap.ok(T.wait_for(lambda: state.connections >= 1 and state.headers, 10),
                   "agent connects to the hub with its client certificate",
                   "hub errors: %s" % hub.errors)
            src = state.sources()[0] if state.sources() else None
            hdr = state.headers.get(src, [])
            shb_opts = dict(hdr[0].options(16)) if hdr else {}
            kv = [v[4:].decode() for c, v in hdr[0].options(16) if c == 2988] if hdr else []
            tap.ok(shb_opts.get(4, b"").startswith(b"podscope-agent ")
                   and "role=agent" in kv and "namespace=local" in kv
                   and "pod=%s" % net.a in kv and any(k.startswith("source_id=") for k in kv),
                   "SHB names the agent and the source", "%r %r" % (shb_opts, kv))
            idbs = [b for b in hdr if b.type == T.BT_IDB]
            idb_opts = dict(idbs[0].options(8)) if idbs else {}
            tap.ok(len(idbs) == 1 and idb_opts.get(2) == ("local/%s/%s" % (net.a, net.if_a)).encode()
                   and idb_opts.get(9) == b"\x09"
                   and struct.unpack_from("<H", idbs[0].body, 0)[0] == 1,
                   "IDB: if_name namespace/pod/ifname, nanosecond tsresol, Ethernet",
                   repr(idb_opts))
            flt = idb_opts.get(11, b"")
            tap.ok(flt[:1] == b"\0" and b"(udp or icmp) and not (tcp and" in flt,
                   "if_filter holds the user filter and the hub exclusion", repr(flt))

            # 1: live traffic arrives complete.
            T.send_udp(net.b, net.ip_a, PORT, 2000)
            got = lambda: udp_indices(state.data())
            T.wait_for(lambda: len(got()) >= 2000, 15)
            idx = got()
            tap.ok(sorted(idx) == list(range(2000)),
                   "all 2000 UDP datagrams arrive once, in order" if idx == sorted(idx) else
                   "all 2000 UDP datagrams arrive once",
                   "got %d, unique %d" % (len(idx), len(set(idx))))
            tap.ok(idx == sorted(idx), "datagrams arrive in capture order")
            T.wait_for(lambda: any(b.type == T.BT_ISB for b in state.data()), 5)
            isbs = [b for b in state.data() if b.type == T.BT_ISB]

            def isb_value(b, code):
                for c, v in b.options(12):
                    if c == code:
                        return struct.unpack("<Q", v)[0]
                return None
            T.wait_for(lambda: any((isb_value(b, 4) or 0) >= 2000
                                   for b in state.data() if b.type == T.BT_ISB), 5)
            isbs = [b for b in state.data() if b.type == T.BT_ISB]
            last = isbs[-1] if isbs else None
            tap.ok(last is not None and isb_value(last, 4) >= 2000 and isb_value(last, 7) == 0
                   and isb_value(last, 5) is not None,
                   "ISBs carry ifrecv >= sent, osdrop 0, ifdrop",
                   "isbs %d last %r" % (len(isbs), last and last.options(12)))
            sources = [b.custom_record() for b in state.data() if b.custom_record()]
            tap.ok(any(r[0] == T.REC_SOURCE and 9 in r[1] and 12 in r[1] for r in sources),
                   "a SOURCE record carries kernel and spool counters")

            # 2: the hub goes away; the agent spools; the hub comes back on the same port.
            hub.stop()
            time.sleep(0.5)
            T.send_udp(net.b, net.ip_a, PORT + 1, 3000)  # other port: keep the index space
            T.send_udp(net.b, net.ip_a, PORT, 3000)
            time.sleep(1.5)
            hub2 = T.TestHub(certs, state, port=port)
            T.wait_for(lambda: len(set(got())) >= 5000 or len(got()) >= 5000, 30)
            idx = got()
            tap.ok(len(idx) == 5000 and sorted(idx) == sorted(list(range(2000)) + list(range(3000))),
                   "nothing spooled while the hub was away is lost or doubled",
                   "got %d, duplicates refused by hub %d" % (len(idx), state.duplicates))
            tap.ok(state.gaps == 0 and state.connections >= 2,
                   "the agent reconnected and resumed at the hub's sequence",
                   "gaps %d connections %d" % (state.gaps, state.connections))

            # 3: SIGTERM flushes and exits 0 with a GOODBYE.
            rc = stop(agent)
            tap.ok(rc == 0, "SIGTERM: exit status 0", "rc %r" % rc)
            tap.ok(T.wait_for(lambda: len(state.goodbyes) >= 1, 3), "the agent said goodbye")
            hub2.stop()
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            log.close()
            hub.stop()

        with open(log_path) as f:
            text = f.read()
        tap.ok("lost hub" in text and text.count("connected to") >= 2,
               "the agent logs losing and regaining the hub", text[-2000:])

        # 4: past the spool limit it pauses, then the kernel's ring (made
        # small here) holds what it can and drops the rest; counted and said.
        state = T.HubState()
        hub = T.TestHub(certs, state)
        log_path = os.path.join(tmp, "agent2.log")
        log = open(log_path, "w")
        agent = start_agent(certs, hub.port, "--netns", net.a, "-i", net.if_a, "-f",
                            "udp dst port %d" % PORT, "--spool-limit", "262144",
                            "--snaplen", "1024", "--buffer-size", "65536",
                            "--buffer-timeout", "1", "--stats-interval", "1", log=log)
        try:
            T.wait_for(lambda: state.headers, 10)
            port = hub.port
            hub.stop()
            time.sleep(0.5)
            T.send_udp(net.b, net.ip_a, PORT, 3000, size=300)
            time.sleep(1.5)
            hub = T.TestHub(certs, state, port=port)
            def source_drops():
                # kernel drops (10) while paused, spool drops (12) of a wake-up's rest
                return [sum(struct.unpack("<Q", r[1].get(k, [b"\0" * 8])[0])[0]
                            for k in (10, 12))
                        for r in (b.custom_record() for b in state.data())
                        if r and r[0] == T.REC_SOURCE]
            T.wait_for(lambda: any(d > 0 for d in source_drops()), 20)
            drops = source_drops()
            n = len(udp_indices(state.data()))
            tap.ok(drops and max(drops) > 0 and n < 3000 and n + max(drops) >= 3000,
                   "past the spool limit packets are dropped and counted in a SOURCE record",
                   "drops %r, received %d" % (drops, n))
            stop(agent)
            hub.stop()
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            log.close()
        with open(log_path) as f:
            text = f.read()
        tap.ok("capture paused" in text and "capture was paused while the spool was full"
               in text, "the agent says it paused and what the kernel dropped", text[-2000:])

        # 5: with the hub gone past the grace period, the agent exits with status 2.
        state = T.HubState()
        hub = T.TestHub(certs, state)
        agent = start_agent(certs, hub.port, "--netns", net.a, "-i", net.if_a, "--grace", "3",
                            log=subprocess.DEVNULL)
        T.wait_for(lambda: state.headers, 10)
        t0 = time.monotonic()
        hub.stop()
        try:
            rc = agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
            rc = agent.wait()
        took = time.monotonic() - t0
        tap.ok(rc == 2, "hub gone past --grace: exit status 2", "rc %r" % rc)
        # The grace period runs from the last word heard from the hub (a
        # heartbeat at most a second before it went away).
        tap.ok(2 <= took < 25, "it waited for the grace period, then left (%.1f s)" % took)

        # 6: an agent on the interface its hub connection uses does not capture itself.
        state = T.HubState()
        hub = T.TestHub(certs, state)
        agent = start_agent(certs, hub.port, "-i", "lo", "--stats-interval", "1",
                            log=subprocess.DEVNULL)
        try:
            T.wait_for(lambda: state.headers, 10)
            sent = T.run("python3", "-c",
                         "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                         "for i in range(200): s.sendto(i.to_bytes(4,'big')+b'x'*60,"
                         "('127.0.0.1',%d))" % PORT)
            T.wait_for(lambda: len(udp_indices(state.data())) >= 200, 10)
            own = 0
            for b in state.data():
                if b.type != T.BT_EPB:
                    continue
                caplen = struct.unpack_from("<I", b.body, 12)[0]
                pkt = b.body[20:20 + caplen]
                if len(pkt) >= 38 and pkt[12:14] == b"\x08\x00" and pkt[23] == 6:
                    sport, dport = struct.unpack_from(">HH", pkt, 34)
                    if hub.port in (sport, dport):
                        own += 1
            n = len(udp_indices(state.data()))
            tap.ok(n >= 200, "capturing on lo works (%d datagrams)" % n, sent.stderr)
            tap.ok(own == 0, "none of its own hub traffic is captured", "%d own packets" % own)
            rc = stop(agent)
            tap.ok(rc == 0, "exit 0 on SIGTERM", "rc %r" % rc)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            hub.stop()

        # 7: the analyzer sums up TCP/HTTP flows as records; --no-analyze turns it off.
        srv = subprocess.Popen(["ip", "netns", "exec", net.a, "python3", "-m", "http.server",
                                "--bind", net.ip_a, "8080"], cwd=tmp,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            T.wait_for(lambda: net.exec(net.b, "curl", "-sf", "-o", "/dev/null",
                                        "http://%s:8080/" % net.ip_a, check=False).returncode == 0,
                       10)
            for analyze in (True, False):
                state = T.HubState()
                hub = T.TestHub(certs, state)
                extra = [] if analyze else ["--no-analyze"]
                agent = start_agent(certs, hub.port, "--netns", net.a, "-i", net.if_a, "-f",
                                    "tcp port 8080", *extra, log=subprocess.DEVNULL)
                try:
                    T.wait_for(lambda: state.headers, 10)
                    for _ in range(3):
                        net.exec(net.b, "curl", "-sf", "-o", "/dev/null",
                                 "http://%s:8080/" % net.ip_a, check=False)
                    time.sleep(0.5)
                    rc = stop(agent)
                    flows = [r for r in (b.custom_record() for b in state.data())
                             if r and r[0] == 2]
                    gets = [r for r in flows if r[1].get(50) == [b"GET"]
                            and struct.unpack("<H", r[1].get(53, [b"\0\0"])[0])[0] == 200]
                    if analyze:
                        tap.ok(len(gets) == 3 and rc == 0,
                               "flow records: 3 HTTP GET exchanges with status 200",
                               "%d flow records, %d GET 200, rc %r" % (len(flows), len(gets), rc))
                        tap.ok(any(r[1].get(9) for r in flows),
                               "flow records carry the TCP state at connection end")
                    else:
                        tap.ok(not flows and udp_indices(state.data()) == [] and rc == 0
                               and any(b.type == T.BT_EPB for b in state.data()),
                               "--no-analyze: packets only, no flow records",
                               "%d flow records" % len(flows))
                finally:
                    if agent.poll() is None:
                        agent.kill()
                        agent.wait()
                    hub.stop()
        finally:
            srv.terminate()
            srv.wait()
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
