#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TAP: `podscope tap -n NS -l SEL` end to end against the fake API server.

The fake runs pods as network namespaces, the real podscope-hub for the hub
Deployment and the real podscope-agent for each ephemeral container, so the
session controller (extcap/pds-kube-session.c) is exercised for real: the
objects it makes and deletes, the agents' join, the port-forward, names,
Pod Security handling, teardown on SIGINT/SIGTERM and `podscope clean`
after kill -9. Needs root (network namespaces); exits 77 otherwise.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fakeapi"))

from cluster import FakeCluster  # noqa: E402

BUILD = os.environ.get("PDS_BUILD_ROOT", "")
PODSCOPE = os.environ.get("PODSCOPE_BIN") or os.path.join(BUILD, "extcap", "podscope")
HUB_BIN = os.environ.get("PODSCOPE_HUB_BIN") or os.path.join(BUILD, "hub", "podscope-hub")
AGENT_BIN = os.environ.get("PODSCOPE_AGENT_BIN") or os.path.join(BUILD, "agent", "podscope-agent")
GROUP = sys.argv[1] if len(sys.argv) > 1 else "all"

TESTS = []


def test(group):
    def wrap(fn):
        TESTS.append((group, fn))
        return fn
    return wrap


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


class Tap:
    """A running `podscope tap`, its stderr collected line by line."""

    def __init__(self, k, args, out, stdout_path=None):
        self.lines = []
        self.lock = threading.Lock()
        env = dict(os.environ)
        env["PODSCOPE_HUB_BIN"] = HUB_BIN
        env["PODSCOPE_AGENT_BIN"] = AGENT_BIN
        cmd = [PODSCOPE, "tap", "--kubeconfig", k.kubeconfig, "-w", out] + args
        self.cmd = cmd
        stdout = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=stdout, stderr=subprocess.PIPE, text=True)
        if stdout_path:
            stdout.close()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.lock:
                self.lines.append(line.rstrip("\n"))
            sys.stdout.write("# podscope: " + line)
            sys.stdout.flush()

    def text(self):
        with self.lock:
            return "\n".join(self.lines)

    def wait_line(self, pattern, timeout=90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.proc.poll() is not None:
                self.reader.join(2)
                m = re.search(pattern, self.text())
                if m:
                    return m
                raise AssertionError("podscope exited with %d before printing %r"
                                     % (self.proc.returncode, pattern))
            time.sleep(0.1)
        raise AssertionError("podscope did not print %r within %.0f s" % (pattern, timeout))

    def session_id(self):
        return self.wait_line(r"session ([0-9a-f]{8}):").group(1)

    def finish(self, timeout=60.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("podscope did not exit within %.0f s" % timeout)
        self.reader.join(5)
        return rc


WEB = ["python3", "-c",
       "import http.server as h\n"
       "class H(h.BaseHTTPRequestHandler):\n"
       "    def do_GET(self):\n"
       "        b = self.path.encode()\n"
       "        self.send_response(200); self.send_header('Content-Length', str(len(b)))\n"
       "        self.end_headers(); self.wfile.write(b)\n"
       "    def log_message(self, *a): pass\n"
       "h.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"]


def make_pods(k, ns, names, labels, ns_labels=None):
    k.create_namespace(ns, labels=ns_labels)
    for name in names:
        k.create_pod(ns, name, dict(labels[name]), command=WEB, port=8080)
    for name in names:
        k.wait_pod_running(ns, name, timeout=30)


def pod_ip(k, ns, name):
    return k.get("/api/v1/namespaces/%s/pods/%s" % (ns, name))["status"]["podIP"]


def http_from_node(k, ip, path):
    """One GET from the fake's node netns (the bridge), where every pod is reachable."""
    node = k.ready["node_netns"]
    r = subprocess.run(["ip", "netns", "exec", node, "python3", "-c",
                        "import urllib.request,sys; print(urllib.request.urlopen("
                        "'http://%s:8080%s', timeout=5).read().decode())" % (ip, path)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    eq(r.returncode, 0, "GET http://%s:8080%s from the node: %s" % (ip, path, r.stderr))
    return r.stdout.strip()


def session_objects(k, sid):
    return [o for o in k.objects("podscope/session=" + sid)]


def wait_no_objects(k, sid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        left = session_objects(k, sid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def agents(k, sid):
    return [p for p in k.processes() if p["ephemeral"] and p["container"] == "podscope-" + sid]


def tshark_fields(path, *fields, display_filter=None):
    cmd = ["tshark", "-r", path, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    if display_filter:
        cmd += ["-Y", display_filter]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    eq(r.returncode, 0, "tshark -r %s: %s" % (path, r.stderr))
    return [line for line in r.stdout.splitlines() if line]


def patches(k, sid):
    return [r for r in k.requests() if r["method"] == "PATCH"
            and r["path"].endswith("/ephemeralcontainers")
            and isinstance(r.get("body"), dict)
            and any(c.get("name") == "podscope-" + sid
                    for c in r["body"].get("spec", {}).get("ephemeralContainers", []))]


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


# --------------------------------------------------------------------------

def run_shop(k, work, stop_signal):
    """3 of 4 pods match app=web; traffic to all 4; stop with @stop_signal."""
    ns = "shop-" + stop_signal.name.lower()
    labels = {"web-1": {"app": "web"}, "web-2": {"app": "web"}, "web-3": {"app": "web"},
              "db-1": {"app": "db"}}
    make_pods(k, ns, list(labels), labels)
    out = os.path.join(work, ns + ".pcapng")
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], out)
    sid = t.session_id()
    t.wait_line(r"3 pod\(s\) tapped", timeout=120)
    # Wait for the three agents to run and join.
    k.wait(lambda: len([a for a in agents(k, sid) if a["pid"] and a["returncode"] is None]) == 3,
           timeout=30, what="3 agents running")
    time.sleep(2.0)
    ips = {name: pod_ip(k, ns, name) for name in labels}
    for round_ in range(3):
        for name, ip in ips.items():
            eq(http_from_node(k, ip, "/marker-%s-%d" % (name, round_)), "/marker-%s-%d" % (name, round_),
               "echo of " + name)
        time.sleep(0.5)
    time.sleep(2.0)
    check(len(session_objects(k, sid)) > 0, "session objects exist while tapping")
    started = time.monotonic()
    t.proc.send_signal(stop_signal)
    rc = t.finish(timeout=60)
    took = time.monotonic() - started
    eq(rc, 0, "podscope exit status after %s" % stop_signal.name)
    check(took < 30, "teardown took %.1f s (limit 25 s + slack)" % took)
    left = wait_no_objects(k, sid, timeout=2.0)
    eq(left, [], "objects labelled podscope/session=%s after %s" % (sid, stop_signal.name))
    check(re.search(r"session %s removed" % sid, t.text()), "teardown reported")

    # The ephemeral containers asked for: NET_RAW only, a token bound to the pod, the pin.
    ps = patches(k, sid)
    eq(sorted(p["path"].split("/")[6] for p in ps), ["web-1", "web-2", "web-3"], "patched pods")
    for p in ps:
        eq(p["contentType"], "application/strategic-merge-patch+json", "patch content type")
        c = p["body"]["spec"]["ephemeralContainers"][0]
        pod = p["path"].split("/")[6]
        env = env_of(c)
        eq(c["securityContext"].get("capabilities"), {"add": ["NET_RAW"]}, "capabilities")
        eq(c["securityContext"].get("readOnlyRootFilesystem"), True, "read-only root")
        eq(env["PODSCOPE_NAMESPACE"], ns, "PODSCOPE_NAMESPACE")
        eq(env["PODSCOPE_POD"], pod, "PODSCOPE_POD")
        check(env["PODSCOPE_JOIN_TOKEN"].startswith("%s/%s/" % (ns, pod)), "token bound to its pod")
        check(re.fullmatch(r"sha256:[0-9a-f]{64}", env["PODSCOPE_CA_FINGERPRINT"]), "CA pin")
        check("PODSCOPE_CERT" not in env and "PODSCOPE_KEY" not in env, "no key material in env")

    # What the file holds: the 3 web pods by name, nothing of db-1.
    if_names = tshark_fields(out, "frame.interface_name")
    seen_ifs = set(if_names)
    for name in ("web-1", "web-2", "web-3"):
        check("%s/%s/eth0" % (ns, name) in seen_ifs, "packets of %s in %s (saw %s)" % (name, out, seen_ifs))
    check(not any("db-1" in i for i in seen_ifs), "no interface of db-1: %s" % seen_ifs)
    uris = set(tshark_fields(out, "http.request.uri", display_filter="http.request"))
    for name in ("web-1", "web-2", "web-3"):
        for round_ in range(3):
            check("/marker-%s-%d" % (name, round_) in uris, "request to %s round %d captured" % (name, round_))
    check(not any("db-1" in u for u in uris), "no request of db-1 captured: %s" % uris)
    # Names: the pods' addresses resolve to "<pod>.<ns>" from the hub's NRBs.
    r = subprocess.run(["tshark", "-r", out, "-N", "n", "-T", "fields", "-e", "ip.dst_host",
                        "-Y", "http.request"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    hosts = set(r.stdout.split())
    for name in ("web-1", "web-2", "web-3"):
        check("%s.%s" % (name, ns) in hosts, "pod name %s.%s from NRBs (saw %s)" % (name, ns, hosts))
    return sid


@test("main")
def tap_three_of_four_sigint(k, work):
    """-n shop -l app=web: 3 of 4 pods tapped, their traffic by pod name; SIGINT leaves nothing"""
    run_shop(k, work, signal.SIGINT)


@test("main")
def tap_sigterm(k, work):
    """the same with SIGTERM: nothing labelled with the session remains"""
    run_shop(k, work, signal.SIGTERM)


@test("main")
def kill9_then_clean(k, work):
    """controller killed with -9: objects stay; `podscope clean` removes them all"""
    ns = "shop-kill"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], os.path.join(work, "kill.pcapng"))
    sid = t.session_id()
    t.wait_line(r"1 pod\(s\) tapped", timeout=120)
    t.proc.send_signal(signal.SIGKILL)
    t.finish()
    check(len(session_objects(k, sid)) > 0, "objects remain after kill -9")
    kinds = {o["kind"] for o in session_objects(k, sid)}
    check({"Namespace", "ClusterRole", "ClusterRoleBinding"} <= kinds, "cluster-scoped leftovers: %s" % kinds)
    r = subprocess.run([PODSCOPE, "clean", "--kubeconfig", k.kubeconfig], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    sys.stdout.write("".join("# clean: %s\n" % line for line in r.stderr.splitlines()))
    eq(r.returncode, 0, "podscope clean exit status")
    check("podscope-%s" % sid in r.stderr and "is gone" in r.stderr, "clean says why it deleted")
    eq(wait_no_objects(k, sid, timeout=2.0), [], "objects of session %s after clean" % sid)
    eq(k.objects("app.kubernetes.io/managed-by=podscope"), [], "no PodScope object at all")


@test("main")
def clean_keeps_live_sessions(k, work):
    """`podscope clean` leaves a session whose controller still runs"""
    ns = "shop-live"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], os.path.join(work, "live.pcapng"))
    sid = t.session_id()
    t.wait_line(r"1 pod\(s\) tapped", timeout=120)
    r = subprocess.run([PODSCOPE, "clean", "--kubeconfig", k.kubeconfig], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    eq(r.returncode, 0, "podscope clean exit status")
    check("keeping podscope-%s" % sid in r.stderr, "clean keeps the live session: %s" % r.stderr)
    check(len(session_objects(k, sid)) > 0, "live session untouched")
    t.proc.send_signal(signal.SIGINT)
    eq(t.finish(), 0, "podscope exit status")
    eq(wait_no_objects(k, sid), [], "objects after SIGINT")


@test("main")
def new_pod_is_tapped(k, work):
    """a matching pod that appears during the session gets an agent too"""
    ns = "shop-grow"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    # -w -: the capture on stdout (here a file, as a pipe to tshark would get it)
    out = os.path.join(work, "grow-stdout.pcapng")
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], "-", stdout_path=out)
    sid = t.session_id()
    t.wait_line(r"1 pod\(s\) tapped", timeout=120)
    k.create_pod(ns, "web-2", {"app": "web"}, command=WEB, port=8080)
    k.create_pod(ns, "other", {"app": "other"}, command=WEB, port=8080)
    t.wait_line(r"%s/web-2: agent injected" % ns, timeout=30)
    t.wait_line(r"%s/web-2: agent running" % ns, timeout=30)
    time.sleep(1)
    check("%s/other" % ns not in t.text(), "the non-matching new pod is left alone")
    k.wait(lambda: len([a for a in agents(k, sid) if a["pid"] and a["returncode"] is None]) == 2,
           timeout=30, what="2 agents running")
    time.sleep(2.0)
    eq(http_from_node(k, pod_ip(k, ns, "web-2"), "/late-pod"), "/late-pod", "echo of web-2")
    time.sleep(2.0)
    t.proc.send_signal(signal.SIGINT)
    eq(t.finish(), 0, "podscope exit status")
    eq(wait_no_objects(k, sid), [], "objects after SIGINT")
    check("/late-pod" in tshark_fields(out, "http.request.uri", display_filter="http.request"),
          "the late pod's traffic on stdout")


@test("main")
def psa_baseline_retries_without_caps(k, work):
    """PSA baseline refuses capabilities.add NET_RAW: one retry without it succeeds"""
    ns = "shop-baseline"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}},
              ns_labels={"pod-security.kubernetes.io/enforce": "baseline"})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], os.path.join(work, "baseline.pcapng"))
    sid = t.session_id()
    t.wait_line(r"1 pod\(s\) tapped", timeout=120)
    ps = patches(k, sid)
    eq(len(ps), 2, "PATCH requests")
    eq(ps[0]["status"], 403, "first PATCH refused")
    eq(ps[0]["body"]["spec"]["ephemeralContainers"][0]["securityContext"].get("capabilities"),
       {"add": ["NET_RAW"]}, "first PATCH asks for NET_RAW")
    check(ps[1]["status"] in (200, 201), "second PATCH accepted (%s)" % ps[1]["status"])
    check("capabilities" not in ps[1]["body"]["spec"]["ephemeralContainers"][0]["securityContext"],
          "second PATCH asks for no capability")
    check('"baseline"' in t.text() and "retrying without" in t.text(), "the retry is explained")
    t.proc.send_signal(signal.SIGINT)
    eq(t.finish(), 0, "podscope exit status")
    eq(wait_no_objects(k, sid), [], "objects after SIGINT")


