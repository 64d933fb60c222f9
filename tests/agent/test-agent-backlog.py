#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podscope-agent stopping with a backlog in the kernel ring: the agent is
frozen (SIGSTOP) while datagrams pile up in its TPACKET_V3 ring, then told to
stop (SIGTERM, SIGCONT). Every datagram must reach the hub or a drop counter:
the stop drains every ready ring block, not only the current one. TAP output."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pdsagenttest as T  # noqa: E402

BUILD = os.environ["PDS_BUILD_ROOT"]
AGENT = os.path.join(BUILD, "agent", "podscope-agent")
from importlib import import_module  # noqa: E402

PORT = 5557
COUNT = 20000


def main():
    tap = T.Tap()
    if os.geteuid() != 0:
        tap.skip_all("network namespaces need root")
        return 0
    if not os.path.exists(os.path.join(BUILD, "hub", "podscope-hub")):
        tap.skip_all("podscope-hub is not built")
        return 0
    hubmod = import_module("test-agent-hub")
    tap.plan(4)
    with tempfile.TemporaryDirectory(prefix="pdsbl") as tmp, T.NetnsPair("pdsbl") as net:
        certs = T.make_certs(tmp)
        hub = hubmod.Hub(tmp, certs)
        agent_log = open(os.path.join(tmp, "agent.log"), "w")
        agent = subprocess.Popen(
            [AGENT, "--hub", "127.0.0.1:%d" % hub.ingest_port, "--ca", certs["ca_crt"],
             "--cert", certs["agent_crt"], "--key", certs["agent_key"], "--netns", net.a,
             "-i", net.if_a, "-f", "udp dst port %d" % PORT, "--pod", "backlog"],
            stdout=subprocess.DEVNULL, stderr=agent_log)
        try:
            ok = T.wait_for(lambda: any(s.get("connected") for s in hub.sources()), 10)
            tap.ok(ok, "the agent registers with the hub")
            agent.send_signal(signal.SIGSTOP)
            T.send_udp(net.b, net.ip_a, PORT, COUNT, size=200, rate_pause_every=1000)
            time.sleep(0.3)
            agent.send_signal(signal.SIGTERM)
            agent.send_signal(signal.SIGCONT)
            try:
                rc = agent.wait(30)
            except subprocess.TimeoutExpired:
                rc = None
            tap.ok(rc == 0, "the agent exits 0 on SIGTERM", "rc %r" % rc)
            src = hub.sources()[0] if hub.sources() else {}
            packets = src.get("packets", 0)
            drops = src.get("kernel_drops", 0) + src.get("spool_drops", 0)
            tap.ok(packets + drops == COUNT,
                   "every datagram is stored or counted as dropped",
                   "%d stored + %d dropped of %d: %s" % (packets, drops, COUNT,
                                                          json.dumps(src)))
            tap.ok(drops == 0 and packets == COUNT,
                   "a backlog the ring holds is drained when stopping",
                   "%d stored, %d dropped" % (packets, drops))
        finally:
            if agent.poll() is None:
                agent.send_signal(signal.SIGCONT)
                agent.kill()
                agent.wait()
            agent_log.close()
            hub.stop()
            with open(os.path.join(tmp, "agent.log")) as f:
                tap.diag("agent log tail:\n" + f.read()[-1500:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
