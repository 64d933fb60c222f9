#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TAP self-tests of the fake Kubernetes API server (tests/k8s/fakeapi).

Each test checks one contract the PodScope session controller relies on,
against texts and shapes of the real API server: authentication kinds and
refusals, Status errors, watch streams, namespace termination, Pod Security
Admission decisions, ephemeral containers running the real agent, port-forward
tunnelling bytes into a pod's network namespace, and a Deployment running the
real hub. Needs root (network namespaces).
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fakeapi"))

from cluster import FakeCluster  # noqa: E402

BUILD = os.environ.get("PDS_BUILD_ROOT", "")
HUB_BIN = os.environ.get("PODSCOPE_HUB_BIN") or os.path.join(BUILD, "hub", "podscope-hub")
AGENT_BIN = os.environ.get("PODSCOPE_AGENT_BIN") or os.path.join(BUILD, "agent", "podscope-agent")

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


EPHEMERAL = {"name": "podscope-0a1b2c3d", "image": "ghcr.io/podscope/podscope:0.1",
             "args": ["--interface", "eth0"],
             "env": [{"name": "PODSCOPE_HUB", "value": "10.244.0.250:7443"},
                     {"name": "PODSCOPE_NAMESPACE", "value": "shop"}],
             "securityContext": {"capabilities": {"add": ["NET_RAW"]}, "readOnlyRootFilesystem": True,
                                 "allowPrivilegeEscalation": False},
             "stdin": False, "tty": False, "terminationMessagePolicy": "File"}
SMP = "application/strategic-merge-patch+json"


def ec_patch(k, ns, pod, container, content_type=SMP):
    return k.request("PATCH", "/api/v1/namespaces/%s/pods/%s/ephemeralcontainers" % (ns, pod),
                     {"spec": {"ephemeralContainers": [container]}}, content_type=content_type)


# --------------------------------------------------------------------------

@test
def auth_kinds(k):
    """anonymous 401 Status; token, client certificate, token file, viewer"""
    st, body = k.request("GET", "/api/v1/namespaces", user=None)
    eq(st, 401, "anonymous status")
    eq(body, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, "anonymous body")
    eq(k.request("GET", "/api/v1/namespaces")[0], 200, "bearer token")
    eq(k.request("GET", "/api/v1/namespaces", user="admin-cert")[0], 200, "client certificate")
    eq(k.request("GET", "/api/v1/namespaces", token="not-a-token")[0], 401, "unknown token")
    with open(os.path.join(k.state_dir, "admin.token")) as f:
        eq(k.request("GET", "/version", token=f.read().strip())[0], 200, "token file content")
    st, body = k.request("POST", "/api/v1/namespaces", {"metadata": {"name": "nope"}}, user="viewer")
    eq(st, 403, "viewer create")
    eq(body["message"], 'namespaces is forbidden: User "fake-viewer" cannot create resource "namespaces" '
       'in API group "" at the cluster scope', "viewer message")


@test
def auth_tls_refusals(k):
    """client cert from another CA fails the handshake; wrong server CA fails verification"""
    d = tempfile.mkdtemp()
    pki = os.path.join(k.state_dir, "pki")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", d + "/c.key", "-out", d + "/c.csr", "-subj", "/CN=mallory",
                    "-config", pki + "/openssl.cnf"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", d + "/c.csr", "-CA", pki + "/wrong-ca.crt",
                    "-CAkey", pki + "/wrong-ca.key", "-CAcreateserial", "-out", d + "/c.crt", "-days", "1",
                    "-extfile", pki + "/openssl.cnf", "-extensions", "client"], check=True, capture_output=True)
    ctx = ssl.create_default_context(cafile=k.ca)
    ctx.load_cert_chain(d + "/c.crt", d + "/c.key")
    refused = False
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", k.port)), server_hostname="127.0.0.1")
        s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = s.recv(100) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        refused = True
    check(refused, "a client certificate from an unknown CA must be refused")
    ctx = ssl.create_default_context(cafile=pki + "/wrong-ca.crt")
    try:
        ctx.wrap_socket(socket.create_connection(("127.0.0.1", k.port)), server_hostname="127.0.0.1")
        raise AssertionError("server verified with the wrong CA")
    except ssl.SSLCertVerificationError as e:
        check("certificate verify failed" in str(e), "verify error text: %s" % e)


