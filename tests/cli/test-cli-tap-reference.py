#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""2 pods, 1 hub, 2 agents, real HTTP traffic: `podscope tap --netns A --netns B
-w out.pcapng` holds every TCP packet that tcpdump, capturing the same
interfaces at the same time, holds — same packet count and same SHA-256 of the
payload bytes per flow direction. Also: the file is what tshark reads, its
interfaces are named <namespace>/<pod>/<ifname>, -w - streams to stdout, and
--pid taps the namespace of a process.
TAP. Usage: test-cli-tap-reference.py PODSCOPE   (root; skips otherwise)"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pds_cli_test as t  # noqa: E402

PORT = 8080


def wait_for_line(path, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            if text in f.read():
                return True
        time.sleep(0.1)
    return False


def main():
    if len(sys.argv) != 2:
        t.bail_out("usage: test-cli-tap-reference.py PODSCOPE")
    podscope = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        t.skip_all("needs root (network namespaces, capture)")
    for tool in ("ip", "tcpdump", "tshark", "curl"):
        if shutil.which(tool) is None:
            t.bail_out(f"{tool} is missing")

    tap = t.Tap(10)
    tmp = tempfile.mkdtemp(prefix="pds-cli-ref-")
    os.chmod(tmp, 0o755)
    pair = None
    procs = []
    env = dict(os.environ, LC_ALL="C.UTF-8", LANGUAGE="")
    try:
        pair = t.NetnsPair(f"pdsclit-{os.getpid()}", "10.241.0")
        files = t.make_site(os.path.join(tmp, "www"))
        server = t.start_http_server(pair.b, pair.addr_b, PORT, os.path.join(tmp, "www"))
        procs.append(server)

        ref_a = os.path.join(tmp, "ref-a.pcap")
        ref_b = os.path.join(tmp, "ref-b.pcap")
        dump_a = t.start_tcpdump(pair.a, ref_a)
        dump_b = t.start_tcpdump(pair.b, ref_b)
        procs += [dump_a, dump_b]

        out = os.path.join(tmp, "out.pcapng")
        err_path = os.path.join(tmp, "tap.err")
        with open(err_path, "w") as err:
            tap_proc = subprocess.Popen([podscope, "tap", "--netns", pair.a, "--netns", pair.b,
                                         "-w", out], stderr=err, env=env)
        procs.append(tap_proc)
        started = wait_for_line(err_path, "Writing pcapng to")
        with open(err_path) as f:
            tapping = f.read()
        tap.check(started and f"Tapping netns {pair.a} (1 interface: eth0)" in tapping
                  and f"Tapping netns {pair.b} (1 interface: eth0)" in tapping,
                  "podscope tap starts one agent per namespace", tapping)
        if not started:
            t.bail_out("podscope tap did not start")

        # Real traffic: keep-alive connections with several requests, and single ones.
        codes = []
        base = f"http://{pair.addr_b}:{PORT}/"
        for i in range(6):
            codes += t.curl(pair.a, [base + f for f in files])
            codes += t.curl(pair.a, [base + files[i % len(files)]])
            codes += t.curl(pair.a, [base + "no-such-file"])
        want = 6 * (len(files) + 2)
        tap.check(len(codes) == want and all(c in ("200", "404") for c in codes),
                  f"{want} HTTP requests answered", " ".join(codes))

        # Let the last ACKs pass, then stop everything: podscope first, as a user would.
        time.sleep(0.5)
        rc = t.stop_process(tap_proc)
        with open(err_path) as f:
            tap_err = f.read()
        tap.check(rc == 0, f"podscope tap exits 0 on SIGINT (exit {rc})", tap_err)
        dropped = {"A": t.stop_tcpdump(dump_a), "B": t.stop_tcpdump(dump_b)}

        # The file: whole blocks, and tshark reads it.
        try:
            names = t.interface_names(out)
            whole = True
        except ValueError as e:
            names, whole = set(), False
            tap.diag(str(e))
        tap.check(whole, "out.pcapng consists of whole pcapng blocks")
        want_a = f"local/{pair.a}/eth0"
        want_b = f"local/{pair.b}/eth0"
        tap.check({want_a, want_b} <= names, "interfaces are named <namespace>/<pod>/<ifname>",
                  f"found {sorted(n for n in names if n)}")
        r = subprocess.run(["tshark", "-r", out, "-Y", f"tcp.port == {PORT}", "-T", "fields",
                            "-e", "frame.number"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        ours_a = t.tcp_flows(out, want_a, PORT)
        ours_b = t.tcp_flows(out, want_b, PORT)
        ours_total = sum(v[0] for v in ours_a.values()) + sum(v[0] for v in ours_b.values())
        tshark_count = len(r.stdout.split())
        tap.check(r.returncode == 0 and tshark_count == ours_total,
                  f"tshark reads out.pcapng: {tshark_count} TCP packets, our reader {ours_total}",
                  r.stderr)

        for label, ref, ours in (("A", ref_a, ours_a), ("B", ref_b, ours_b)):
            reference = t.tcp_flows(ref, None, PORT)
            n_ref = sum(v[0] for v in reference.values())
            diff = t.compare_flows(reference, ours)
            tap.check(n_ref > 0 and diff == "" and dropped[label] == 0,
                      f"pod {label}: {n_ref} TCP packets in {len(reference)} flow directions, "
                      f"same count and payload hash as tcpdump",
                      f"tcpdump dropped {dropped[label]} packets\n{diff}")

        # -w - : stdout is the stream; stderr stays quiet without -v.
        pipe_err = os.path.join(tmp, "pipe.err")
        pipe_out = os.path.join(tmp, "pipe.pcapng")
        with open(pipe_err, "w") as err, open(pipe_out, "wb") as so:
            p = subprocess.Popen([podscope, "tap", "--netns", pair.b, "-w", "-"], stdout=so,
                                 stderr=err, env=env)
        procs.append(p)
        # Ready once the hub has written the header (SHB + IDB) to stdout.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.getsize(pipe_out) == 0:
            time.sleep(0.1)
        codes = t.curl(pair.a, [base + "index.html"])
        time.sleep(0.5)
        rc = t.stop_process(p)
        flows = t.tcp_flows(pipe_out, f"local/{pair.b}/eth0", PORT)
        with open(pipe_err) as f:
            quiet = "Tapping" not in f.read()
        tap.check(rc == 0 and codes == ["200"] and sum(v[0] for v in flows.values()) > 0
                  and quiet, "-w - writes the capture to stdout, no progress on stderr",
                  f"exit {rc}, codes {codes}, flows {flows}, quiet {quiet}")

        # The pipeline users type: podscope tap ... -w - | tshark -r -
        err_path = os.path.join(tmp, "tshark-pipe.err")
        with open(err_path, "w") as err:
            # --pid: the namespace of the HTTP server process, i.e. B again.
            p = subprocess.Popen([podscope, "tap", "--pid", str(server.pid), "-v", "-w", "-"],
                                 stdout=subprocess.PIPE, stderr=err, env=env)
        procs.append(p)
        ts = subprocess.Popen(["tshark", "-r", "-", "-Y", "http.request", "-T", "fields",
                               "-e", "http.request.uri"], stdin=p.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        p.stdout.close()
        procs.append(ts)
        started = wait_for_line(err_path, "Writing pcapng to")
        codes = t.curl(pair.a, [base + "medium.txt", base + "index.html"])
        time.sleep(0.5)
        rc = t.stop_process(p)
        try:
            uris = ts.communicate(timeout=30)[0].split()
        except subprocess.TimeoutExpired:
            uris = ["(tshark did not end)"]
        tap.check(started and rc == 0 and codes == ["200", "200"]
                  and uris == ["/medium.txt", "/index.html"],
                  "podscope tap --pid SERVER -w - | tshark -r - shows the HTTP requests",
                  f"exit {rc}, codes {codes}, tshark saw {uris}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if pair is not None:
            pair.remove()
        if os.environ.get("PDS_TEST_KEEP_TMP"):
            tap.diag(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    tap.exit()


if __name__ == "__main__":
    main()