@test("main")
def psa_restricted_fails_fast(k, work):
    """PSA restricted: fail fast with the API's message and what to do; nothing left"""
    ns = "shop-restricted"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    # Labelled after the pod exists, as when a cluster tightens a namespace:
    # the running pod stays, new containers are judged by "restricted".
    st, body = k.request("PATCH", "/api/v1/namespaces/" + ns,
                         {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
                         content_type="application/merge-patch+json")
    eq(st, 200, "labelling the namespace restricted: %s" % body)
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], os.path.join(work, "restricted.pcapng"))
    sid = t.session_id()
    rc = t.finish(timeout=120)
    eq(rc, 1, "podscope exit status")
    text = t.text()
    check('violates PodSecurity "restricted' in text, "the API's own message: %s" % text)
    check("--force-privileged" in text, "what to do")
    eq(len(patches(k, sid)), 1, "one PATCH, no retry")
    eq(wait_no_objects(k, sid), [], "objects after the failure")


@test("main")
def force_privileged(k, work):
    """--force-privileged asks for privileged: true"""
    ns = "shop-priv"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--force-privileged", "--hub-timeout", "60"],
            os.path.join(work, "priv.pcapng"))
    sid = t.session_id()
    t.wait_line(r"1 pod\(s\) tapped", timeout=120)
    ps = patches(k, sid)
    eq(len(ps), 1, "PATCH requests")
    eq(ps[0]["body"]["spec"]["ephemeralContainers"][0]["securityContext"], {"privileged": True},
       "securityContext")
    t.proc.send_signal(signal.SIGINT)
    eq(t.finish(), 0, "podscope exit status")
    eq(wait_no_objects(k, sid), [], "objects after SIGINT")