@test
def exec_credential_and_expiry(k):
    """exec plugin issues tokens with expiry; an expired token gets 401"""
    kc = open(k.kubeconfig).read()
    check("client.authentication.k8s.io/v1" in kc and "fake-exec" in kc, "kubeconfig has the exec user")
    env = dict(os.environ, KUBERNETES_EXEC_INFO=json.dumps(
        {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "spec": {"interactive": False}}))
    out = subprocess.run([os.path.join(k.state_dir, "exec-credential.py"), "get-token"], env=env,
                         check=True, capture_output=True, text=True).stdout
    cred = json.loads(out)
    eq(cred["kind"], "ExecCredential", "kind")
    check(cred["status"]["expirationTimestamp"].endswith("Z"), "expirationTimestamp RFC 3339")
    eq(k.request("GET", "/api/v1/namespaces", token=cred["status"]["token"])[0], 200, "exec token works")
    log = [json.loads(line) for line in open(os.path.join(k.state_dir, "exec-calls.log"))]
    check(log and log[-1]["exec_info"] and log[-1]["argv"] == ["get-token"], "exec call logged with KUBERNETES_EXEC_INFO")
    tok = k.ok("POST", "/_fake/tokens", {"user": "short", "ttl": 1}, user=None)["token"]
    eq(k.request("GET", "/api/v1/namespaces", token=tok)[0], 200, "fresh short token")
    time.sleep(1.2)
    st, body = k.request("GET", "/api/v1/namespaces", token=tok)
    eq((st, body["reason"]), (401, "Unauthorized"), "expired token")


@test
def status_errors(k):
    """404/409/422/415/400 with the apiserver's messages and details"""
    st, b = k.request("GET", "/api/v1/namespaces/default/pods/ghost")
    eq((st, b["message"], b["details"]), (404, 'pods "ghost" not found', {"name": "ghost", "kind": "pods"}), "404 pod")
    st, b = k.request("GET", "/apis/apps/v1/namespaces/default/deployments/ghost")
    eq(b["message"], 'deployments.apps "ghost" not found', "404 group-qualified")
    eq(b["details"], {"name": "ghost", "group": "apps", "kind": "deployments"}, "404 details")
    k.create_namespace("errs")
    st, b = k.request("POST", "/api/v1/namespaces", {"metadata": {"name": "errs"}})
    eq((st, b["reason"], b["message"]), (409, "AlreadyExists", 'namespaces "errs" already exists'), "409")
    st, b = k.request("POST", "/api/v1/namespaces", {"metadata": {"name": "Not_A_Label"}})
    eq((st, b["reason"]), (422, "Invalid"), "422")
    check(b["message"].startswith('Namespace "Not_A_Label" is invalid: metadata.name: Invalid value: '
                                  '"Not_A_Label": a lowercase RFC 1123 label must consist of'), b["message"])
    eq(b["details"]["causes"][0]["field"], "metadata.name", "cause field")
    eq(b["details"]["causes"][0]["reason"], "FieldValueInvalid", "cause reason")
    st, b = k.request("POST", "/api/v1/namespaces/ghost-ns/secrets", {"metadata": {"name": "s"}})
    eq((st, b["message"]), (404, 'namespaces "ghost-ns" not found'), "create in missing namespace")
    k.create_pod("errs", "p")
    st, b = ec_patch(k, "errs", "p", EPHEMERAL, content_type="application/json")
    eq((st, b["reason"]), (415, "UnsupportedMediaType"), "415")
    check(b["message"].startswith("the body of the request was in an unknown format - accepted media types "
                                  "include: application/json-patch+json, application/merge-patch+json, "
                                  "application/strategic-merge-patch+json"), b["message"])
    st, b = k.request("GET", "/api/v1/namespaces/errs/pods?fieldSelector=spec.bogus%3Dx")
    eq((st, b["message"]), (400, "field label not supported: spec.bogus"), "field selector")
    st, b = k.request("GET", "/api/v1/namespaces/errs/widgets")
    eq((st, b["message"], b["details"]), (404, "the server could not find the requested resource", {}), "unknown resource")


