#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podscope-agent with the real podscope-hub: a capture in a test-made
namespace streamed over mutual TLS, checked through the hub's API and its
chunk files; then the hub is killed (-9) and restarted on the same port while
traffic goes on, and every packet must be stored exactly once. TAP output."""

import hashlib
import hmac
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pdsagenttest as T  # noqa: E402

BUILD = os.environ["PDS_BUILD_ROOT"]
AGENT = os.path.join(BUILD, "agent", "podscope-agent")
HUB = os.path.join(BUILD, "hub", "podscope-hub")
PORT = 5555
TOKEN = "pdsagent-test-token"


class Hub:
    def __init__(self, tmp, certs, ingest="127.0.0.1:0", join_secret=None):
        self.tmp = tmp
        self.ready = os.path.join(tmp, "ready-%d.json" % time.monotonic_ns())
        tok = os.path.join(tmp, "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        self.log = open(os.path.join(tmp, "hub.log"), "a")
        self.proc = subprocess.Popen(
            [HUB, "--data-dir", os.path.join(tmp, "data"), "--ca", certs["ca_crt"],
             "--cert", certs["hub_crt"], "--key", certs["hub_key"], "--token-file", tok,
             "--ingest", ingest, "--api", "127.0.0.1:0", "--ready-file", self.ready]
            + (["--ca-key", certs["ca_key"], "--join-secret-file", join_secret]
               if join_secret else []),
            stdout=self.log, stderr=self.log)
        if not T.wait_for(lambda: os.path.exists(self.ready) or self.proc.poll() is not None, 15):
            raise RuntimeError("hub did not start")
        if self.proc.poll() is not None:
            raise RuntimeError("hub exited with %d" % self.proc.returncode)
        with open(self.ready) as f:
            info = json.load(f)
        self.ingest_port = info["ingest_port"]
        self.api_port = info["api_port"]

    def get(self, path):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.api_port, path),
                                     headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def sources(self):
        try:
            return json.loads(self.get("/v1/sources"))
        except OSError:
            return []

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def udp_indices(blocks):
    out = []
    for b in blocks:
        if b.type != T.BT_EPB:
            continue
        caplen = struct.unpack_from(b.endian + "I", b.body, 12)[0]
        pkt = b.body[20:20 + caplen]
        if len(pkt) < 46 or pkt[12:14] != b"\x08\x00" or pkt[23] != 17:
            continue
        ihl = (pkt[14] & 15) * 4
        if struct.unpack_from(">H", pkt, 14 + ihl + 2)[0] == PORT:
            out.append(struct.unpack_from(">I", pkt, 14 + ihl + 8)[0])
    return out


def stored_blocks(tmp):
    """Every block of every chunk file the hub wrote (each is a complete section)."""
    d = os.path.join(tmp, "data")
    blocks = []
    for name in sorted(os.listdir(d)):
        if name.endswith(".pcapng"):
            blocks += T.read_pcapng(os.path.join(d, name))
    return blocks


def main():
    tap = T.Tap()
    if os.geteuid() != 0:
        tap.skip_all("network namespaces need root")
        return 0
    if not os.path.exists(HUB):
        tap.skip_all("podscope-hub is not built")
        return 0
    tap.plan(13)
    with tempfile.TemporaryDirectory(prefix="pdsah") as tmp, T.NetnsPair("pdsah") as net:
        certs = T.make_certs(tmp)
        hub = Hub(tmp, certs)
        agent_log = open(os.path.join(tmp, "agent.log"), "w")
        agent = subprocess.Popen(
            [AGENT, "--hub", "127.0.0.1:%d" % hub.ingest_port, "--ca", certs["ca_crt"],
             "--cert", certs["agent_crt"], "--key", certs["agent_key"], "--netns", net.a,
             "-i", net.if_a, "-f", "udp dst port %d" % PORT, "--stats-interval", "1",
             "--pod", "web-1", "--namespace", "shop", "--node", "node-a"],
            stdout=subprocess.DEVNULL, stderr=agent_log)
        try:
            ok = T.wait_for(lambda: any(s.get("connected") for s in hub.sources()), 10)
            tap.ok(ok, "the agent registers with the hub")
            src = hub.sources()[0] if hub.sources() else {}
            tap.ok(src.get("role") == "agent" and src.get("namespace") == "shop"
                   and src.get("pod") == "web-1" and src.get("node") == "node-a"
                   and src.get("interface") == net.if_a,
                   "the hub knows the source's identity", json.dumps(src))

            T.send_udp(net.b, net.ip_a, PORT, 3000)
            T.wait_for(lambda: sum(s.get("packets", 0) for s in hub.sources()) >= 3000, 15)
            pk = sum(s.get("packets", 0) for s in hub.sources())
            tap.ok(pk == 3000, "the hub counts every datagram sent (%d of 3000)" % pk)

            served = T.read_pcapng(hub.get("/v1/capture.pcapng"))
            idx = udp_indices(served)
            idbs = [b for b in served if b.type == T.BT_IDB]
            names = [dict(b.options(8)).get(2, b"").decode() for b in idbs]
            tap.ok(sorted(idx) == list(range(3000)),
                   "/v1/capture.pcapng serves them all once",
                   "%d served, %d unique" % (len(idx), len(set(idx))))
            tap.ok("shop/web-1/%s" % net.if_a in names, "served IDB named shop/web-1/<if>",
                   repr(names))
            T.wait_for(lambda: any(b.type == T.BT_ISB for b in T.read_pcapng(
                hub.get("/v1/capture.pcapng"))), 5)
            tap.ok(any(b.type == T.BT_ISB for b in T.read_pcapng(hub.get("/v1/capture.pcapng"))),
                   "Interface Statistics Blocks reach the hub")

            # The hub dies; traffic goes on; the hub comes back on its port.
            port = hub.ingest_port
            hub.kill()
            T.send_udp(net.b, net.ip_a, PORT, 2000)
            time.sleep(1)
            hub.log.close()
            hub = Hub(tmp, certs, ingest="127.0.0.1:%d" % port)
            T.wait_for(lambda: len(udp_indices(stored_blocks(tmp))) >= 5000, 30, step=0.5)
            idx = udp_indices(stored_blocks(tmp))
            want = sorted(list(range(3000)) + list(range(2000)))
            tap.ok(sorted(idx) == want,
                   "after kill -9 and restart every datagram is stored exactly once",
                   "%d stored, want %d" % (len(idx), len(want)))
            agent.send_signal(signal.SIGTERM)
            try:
                rc = agent.wait(15)
            except subprocess.TimeoutExpired:
                rc = None
            tap.ok(rc == 0, "the agent exits 0 on SIGTERM", "rc %r" % rc)
            tap.ok(all(s.get("spool_drops", 0) == 0 for s in hub.sources()),
                   "no spool drops reported", json.dumps(hub.sources()))
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            agent_log.close()
            hub.stop()
            with open(os.path.join(tmp, "agent.log")) as f:
                tap.diag("agent log tail:\n" + f.read()[-1500:])

        # Join: no certificate files, a single-use token and the CA's fingerprint.
        secret = os.path.join(tmp, "join.secret")
        with open(secret, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        with open(secret) as f:
            key = f.read().strip().encode()
        nonce = os.urandom(8).hex()
        msg = "shop/cart-2/%s" % nonce
        token = "%s/%s" % (msg, hmac.new(key, msg.encode(), hashlib.sha256).hexdigest())
        der = subprocess.run(["openssl", "x509", "-in", certs["ca_crt"], "-outform", "DER"],
                             check=True, stdout=subprocess.PIPE).stdout
        fingerprint = "sha256:" + hashlib.sha256(der).hexdigest()
        os.makedirs(os.path.join(tmp, "join"))
        hub = Hub(os.path.join(tmp, "join"), certs, join_secret=secret)
        env = dict(os.environ, PODSCOPE_JOIN_TOKEN=token, PODSCOPE_CA_FINGERPRINT=fingerprint)
        agent = subprocess.Popen(
            [AGENT, "--hub", "127.0.0.1:%d" % hub.ingest_port, "--netns", net.a, "-i", net.if_a,
             "-f", "udp dst port %d" % PORT], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        try:
            ok = T.wait_for(lambda: any(s.get("connected") for s in hub.sources())
                            or agent.poll() is not None, 15)
            src = hub.sources()[0] if hub.sources() else {}
            tap.ok(ok and src.get("namespace") == "shop" and src.get("pod") == "cart-2",
                   "join: the agent gets a certificate with the token and streams as its pod",
                   json.dumps(src) + (agent.stderr.read() if agent.poll() is not None else ""))
            T.send_udp(net.b, net.ip_a, PORT, 500)
            T.wait_for(lambda: sum(s.get("packets", 0) for s in hub.sources()) >= 500, 10)
            pk = sum(s.get("packets", 0) for s in hub.sources())
            tap.ok(pk == 500, "join: packets arrive (%d of 500)" % pk)
            agent.send_signal(signal.SIGTERM)
            agent.wait(15)
            # The same token again: refused, with the hub's reason.
            again = subprocess.run(
                [AGENT, "--hub", "127.0.0.1:%d" % hub.ingest_port, "--netns", net.a, "-i",
                 net.if_a], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, timeout=60)
            tap.ok(again.returncode == 1 and "join" in again.stderr,
                   "join: a used token is refused with exit status 1", again.stderr)
            bad = subprocess.run(
                [AGENT, "--hub", "127.0.0.1:%d" % hub.ingest_port, "-i", "lo", "--join-token",
                 token, "--ca-fingerprint", "sha256:" + "00" * 32], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True, timeout=60)
            tap.ok(bad.returncode == 1 and "podscope-agent:" in bad.stderr,
                   "join: a wrong CA fingerprint is refused", bad.stderr)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            hub.stop()
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