@test("main")
def interrupt_while_hub_pulls(k, work):
    """hub image cannot be pulled: the waiting reason is shown; SIGINT then leaves nothing"""
    ns = "shop-pull"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-image", "registry.example/invalid:1"],
            os.path.join(work, "pull.pcapng"))
    sid = t.session_id()
    t.wait_line(r"waiting for the hub: Pending, waiting: ErrImagePull", timeout=60)
    t.proc.send_signal(signal.SIGINT)
    eq(t.finish(), 1, "podscope exit status after an interrupted start")
    check("interrupted" in t.text(), "says it was interrupted")
    eq(wait_no_objects(k, sid), [], "objects after SIGINT during start")


@test("main")
def agent_waiting_reason_shown(k, work):
    """an agent image that cannot be pulled: ErrImagePull is reported for the pod"""
    ns = "shop-agentpull"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--agent-image", "registry.example/invalid-agent:1",
                "--hub-timeout", "60"], os.path.join(work, "agentpull.pcapng"))
    sid = t.session_id()
    t.wait_line(r"%s/web-1: agent waiting: (ErrImagePull|ImagePullBackOff)" % ns, timeout=60)
    t.proc.send_signal(signal.SIGINT)
    eq(t.finish(), 0, "podscope exit status")
    eq(wait_no_objects(k, sid), [], "objects after SIGINT")