@test
def ephemeral_subresource_switch(k):
    """old cluster: pods/ephemeralcontainers 404 with empty details, /version reports it"""
    k.create_namespace("old")
    k.create_pod("old", "p")
    k.config(ephemeral_containers=False, version="1.22.17")
    try:
        st, b = ec_patch(k, "old", "p", EPHEMERAL)
        eq((st, b["reason"], b["details"]), (404, "NotFound", {}), "missing subresource")
        eq(k.get("/version")["minor"], "22", "version minor")
        res = [r["name"] for r in k.get("/api/v1")["resources"]]
        check("pods/ephemeralcontainers" not in res and "pods/portforward" in res, "discovery: %s" % res)
        st, b = k.request("GET", "/api/v1/namespaces/old/pods/ghost")
        eq(b["details"]["name"], "ghost", "a missing pod still names itself")
    finally:
        k.config(ephemeral_containers=True, version="1.29.0")
    eq(k.get("/version")["gitVersion"], "v1.29.0", "version restored")


@test
def watch_stream(k):
    """?watch=true: ADDED/MODIFIED/DELETED lines, resourceVersion replay, selector moves"""
    k.create_namespace("w")
    lst = k.get("/api/v1/namespaces/w/pods")
    rv0 = lst["metadata"]["resourceVersion"]
    eq(lst["kind"], "PodList", "list kind")
    k.create_pod("w", "a", {"app": "x"})
    k.wait_pod_running("w", "a")
    k.ok("DELETE", "/api/v1/namespaces/w/pods/a")
    k.wait(lambda: k.request("GET", "/api/v1/namespaces/w/pods/a")[0] == 404, what="pod a gone")
    ev = k.watch_lines("/api/v1/namespaces/w/pods?resourceVersion=%s&labelSelector=app%%3Dx" % rv0, 50, timeout=3)
    types = [e["type"] for e in ev]
    eq(types[0], "ADDED", "first event")
    eq(types[-1], "DELETED", "last event")
    check("MODIFIED" in types, "status changes are MODIFIED events: %s" % types)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in ev]
    eq(rvs, sorted(rvs), "resourceVersions increase")
    check(all(e["object"]["kind"] == "Pod" and e["object"]["apiVersion"] == "v1" for e in ev), "typed objects")
    running = [e for e in ev if e["object"]["status"].get("phase") == "Running"]
    check(running and running[0]["object"]["status"]["podIP"].startswith("10.244.0."), "podIP in watch")
    ev = k.watch_lines("/api/v1/namespaces/w/pods?resourceVersion=%s&labelSelector=app%%3Dother" % rv0, 5, timeout=2)
    eq(ev, [], "selector filters")
    # Without resourceVersion: synthetic ADDED for what exists.
    k.create_pod("w", "b", {"app": "x"})
    ev = k.watch_lines("/api/v1/namespaces/w/pods", 1, timeout=3)
    eq([(e["type"], e["object"]["metadata"]["name"]) for e in ev], [("ADDED", "b")], "initial state")
    # Relabelling out of the selector is a DELETED for that watch.
    k.wait_pod_running("w", "b")
    time.sleep(0.5)
    rv1 = k.get("/api/v1/namespaces/w/pods")["metadata"]["resourceVersion"]
    k.ok("PATCH", "/api/v1/namespaces/w/pods/b", {"metadata": {"labels": {"app": "y"}}},
         content_type="application/merge-patch+json")
    ev = k.watch_lines("/api/v1/namespaces/w/pods?labelSelector=app%%3Dx&resourceVersion=%s" % rv1, 3, timeout=2)
    eq([e["type"] for e in ev], ["DELETED"], "moved out of selector")
    eq(ev[0]["object"]["metadata"]["labels"]["app"], "y", "the DELETED event carries the new object")
    # After compaction an old resourceVersion is answered with 410 Expired.
    k.ok("POST", "/_fake/compact", {}, user=None)
    ev = k.watch_lines("/api/v1/namespaces/w/pods?resourceVersion=%s" % rv0, 2, timeout=3)
    eq([e["type"] for e in ev], ["ERROR"], "expired watch")
    eq((ev[0]["object"]["code"], ev[0]["object"]["reason"]), (410, "Expired"), "410 Expired status")
    check(ev[0]["object"]["message"].startswith("too old resource version: %s (" % rv0), ev[0]["object"]["message"])


