#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TAP: the "podscope" (Kubernetes) extcap interface against the fake API
server of tests/k8s (pods are network namespaces, with the real hub and
agents). The extcap runs as dumpcap runs it, writing into a fifo; SIGTERM
must stop it within 25 s and leave no session object behind.

    test-extcap-k8s.py PODSCOPE
Needs root (network namespaces); exits 77 otherwise.
"""
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SOURCE = os.environ.get("PDS_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PDS_BUILD_ROOT", "")
PODSCOPE = sys.argv[1]
K8S_TESTS = os.path.join(SOURCE, "tests", "k8s")
sys.path.insert(0, os.path.join(K8S_TESTS, "fakeapi"))

if os.geteuid() != 0:
    print("1..0 # SKIP needs root (pods are network namespaces)")
    sys.exit(77)

from cluster import FakeCluster  # noqa: E402

# The session tests' helpers: pods that echo, requests from the node, object queries.
spec = importlib.util.spec_from_file_location("pds_session_test",
                                              os.path.join(K8S_TESTS, "test-session.py"))
helpers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helpers)

n = 0
failed = False


def report(ok, name, detail=""):
    global n, failed
    n += 1
    print(("ok %d - %s" if ok else "not ok %d - %s") % (n, name))
    if not ok:
        failed = True
        for line in str(detail).splitlines()[-30:]:
            print("# " + line)
    sys.stdout.flush()


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def main():
    work = tempfile.mkdtemp(prefix="pds-ws-k8s-")
    fifo = os.path.join(work, "fifo")
    out = os.path.join(work, "k8s.pcapng")
    log = os.path.join(work, "extcap.log")
    os.mkfifo(fifo)
    ns = "wsk8s"
    labels = {"web-1": {"app": "web"}, "web-2": {"app": "web"}, "db-1": {"app": "db"}}
    with FakeCluster() as k:
        helpers.make_pods(k, ns, list(labels), labels)
        env = dict(os.environ)
        env["PODSCOPE_HUB_BIN"] = os.path.join(BUILD, "hub", "podscope-hub")
        env["PODSCOPE_AGENT_BIN"] = os.path.join(BUILD, "agent", "podscope-agent")
        # As dumpcap: read the fifo while the extcap writes.
        reader = subprocess.Popen(["sh", "-c", 'cat "$0" > "$1"', fifo, out])
        extcap = subprocess.Popen([PODSCOPE, "--capture", "--extcap-interface", "podscope",
                                   "--fifo", fifo, "--kubeconfig", k.kubeconfig,
                                   "--namespace", ns, "--selector", "app=web",
                                   "--extcap-capture-filter", "tcp port 8080",
                                   "--log-file", log],
                                  env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

        def log_text():
            try:
                with open(log) as f:
                    return f.read()
            except OSError:
                return ""

        started = wait_for(lambda: "tapping" in log_text() or extcap.poll() is not None, 150)
        m = re.search(r"session namespace podscope-([0-9a-f]+): tapping (.*)", log_text())
        report(started and m is not None, "the extcap starts a session and names the tapped pods",
               log_text())
        sid = m.group(1) if m else ""
        tapped = m.group(2) if m else ""
        report(sorted(tapped.split(", ")) == ["%s/web-1" % ns, "%s/web-2" % ns],
               "the label selector picks web-1 and web-2 (%s)" % tapped)
        wait_for(lambda: len([a for a in helpers.agents(k, sid)
                              if a["pid"] and a["returncode"] is None]) == 2, 30)
        time.sleep(2)
        ips = {name: helpers.pod_ip(k, ns, name) for name in labels}
        for round_ in range(3):
            for name, ip in ips.items():
                helpers.http_from_node(k, ip, "/ws-%s-%d" % (name, round_))
            time.sleep(0.3)
        time.sleep(2)

        t0 = time.monotonic()
        extcap.send_signal(signal.SIGTERM)
        try:
            rc = extcap.wait(60)
        except subprocess.TimeoutExpired:
            extcap.kill()
            rc = extcap.wait()
        took = time.monotonic() - t0
        stderr = extcap.stderr.read()
        reader.wait(30)
        report(rc == 0 and took < 25 and stderr == "",
               "SIGTERM: exit status %d after %.1f s, nothing on stderr" % (rc, took),
               stderr + log_text())
        left = helpers.wait_no_objects(k, sid, timeout=2.0)
        report(left == [], "no object of session %s is left" % sid, left)

        uris = set(helpers.tshark_fields(out, "http.request.uri", display_filter="http.request"))
        want = {"/ws-%s-%d" % (name, r) for name in ("web-1", "web-2") for r in range(3)}
        report(want <= uris and not any("db-1" in u for u in uris),
               "the fifo got the requests to web-1 and web-2, none to db-1", sorted(uris))
        other = helpers.tshark_fields(out, "frame.number",
                                      display_filter="eth && !(tcp.port == 8080)")
        report(other == [], "the capture filter reached the agents (%d other packets)" % len(other))
        r = subprocess.run(["tshark", "-r", out, "-N", "n", "-T", "fields", "-e", "ip.dst_host",
                            "-Y", "http.request"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=60)
        hosts = set(r.stdout.split())
        report({"web-1." + ns, "web-2." + ns} <= hosts, "pod names from the NRBs with -N n",
               sorted(hosts))
    subprocess.run(["rm", "-rf", work])


try:
    main()
except Exception:
    report(False, "the Kubernetes extcap test ran", traceback.format_exc())
print("1..%d" % n)
sys.exit(1 if failed else 0)