@test("old")
def no_ephemeral_containers(k, work):
    """a cluster without the subresource: the ephemeral-containers message; nothing left"""
    ns = "shop-old"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], os.path.join(work, "old.pcapng"))
    sid = t.session_id()
    rc = t.finish(timeout=120)
    eq(rc, 1, "podscope exit status")
    check("ephemeral containers are not available on this cluster (server version 1.22 from "
          "GET /version); PodScope needs Kubernetes 1.23 or later" in t.text(), "message: %s" % t.text())
    eq(wait_no_objects(k, sid), [], "objects after the failure")


@test("lost")
def api_lost(k, work):
    """the API server dies mid-session: the controller notices, tries the teardown, says what remains"""
    ns = "shop-lost"
    make_pods(k, ns, ["web-1"], {"web-1": {"app": "web"}})
    t = Tap(k, ["-n", ns, "-l", "app=web", "--hub-timeout", "60"], os.path.join(work, "lost.pcapng"))
    t.session_id()
    t.wait_line(r"1 pod\(s\) tapped", timeout=120)
    k.proc.send_signal(signal.SIGKILL)
    k.proc.wait()
    started = time.monotonic()
    rc = t.finish(timeout=90)
    took = time.monotonic() - started
    eq(rc, 1, "podscope exit status once the API is gone")
    check(took < 70, "gave up after %.0f s" % took)
    check("still exist" in t.text() and "podscope clean" in t.text(),
          "reports what remains and what to do: %s" % t.text())


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (pods are network namespaces)")
        return 77
    for b in (PODSCOPE, HUB_BIN, AGENT_BIN):
        if not os.access(b, os.X_OK):
            print("Bail out! %s is not built" % b)
            return 1
    selected = [(g, fn) for g, fn in TESTS if GROUP in ("all", g, fn.__name__)]
    print("1..%d" % len(selected))
    failed = 0
    n = 0
    work = tempfile.mkdtemp(prefix="pds-session-")
    by_group = {}
    for g, fn in selected:
        by_group.setdefault(g, []).append(fn)
    for g, fns in by_group.items():
        args = ("--version", "1.22.0") if g == "old" else ()
        with FakeCluster(*args) as k:
            for fn in fns:
                n += 1
                try:
                    fn(k, work)
                    print("ok %d - %s" % (n, fn.__doc__.strip()))
                except Exception:
                    failed += 1
                    print("not ok %d - %s" % (n, fn.__doc__.strip()))
                    for line in traceback.format_exc().splitlines():
                        print("# " + line)
                    sys.stdout.write("# fake API state dir: %s\n" % k.state_dir)
                sys.stdout.flush()
    if failed == 0:
        subprocess.run(["rm", "-rf", work])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