@test
def pod_network(k):
    """pods are netns on one bridge: pod-to-pod TCP by pod IP, nothing else shared"""
    k.create_namespace("net")
    k.create_pod("net", "server", command=["python3", "-m", "http.server", "8080"], port=8080)
    k.create_pod("net", "client", containers=[{
        "name": "app", "image": "registry.example/app:1", "command": ["sleep", "120"],
        "env": [{"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}])
    ip = k.wait_pod_running("net", "server")["status"]["podIP"]
    client_ip = k.wait_pod_running("net", "client")["status"]["podIP"]
    env = [p["env"] for p in k.processes() if p["pod"] == "client" and p["namespace"] == "net"][0]
    eq((env["MY_IP"], env["MY_NAME"]), (client_ip, "client"), "downward API env")
    ns_client = k.netns_of("net", "client")
    check(ns_client and ns_client != k.netns_of("net", "server"), "separate netns")
    code = ("import socket; s = socket.create_connection(('%s', 8080), timeout=5); "
            "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(12).decode())" % ip)
    out = subprocess.run(["ip", "netns", "exec", ns_client, "python3", "-c", code],
                         capture_output=True, text=True, timeout=20)
    eq(out.stdout.strip(), "HTTP/1.0 200", "pod-to-pod HTTP (%s)" % out.stderr.strip())
    out = subprocess.run(["ip", "netns", "exec", ns_client, "ip", "-4", "-o", "addr", "show", "eth0"],
                         capture_output=True, text=True)
    k_ip = k.get("/api/v1/namespaces/net/pods/client")["status"]["podIP"]
    check(" %s/24 " % k_ip in out.stdout, "client's eth0 carries its podIP: %s" % out.stdout)


@test
def namespace_termination(k):
    """DELETE -> Terminating; create refused 403 with cause; second DELETE 409; then 404; netns gone"""
    k.create_namespace("doomed", {"podscope/session": "deadbeef"})
    k.create_pod("doomed", "p", {"podscope/session": "deadbeef"}, command=["sleep", "60"])
    k.wait_pod_running("doomed", "p")
    netns = k.netns_of("doomed", "p")
    check(netns and os.path.exists("/run/netns/" + netns), "pod netns exists")
    pid = [p["pid"] for p in k.processes() if p["pod"] == "p" and p["namespace"] == "doomed"][0]
    b = k.ok("DELETE", "/api/v1/namespaces/doomed?propagationPolicy=Foreground")
    eq(b["status"]["phase"], "Terminating", "phase after delete")
    check(b["metadata"].get("deletionTimestamp"), "deletionTimestamp")
    st, b = k.request("POST", "/api/v1/namespaces/doomed/secrets", {"metadata": {"name": "s"}})
    eq((st, b["reason"]), (403, "Forbidden"), "create in terminating")
    eq(b["message"], 'secrets "s" is forbidden: unable to create new content in namespace doomed because '
       'it is being terminated', "terminating message")
    eq(b["details"]["causes"], [{"reason": "NamespaceTerminating", "message": "namespace doomed is being terminated",
                                 "field": "metadata.namespace"}], "terminating cause")
    st, b = k.request("DELETE", "/api/v1/namespaces/doomed")
    eq((st, b["reason"]), (409, "Conflict"), "second delete")
    check("The system is ensuring all content is removed from this namespace." in b["message"], b["message"])
    k.wait(lambda: k.request("GET", "/api/v1/namespaces/doomed")[0] == 404, timeout=10, what="namespace gone")
    eq(k.objects("podscope/session=deadbeef"), [], "nothing labelled remains")
    check(not os.path.exists("/run/netns/" + netns), "pod netns removed")
    check(not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z",
          "pod process gone")
    st, b = k.request("DELETE", "/api/v1/namespaces/kube-system")
    eq((st, b["message"]), (403, 'namespaces "kube-system" is forbidden: this namespace may not be deleted'), "immortal")


@test
def psa_decisions(k):
    """baseline refuses NET_RAW add, allows without; restricted refuses; privileged allowed only when privileged"""
    k.create_namespace("base", {"pod-security.kubernetes.io/enforce": "baseline"})
    k.create_namespace("strict", {"pod-security.kubernetes.io/enforce": "restricted",
                                  "pod-security.kubernetes.io/enforce-version": "v1.29"})
    k.create_namespace("open", {"pod-security.kubernetes.io/enforce": "privileged"})
    for ns in ("base", "open"):
        k.create_pod(ns, "web")
    k.ok("POST", "/api/v1/namespaces/strict/pods", {
        "metadata": {"name": "web"},
        "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "app", "image": "registry.example/app:1", "securityContext": {
                     "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}})
    st, b = ec_patch(k, "base", "web", EPHEMERAL)
    eq(st, 403, "baseline + NET_RAW")
    eq(b["message"], 'pods "web" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities '
       '(container "podscope-0a1b2c3d" must not include "NET_RAW" in securityContext.capabilities.add)', "baseline text")
    eq(b["details"], {"name": "web", "kind": "pods"}, "baseline details")
    nocaps = json.loads(json.dumps(EPHEMERAL))
    del nocaps["securityContext"]["capabilities"]
    st, b = ec_patch(k, "base", "web", nocaps)
    eq(st, 200, "baseline without capabilities.add")
    eq(b["spec"]["ephemeralContainers"][0]["name"], "podscope-0a1b2c3d", "stored")
    st, b = ec_patch(k, "strict", "web", EPHEMERAL)
    eq(st, 403, "restricted + NET_RAW")
    check(b["message"].startswith('pods "web" is forbidden: violates PodSecurity "restricted:v1.29": unrestricted '
                                  'capabilities (container "podscope-0a1b2c3d" must set securityContext.capabilities'
                                  '.drop=["ALL"]; container "podscope-0a1b2c3d" must not include "NET_RAW" in '
                                  'securityContext.capabilities.add)'), b["message"])
    priv = json.loads(json.dumps(EPHEMERAL))
    priv["name"] = "podscope-priv"
    priv["securityContext"] = {"privileged": True}
    st, b = ec_patch(k, "strict", "web", priv)
    eq(st, 403, "restricted + privileged")
    check('privileged (container "podscope-priv" must not set securityContext.privileged=true)' in b["message"],
          b["message"])
    st, b = ec_patch(k, "base", "web", priv)
    eq(st, 403, "baseline + privileged")
    eq(b["message"], 'pods "web" is forbidden: violates PodSecurity "baseline:latest": privileged (container '
       '"podscope-priv" must not set securityContext.privileged=true)', "baseline privileged text")
    st, b = ec_patch(k, "open", "web", priv)
    eq(st, 200, "privileged namespace accepts privileged")
    st, b = ec_patch(k, "open", "web", dict(priv, image="other"))
    eq((st, b["reason"]), (422, "Invalid"), "changing an existing ephemeral container")
    eq(b["message"], 'Pod "web" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers '
       '"podscope-priv" may not be changed', "422 text")


@test
def ephemeral_runs_agent(k):
    """PATCH starts podscope-agent in the pod's netns with the PATCH env; its exit is the terminated state"""
    check(os.access(AGENT_BIN, os.X_OK), "agent binary at %s" % AGENT_BIN)
    k.create_namespace("tap")
    k.create_pod("tap", "web", {"app": "web"}, command=["sleep", "120"])
    k.wait_pod_running("tap", "web")
    rv = k.get("/api/v1/namespaces/tap/pods/web")["metadata"]["resourceVersion"]
    st, b = ec_patch(k, "tap", "web", EPHEMERAL)
    eq(st, 200, "patch accepted")
    bad = dict(EPHEMERAL, name="podscope-bad", image="ghcr.io/podscope/invalid:0")
    eq(ec_patch(k, "tap", "web", bad)[0], 200, "second patch")

    def terminated():
        p = k.get("/api/v1/namespaces/tap/pods/web")
        for s in p["status"].get("ephemeralContainerStatuses") or []:
            if s["name"] == EPHEMERAL["name"] and "terminated" in s["state"]:
                return s
        return None
    s = k.wait(terminated, timeout=20, what="agent container terminated")
    proc = [p for p in k.processes() if p["container"] == EPHEMERAL["name"] and p["namespace"] == "tap"][0]
    eq(proc["argv"], [AGENT_BIN, "--interface", "eth0"], "agent argv")
    eq(proc["env"]["PODSCOPE_HUB"], "10.244.0.250:7443", "env from the PATCH")
    eq(s["state"]["terminated"]["exitCode"], proc["returncode"], "exit code recorded")
    check(proc["netns"] == k.netns_of("tap", "web"), "started in the pod's netns")
    ev = k.watch_lines("/api/v1/namespaces/tap/pods?resourceVersion=%s" % rv, 100, timeout=3)
    reasons = [(cs.get("state", {}).get("waiting") or {}).get("reason")
               for e in ev for cs in e["object"]["status"].get("ephemeralContainerStatuses") or []
               if cs["name"] == "podscope-bad"]
    check("ErrImagePull" in reasons, "ErrImagePull streamed to watchers: %s" % reasons)
    states = [list(cs["state"])[0] for e in ev for cs in e["object"]["status"].get("ephemeralContainerStatuses") or []
              if cs["name"] == EPHEMERAL["name"]]
    check(states[0] == "waiting" and "terminated" in states, "waiting -> terminated: %s" % states)


@test
def portforward_tunnels(k):
    """v4.channel.k8s.io and base64 variant tunnel bytes to a server in the pod netns"""
    k.create_namespace("pf")
    k.create_pod("pf", "srv", command=["python3", "-m", "http.server", "8080", "--bind", "127.0.0.1"], port=8080)
    k.wait_pod_running("pf", "srv")
    for proto in ("v4.channel.k8s.io", "v4.base64.channel.k8s.io"):
        pf = k.portforward("pf", "srv", 8080, protocol=proto)
        eq(pf.status, 101, "upgrade")
        check("Sec-WebSocket-Protocol: " + proto in pf.headers, "subprotocol echoed")
        eq(pf.recv(), (0, b"\x90\x1f"), "data channel port prefix (8080 LE)")
        eq(pf.recv(), (1, b"\x90\x1f"), "error channel port prefix")
        pf.send(0, b"GET /nonexistent-%s HTTP/1.0\r\n\r\n" % proto.encode())
        data = b""
        while True:
            m = pf.recv()
            if m is None or m[0] == "close":
                break
            eq(m[0], 0, "reply on the data channel")
            data += m[1]
        pf.close()
        check(data.startswith(b"HTTP/1.0 404"), "server reply tunnelled: %r" % data[:40])
    log = k.request("GET", "/api/v1/namespaces/pf/pods/srv/log")[1]
    check(b"/nonexistent-v4.base64.channel.k8s.io" in log, "request reached the pod's server")
    pf = k.portforward("pf", "srv", 9)
    eq(pf.recv()[0], 0, "prefix")
    eq(pf.recv()[0], 1, "prefix")
    ch, msg = pf.recv()
    eq(ch, 1, "error channel")
    check(msg.startswith(b"error forwarding port 9 to pod srv"), msg)
    pf.close()
    pf = k.portforward("pf", "srv", 8080, user=None)
    eq(pf.status, 401, "port-forward needs authentication")


@test
def services_cluster_ip(k):
    """ClusterIP is the selected pod's IP (existing pod, or reserved for the next one)"""
    k.create_namespace("svc")
    k.create_pod("svc", "a", {"app": "a"})
    ip_a = k.wait_pod_running("svc", "a")["status"]["podIP"]
    s = k.ok("POST", "/api/v1/namespaces/svc/services", {
        "metadata": {"name": "a"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}})
    eq(s["spec"]["clusterIP"], ip_a, "existing pod's IP")
    eq(s["spec"]["ports"][0], {"port": 80, "protocol": "TCP", "targetPort": 80}, "port defaults")
    s = k.ok("POST", "/api/v1/namespaces/svc/services", {
        "metadata": {"name": "b"}, "spec": {"selector": {"app": "b"}, "ports": [
            {"name": "ingest", "port": 7443}, {"name": "api", "port": 8080}]}})
    k.create_pod("svc", "b", {"app": "b"})
    eq(k.wait_pod_running("svc", "b")["status"]["podIP"], s["spec"]["clusterIP"], "reserved IP taken by the pod")
    # The next pod the Service selects takes the ClusterIP again; others do not.
    k.ok("DELETE", "/api/v1/namespaces/svc/pods/b")
    k.wait(lambda: k.request("GET", "/api/v1/namespaces/svc/pods/b")[0] == 404, what="pod b gone")
    k.create_pod("svc", "c", {"app": "c"})
    k.create_pod("svc", "b2", {"app": "b"})
    check(k.wait_pod_running("svc", "c")["status"]["podIP"] != s["spec"]["clusterIP"], "unselected pod")
    eq(k.wait_pod_running("svc", "b2")["status"]["podIP"], s["spec"]["clusterIP"], "replacement pod")
    st, b = k.request("POST", "/api/v1/namespaces/svc/services", {"metadata": {"name": "9bad"},
                                                                  "spec": {"ports": [{"port": 80}]}})
    eq((st, b["details"]["causes"][0]["field"]), (422, "metadata.name"), "DNS-1035 service name")


@test
def deployment_runs_hub(k):
    """a Deployment's pod runs the real podscope-hub with the Secret's files; namespace deletion stops it"""
    check(os.access(HUB_BIN, os.X_OK), "hub binary at %s" % HUB_BIN)
    sys.path.insert(0, os.path.join(HERE, "..", "agent"))
    import pdsagenttest
    d = tempfile.mkdtemp()
    certs = pdsagenttest.make_certs(d)
    import base64
    b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()  # noqa: E731
    sid = "0a1b2c3d"
    labels = {"app.kubernetes.io/managed-by": "podscope", "podscope/session": sid}
    ns = "podscope-" + sid
    k.create_namespace(ns, labels)
    k.ok("POST", "/api/v1/namespaces/%s/secrets" % ns, {
        "metadata": {"name": "podscope-hub-tls", "labels": labels}, "type": "Opaque",
        "data": {"ca.crt": b64(certs["ca_crt"]), "hub.crt": b64(certs["hub_crt"]), "hub.key": b64(certs["hub_key"]),
                 "api-token": base64.b64encode(b"s3cret-token").decode()}})
    svc = k.ok("POST", "/api/v1/namespaces/%s/services" % ns, {
        "metadata": {"name": "podscope-hub", "labels": labels},
        "spec": {"selector": {"app.kubernetes.io/name": "podscope-hub", "podscope/session": sid},
                 "ports": [{"name": "ingest", "port": 7443}, {"name": "api", "port": 8080}]}})
    plabels = dict(labels, **{"app.kubernetes.io/name": "podscope-hub"})
    k.ok("POST", "/apis/apps/v1/namespaces/%s/deployments" % ns, {
        "metadata": {"name": "podscope-hub", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": plabels},
                 "template": {"metadata": {"labels": plabels}, "spec": {
                     "containers": [{"name": "hub", "image": "ghcr.io/podscope/podscope:0.1",
                                     "args": ["podscope-hub", "--data-dir", "/data", "--ca", "/tls/ca.crt",
                                              "--cert", "/tls/hub.crt", "--key", "/tls/hub.key",
                                              "--token-file", "/tls/api-token", "--ingest", "0.0.0.0:7443",
                                              "--api", "0.0.0.0:8080"],
                                     "ports": [{"containerPort": 7443}, {"containerPort": 8080}],
                                     "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                                     "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True},
                                                      {"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "tls", "secret": {"secretName": "podscope-hub-tls"}},
                                 {"name": "data", "emptyDir": {}}]}}}})
    sel = urllib.parse.quote("podscope/session=" + sid)

    def ready_pod():
        items = k.get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (ns, sel))["items"]
        for p in items:
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []):
                return p
        return None
    pod = k.wait(ready_pod, timeout=20, what="hub pod ready")
    check(pod["metadata"]["name"].startswith("podscope-hub-"), "pod name from the deployment")
    eq(pod["status"]["podIP"], svc["spec"]["clusterIP"], "clusterIP = hub pod IP")
    k.wait(lambda: k.get("/apis/apps/v1/namespaces/%s/deployments/podscope-hub" % ns)["status"].get(
        "readyReplicas") == 1, timeout=5, what="deployment readyReplicas 1")
    proc = [p for p in k.processes() if p["container"] == "hub"][0]
    eq(proc["argv"][0], HUB_BIN, "real hub binary")
    check(all(not a.startswith("/tls") and not a.startswith("/data") for a in proc["argv"]), "paths rewritten")
    pf = k.portforward(ns, pod["metadata"]["name"], 8080)
    pf.recv()
    pf.recv()
    pf.send(0, b"GET /healthz HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer s3cret-token\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        m = pf.recv()
        if m is None or m[0] == "close":
            break
        data += m[1] if m[0] == 0 else b""
        if b"ok" in data:
            break
    pf.close()
    check(data.startswith(b"HTTP/1.1 200"), "hub /healthz through port-forward: %r" % data[:80])
    check(len(k.objects("podscope/session=" + sid)) >= 5, "session objects listed")
    k.ok("DELETE", "/api/v1/namespaces/" + ns)
    k.wait(lambda: k.request("GET", "/api/v1/namespaces/" + ns)[0] == 404, timeout=10, what="namespace gone")
    eq(k.objects("podscope/session=" + sid), [], "zero objects labelled with the session")
    check(not os.path.exists("/proc/%d/cmdline" % proc["pid"]) or
          open("/proc/%d/stat" % proc["pid"]).read().split()[2] == "Z", "hub process stopped")


def main():
    print("1..%d" % len(TESTS) if os.geteuid() == 0 else "1..0 # SKIP needs root for network namespaces")
    if os.geteuid() != 0:
        return 0
    # A harness timeout (SIGTERM) still runs the cleanup of the with block.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    failed = 0
    with FakeCluster(env={"PODSCOPE_HUB_BIN": HUB_BIN, "PODSCOPE_AGENT_BIN": AGENT_BIN}) as k:
        for i, fn in enumerate(TESTS, 1):
            desc = "%s: %s" % (fn.__name__, fn.__doc__.strip())
            try:
                fn(k)
                print("ok %d - %s" % (i, desc))
            except Exception as e:
                failed += 1
                print("not ok %d - %s" % (i, desc))
                for line in ("%s\n%s" % (e, traceback.format_exc())).splitlines():
                    print("# " + line)
            sys.stdout.flush()
        prefix = k.prefix
    left = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
            if n.startswith(prefix)]
    if left:
        print("# leftover netns: %s" % left)
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
