#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hub restart under traffic: podscope-hub is killed with SIGKILL and started
again (same data dir, same ports) while an agent streams real HTTP traffic.
Afterwards the hub's /v1/capture.pcapng holds every TCP packet that tcpdump,
capturing the same interface, holds (the agent's spool, 64 MiB, is far larger
than this traffic): same count and SHA-256 of the payload per flow direction.
The hub and agent run directly, with credentials made by openssl, so the test
also shows that the session credentials need nothing of our own.
TAP. Usage: test-cli-hub-restart.py   (root; PDS_BUILD_ROOT from meson)"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pds_cli_test as t  # noqa: E402

PORT = 8080


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_credentials(d):
    """CA (ECDSA P-256), hub certificate for podscope-hub/127.0.0.1, one client."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-days", "1",
            "-subj", "/CN=PodScope test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (
            ("hub", "podscope-hub",
             "subjectAltName=DNS:podscope-hub,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
             "keyUsage=critical,digitalSignature\n"),
            ("agent", "podscope-agent-0",
             "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
                "-subj", f"/CN={cn}")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.crt", "-CAkey",
                f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/{name}.crt", "-days", "1",
                "-extfile", f"{d}/{name}.ext")
    with open(f"{d}/token", "w") as f:
        f.write(os.urandom(16).hex())
    os.chmod(f"{d}/token", 0o600)


def start_hub(hub_bin, d, ingest, api, log):
    ready = f"{d}/ready.json"
    if os.path.exists(ready):
        os.unlink(ready)
    proc = subprocess.Popen([hub_bin, "--data-dir", f"{d}/data", "--ca", f"{d}/ca.crt",
                             "--cert", f"{d}/hub.crt", "--key", f"{d}/hub.key",
                             "--token-file", f"{d}/token", "--ingest", f"127.0.0.1:{ingest}",
                             "--api", f"127.0.0.1:{api}", "--ready-file", ready],
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc, None
        try:
            with open(ready) as f:
                return proc, json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    return proc, None


def api_get(d, port, path, timeout=30):
    with open(f"{d}/token") as f:
        token = f.read().strip()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    # No proxy may see this: the hub is on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as r:
        return r.read()


def main():
    if os.geteuid() != 0:
        t.skip_all("needs root (network namespaces, capture)")
    for tool in ("ip", "tcpdump", "curl", "openssl"):
        if shutil.which(tool) is None:
            t.bail_out(f"{tool} is missing")
    root = t.build_root()
    hub_bin = os.environ.get("PODSCOPE_HUB_BIN", f"{root}/hub/podscope-hub")
    agent_bin = os.environ.get("PODSCOPE_AGENT_BIN", f"{root}/agent/podscope-agent")

    tap = t.Tap(7)
    tmp = tempfile.mkdtemp(prefix="pds-cli-restart-")
    os.chmod(tmp, 0o755)
    pair = None
    procs = []
    log = open(f"{tmp}/daemons.log", "w")
    try:
        make_credentials(tmp)
        os.mkdir(f"{tmp}/data", 0o700)
        pair = t.NetnsPair(f"pdsclir-{os.getpid()}", "10.242.0")
        files = t.make_site(f"{tmp}/www")
        procs.append(t.start_http_server(pair.b, pair.addr_b, PORT, f"{tmp}/www"))
        ref = f"{tmp}/ref.pcap"
        dump = t.start_tcpdump(pair.a, ref)
        procs.append(dump)

        hub, ready = start_hub(hub_bin, tmp, 0, 0, log)
        procs.append(hub)
        if not tap.check(ready is not None, "podscope-hub starts with openssl-made credentials"):
            t.bail_out("the hub did not start; see " + f"{tmp}/daemons.log")
        ingest, api = ready["ingest_port"], ready["api_port"]
        agent = subprocess.Popen([agent_bin, "--hub", f"127.0.0.1:{ingest}", "--ca",
                                  f"{tmp}/ca.crt", "--cert", f"{tmp}/agent.crt", "--key",
                                  f"{tmp}/agent.key", "--interface", "eth0", "--netns", pair.a,
                                  "--pod", "a", "--grace", "60"], stdout=log, stderr=log)
        procs.append(agent)
        deadline = time.monotonic() + 20
        connected = False
        while time.monotonic() < deadline and not connected:
            try:
                sources = json.loads(api_get(tmp, api, "/v1/sources", 5))
                connected = any(s.get("connected") for s in sources)
            except OSError:
                pass
            time.sleep(0.1)
        if not tap.check(connected, "the agent connects"):
            t.bail_out("the agent did not connect")

        # Traffic the whole time: one request after another, new connections and kept-alive.
        codes = []
        stop = threading.Event()
        base = f"http://{pair.addr_b}:{PORT}/"

        def client():
            i = 0
            while not stop.is_set():
                codes.extend(t.curl(pair.a, [base + files[i % 3], base + files[(i + 1) % 3]]))
                i += 1
                time.sleep(0.05)

        th = threading.Thread(target=client)
        th.start()
        time.sleep(2)
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        time.sleep(1.5)
        hub, ready = start_hub(hub_bin, tmp, ingest, api, log)
        procs.append(hub)
        tap.check(ready is not None and ready["ingest_port"] == ingest and ready["api_port"] == api,
                  "podscope-hub restarts on the same ports after SIGKILL", json.dumps(ready))
        time.sleep(2.5)
        stop.set()
        th.join()
        tap.check(len(codes) > 20 and all(c == "200" for c in codes),
                  f"{len(codes)} HTTP requests answered while the hub restarted",
                  " ".join(codes))

        # The agent flushes on SIGTERM (waits for the hub's acknowledgements).
        time.sleep(0.5)
        rc = t.stop_process(agent, signal.SIGTERM)
        tap.check(rc == 0, f"the agent exits 0 on SIGTERM (exit {rc})")
        dropped = t.stop_tcpdump(dump)

        out = f"{tmp}/session.pcapng"
        with open(out, "wb") as f:
            f.write(api_get(tmp, api, "/v1/capture.pcapng"))
        names = t.interface_names(out)
        ifname = next((n for n in names if n and n.endswith("/a/eth0")), None)
        reference = t.tcp_flows(ref, None, PORT)
        ours = t.tcp_flows(out, ifname, PORT)
        n_ref = sum(v[0] for v in reference.values())
        n_ours = sum(v[0] for v in ours.values())
        tap.check(ifname is not None, f"the session has the agent's interface ({ifname})",
                  f"interfaces: {sorted(n for n in names if n)}")
        diff = t.compare_flows(reference, ours)
        tap.check(n_ref > 0 and dropped == 0 and diff == "",
                  f"session after the restart: {n_ours} TCP packets, reference {n_ref} in "
                  f"{len(reference)} flow directions; same count and payload hash",
                  f"tcpdump dropped {dropped}\n{diff}")
    finally:
        stop_all = [p for p in procs if p.poll() is None]
        for p in stop_all:
            p.kill()
            p.wait()
        log.close()
        if pair is not None:
            pair.remove()
        if tap.failed:
            with open(f"{tmp}/daemons.log", errors="replace") as f:
                tap.diag("".join(f.readlines()[-40:]))
        if os.environ.get("PDS_TEST_KEEP_TMP"):
            tap.diag(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    tap.exit()


if __name__ == "__main__":
    main()
