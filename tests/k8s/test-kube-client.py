#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Kubernetes client library (extcap/pds-kube-*) against the fake API
server: kubeconfig loading and merging, every auth kind, TLS checks, Status
errors, CRUD and patch types, watch streams with resume, exec credential
expiry and 401 refresh, and port-forward over WebSocket into a pod's network
namespace (root only). TAP on stdout.

usage: test-kube-client.py TEST-KUBE-TOOL
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.environ.get("PDS_SOURCE_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("PDS_BUILD_ROOT", os.path.join(SRC, "build"))
TOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(BUILD, "tests", "k8s", "test-kube-tool")
FAKE = os.path.join(SRC, "tests", "k8s", "fakeapi", "server.py")
IS_ROOT = os.geteuid() == 0

_n = 0
_failed = 0
_servers = []
_tmp = tempfile.mkdtemp(prefix="pds-kube-client-")


def ok(cond, desc, detail=""):
    global _n, _failed
    _n += 1
    if cond:
        print("ok %d - %s" % (_n, desc))
    else:
        _failed += 1
        print("not ok %d - %s" % (_n, desc))
        for line in str(detail).splitlines()[-30:]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(desc, why):
    global _n
    _n += 1
    print("ok %d - %s # SKIP %s" % (_n, desc, why))
    sys.stdout.flush()


def cleanup():
    for p in _servers:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    shutil.rmtree(_tmp, ignore_errors=True)


def on_signal(signum, frame):
    cleanup()
    sys.exit(1)


class Fake:
    """One fake API server instance in its own state dir."""

    def __init__(self, name, *extra):
        self.state = os.path.join(_tmp, name)
        os.makedirs(self.state)
        args = [sys.executable, FAKE, "--state-dir", self.state,
                "--netns-prefix", "pkc%d%s" % (os.getpid() % 100000, name[0])]
        if not IS_ROOT:
            args.append("--no-netns")
        self.proc = subprocess.Popen(args + list(extra), stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.state, "stderr.log"), "w"))
        _servers.append(self.proc)
        ready = os.path.join(self.state, "ready.json")
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(self.state, "stderr.log")) as f:
                    raise RuntimeError("fake API server did not start: " + f.read())
            time.sleep(0.1)
        with open(ready) as f:
            self.ready = json.load(f)
        self.kubeconfig = self.ready["kubeconfig"]
        self.ctx = ssl.create_default_context(cafile=self.ready["ca"])

    def control(self, method, path, body=None):
        req = urllib.request.Request(self.ready["server"] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.load(r)

    def exec_calls(self):
        path = os.path.join(self.state, "exec-calls.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]


def tool(*args, env=None, kubeconfig=None, timeout=60, stdin=None):
    e = dict(os.environ)
    e.pop("KUBECONFIG", None)
    if kubeconfig is not None:
        e["KUBECONFIG"] = kubeconfig
    if env:
        e.update(env)
    r = subprocess.run([TOOL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=e, timeout=timeout, input=stdin)
    return r


def tool_json(*args, **kw):
    r = tool(*args, **kw)
    try:
        return r, json.loads(r.stdout) if r.returncode == 0 else None
    except ValueError:
        return r, None


def detail(r):
    return "rc=%s\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout[-2000:], r.stderr[-2000:])


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------------------

def test_config(fake):
    kc = fake.kubeconfig
    r, cfg = tool_json("config", kubeconfig=kc)
    ok(cfg is not None and cfg["context"] == "fake" and cfg["user"] == "cert"
       and cfg["namespace"] == "default" and cfg["server"] == fake.ready["server"]
       and cfg["client_cert"] and cfg["ca_bytes"] > 0,
       "kubeconfig: current-context, cluster, user and namespace resolved", detail(r))

    r, cfg = tool_json("--context", "fake-token", "config", kubeconfig=kc)
    ok(cfg is not None and cfg["context"] == "fake-token" and cfg["token"] == fake.ready["admin_token"]
       and cfg["namespace"] == "default",
       "kubeconfig: --context picks another context; no namespace means \"default\"", detail(r))

    r, cfg = tool_json("--kubeconfig", kc, "--context", "fake-exec", "config",
                       kubeconfig="/nonexistent/kubeconfig")
    ok(cfg is not None and cfg["exec_api_version"] == "client.authentication.k8s.io/v1"
       and cfg["files"] == [kc],
       "kubeconfig: --kubeconfig wins over KUBECONFIG", detail(r))

    r = tool("--context", "no-such-context", "config", kubeconfig=kc)
    ok(r.returncode == 1 and 'context "no-such-context" is not defined' in r.stderr
       and "fake-token" in r.stderr,
       "kubeconfig: an unknown --context is named with the contexts that exist", detail(r))

    r = tool("config", kubeconfig=os.path.join(_tmp, "none-1") + ":" + os.path.join(_tmp, "none-2"))
    ok(r.returncode == 1 and "none of the files in KUBECONFIG" in r.stderr,
       "kubeconfig: KUBECONFIG naming only missing files fails clearly", detail(r))

    bad = write(os.path.join(_tmp, "bad.yaml"),
                "apiVersion: v1\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:1', certificate-authority-data: '%%%'}\n"
                "users:\n- name: u\n  user: {token: t}\n")
    r = tool("config", kubeconfig=bad)
    ok(r.returncode == 1 and bad in r.stderr and 'cluster "k"' in r.stderr
       and "certificate-authority-data" in r.stderr,
       "kubeconfig: a malformed field names file, cluster and field", detail(r))

    broken = write(os.path.join(_tmp, "broken.yaml"), "clusters:\n- name: [unclosed\n")
    r = tool("config", kubeconfig=broken)
    ok(r.returncode == 1 and broken in r.stderr and "line" in r.stderr,
       "kubeconfig: a YAML syntax error names file and line", detail(r))


def test_merge(fake):
    """Two files: the first to define a name wins, current-context from the
    first file that sets it, relative paths against the defining file."""
    d = os.path.join(_tmp, "merge")
    os.makedirs(d)
    shutil.copy(fake.ready["ca"], os.path.join(d, "cluster-ca.crt"))
    first = write(os.path.join(d, "first.yaml"), """\
apiVersion: v1
kind: Config
current-context: mine
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority: cluster-ca.crt
users:
- name: token
  user:
    token: not-a-valid-token
contexts:
- name: mine
  context:
    cluster: fake
    user: token-file
    namespace: kube-system
""" % fake.ready["server"])
    second = fake.kubeconfig
    missing = os.path.join(d, "missing.yaml")
    kc = ":".join([first, missing, second])

    r, cfg = tool_json("config", kubeconfig=kc)
    ok(cfg is not None and cfg["context"] == "mine" and cfg["namespace"] == "kube-system"
       and cfg["files"] == [first, second],
       "merge: current-context from the first file, missing files skipped", detail(r))
    r = tool("get", "/api/v1/namespaces/kube-system", kubeconfig=kc)
    ok(r.returncode == 0 and '"kube-system"' in r.stdout,
       "merge: a context of file 1 uses a user of file 2; relative CA path resolved", detail(r))
    r = tool("--context", "fake-token", "get", "/version", kubeconfig=kc)
    ok(r.returncode == 1 and "status=401" in r.stderr and "did not accept the credentials" in r.stderr,
       "merge: the first file's user \"token\" wins over the second's (401)", detail(r))
    r, cfg = tool_json("config", kubeconfig=":".join([second, first]))
    ok(cfg is not None and cfg["context"] == "fake" and cfg["namespace"] == "default",
       "merge: reversed order takes current-context from the other file", detail(r))
    r = tool("--context", "fake-token", "get", "/version", kubeconfig=":".join([second, first]))
    ok(r.returncode == 0, "merge: reversed order, the second file's valid token wins", detail(r))

    # The same kubeconfig as JSON.
    js = write(os.path.join(d, "config.json"), json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "j",
        "clusters": [{"name": "k", "cluster": {"server": fake.ready["server"],
                                               "certificate-authority": fake.ready["ca"]}}],
        "users": [{"name": "u", "user": {"client-certificate": fake.ready["admin_cert"],
                                         "client-key": fake.ready["admin_key"]}}],
        "contexts": [{"name": "j", "context": {"cluster": "k", "user": "u", "namespace": "kube-public"}}]},
        indent=1))
    r = tool("list", "/api/v1/namespaces", kubeconfig=js)
    r2, cfg = tool_json("config", kubeconfig=js)
    ok(r.returncode == 0 and '"NamespaceList"' in r.stdout and cfg and cfg["namespace"] == "kube-public",
       "kubeconfig in JSON works", detail(r) + detail(r2))


def last_user(fake, path):
    items = fake.control("GET", "/_fake/requests")["items"]
    for it in reversed(items):
        if it.get("path", "").startswith(path) or it.get("url", "").startswith(path):
            return it.get("user")
    return None


def test_auth(fake):
    kc = fake.kubeconfig
    cases = [("fake", "client certificate file", "fake-admin"),
             ("fake-cert-data", "client-certificate-data", "fake-admin"),
             ("fake-token", "bearer token", "fake-admin"),
             ("fake-token-file", "tokenFile", "fake-admin"),
             ("fake-exec", "exec credential plugin", "fake-exec-user"),
             ("fake-insecure", "insecure-skip-tls-verify", "fake-admin"),
             ("fake-tls-name", "tls-server-name", "fake-admin")]
    for ctx, what, user in cases:
        path = "/api/v1/namespaces/default"
        r = tool("--context", ctx, "get", path, kubeconfig=kc)
        seen = last_user(fake, path) if r.returncode == 0 else None
        ok(r.returncode == 0 and '"default"' in r.stdout and seen == user,
           "auth: %s (context %s) authenticates as %s" % (what, ctx, user),
           detail(r) + "\nserver saw user %r" % seen)
        r = tool("--context", ctx, "--async", "list", "/api/v1/namespaces", kubeconfig=kc)
        ok(r.returncode == 0 and '"NamespaceList"' in r.stdout,
           "auth: %s with the async API" % what, detail(r))

    anon = write(os.path.join(_tmp, "anon.yaml"),
                 "apiVersion: v1\ncurrent-context: a\nclusters:\n- name: k\n  cluster:\n"
                 "    server: %s\n    certificate-authority: %s\ncontexts:\n- name: a\n"
                 "  context: {cluster: k}\n" % (fake.ready["server"], fake.ready["ca"]))
    r = tool("get", "/api/v1/namespaces", kubeconfig=anon)
    ok(r.returncode == 1 and "status=401" in r.stderr,
       "auth: no credentials -> 401 from the server (the fake does check)", detail(r))

    # An exec plugin of the older v1beta1 API that returns a client certificate.
    plugin = write(os.path.join(_tmp, "cert-plugin.py"), """#!%s
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["apiVersion"] == "client.authentication.k8s.io/v1beta1", info
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": {
    "clientCertificateData": open(%r).read(), "clientKeyData": open(%r).read()}}))
""" % (sys.executable, fake.ready["admin_cert"], fake.ready["admin_key"]))
    os.chmod(plugin, 0o755)
    certexec = write(os.path.join(_tmp, "exec-cert.yaml"), """\
apiVersion: v1
current-context: x
clusters:
- name: k
  cluster: {server: %s, certificate-authority: %s}
users:
- name: certexec
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: %s, interactiveMode: Never}
contexts:
- name: x
  context: {cluster: k, user: certexec}
""" % (fake.ready["server"], fake.ready["ca"], plugin))
    path = "/api/v1/namespaces/kube-public"
    r = tool("get", path, kubeconfig=certexec)
    seen = last_user(fake, path) if r.returncode == 0 else None
    ok(r.returncode == 0 and seen == "fake-admin",
       "auth: exec plugin (v1beta1) returning a client certificate", detail(r) + "\nserver saw %r" % seen)

    calls = fake.exec_calls()
    info = json.loads(calls[-1]["exec_info"]) if calls and calls[-1].get("exec_info") else {}
    spec = info.get("spec", {})
    ok(info.get("kind") == "ExecCredential" and info.get("apiVersion") == "client.authentication.k8s.io/v1"
       and spec.get("interactive") is False and spec.get("cluster", {}).get("server") == fake.ready["server"]
       and spec.get("cluster", {}).get("certificate-authority-data")
       and calls[-1]["argv"] == ["get-token"],
       "exec: KUBERNETES_EXEC_INFO carries v1 ExecCredential with cluster info, args passed",
       json.dumps(calls[-1:]))


def test_exec_refresh(fake):
    kc = fake.kubeconfig
    # Expiry: tokens live 12 s (expirationTimestamp has whole seconds, the
    # client refreshes 2 s early); requests at 0, 5.5 and 11 s need exactly
    # two plugin runs.
    fake.control("POST", "/_fake/config", {"exec_token_ttl": 12})
    before = len(fake.exec_calls())
    r = tool("--context", "fake-exec", "--repeat", "3", "--interval", "5.5", "get", "/version", kubeconfig=kc)
    n = len(fake.exec_calls()) - before
    ok(r.returncode == 0 and n == 2,
       "exec: cached credential reused, refreshed after expirationTimestamp (%d plugin runs)" % n, detail(r))

    # 401: the server revokes the token while the client still thinks it valid.
    fake.control("POST", "/_fake/config", {"exec_token_ttl": 600})
    before = len(fake.exec_calls())
    p = subprocess.Popen([TOOL, "--context", "fake-exec", "--repeat", "2", "--interval", "3",
                          "get", "/api/v1/namespaces/default"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, KUBECONFIG=kc))
    time.sleep(1.5)
    fake.control("POST", "/_fake/expire-tokens", {"user": "fake-exec-user"})
    out, err = p.communicate(timeout=60)
    n = len(fake.exec_calls()) - before
    ok(p.returncode == 0 and n == 2,
       "exec: a 401 re-runs the plugin once and the request succeeds (%d plugin runs)" % n,
       "rc=%s\n%s\n%s" % (p.returncode, out, err))

    failing = write(os.path.join(_tmp, "exec-fail.yaml"), """\
apiVersion: v1
current-context: x
clusters:
- name: k
  cluster: {server: %s, certificate-authority: %s}
users:
- name: broken
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /nonexistent/credential-helper
      installHint: install credential-helper from your provider
contexts:
- name: x
  context: {cluster: k, user: broken}
""" % (fake.ready["server"], fake.ready["ca"]))
    r = tool("get", "/version", kubeconfig=failing, stdin="")
    ok(r.returncode == 1 and "/nonexistent/credential-helper" in r.stderr
       and "install credential-helper from your provider" in r.stderr and 'user "broken"' in r.stderr,
       "exec: a missing plugin names the user, the command and the installHint", detail(r))


    always = write(os.path.join(_tmp, "exec-always.yaml"), open(fake.kubeconfig).read().replace(
        "interactiveMode: Never", "interactiveMode: Always"))
    r = tool("--context", "fake-exec", "get", "/version", kubeconfig=always, stdin="")
    ok(r.returncode == 1 and "needs a terminal" in r.stderr and "interactiveMode: Always" in r.stderr,
       "exec: interactiveMode Always without a terminal fails before running the plugin", detail(r))


def test_tls(fake):
    kc = fake.kubeconfig
    r = tool("--context", "fake-wrong-ca", "get", "/version", kubeconfig=kc)
    ok(r.returncode == 1 and "TLS" in r.stderr and "not signed by the cluster's certificate authority" in r.stderr
       and 'cluster "fake-wrong-ca"' in r.stderr,
       "tls: a wrong CA fails with a clear TLS error naming the cluster", detail(r))

    # tls-server-name for real: a second server whose certificate names only
    # "podscope-api.test", signed by the first server's CA.
    pki = os.path.dirname(fake.ready["ca"])
    d = os.path.join(_tmp, "tlsname")
    os.makedirs(d)
    ext = write(os.path.join(d, "ext.cnf"), "subjectAltName=DNS:podscope-api.test\n"
                "extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", os.path.join(d, "srv.key"), "-out", os.path.join(d, "srv.csr"),
                    "-subj", "/CN=podscope-api.test"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(d, "srv.csr"), "-CA",
                    os.path.join(pki, "ca.crt"), "-CAkey", os.path.join(pki, "ca.key"), "-CAcreateserial",
                    "-out", os.path.join(d, "srv.crt"), "-days", "1", "-extfile", ext],
                   check=True, capture_output=True)
    other = Fake("tlsname-server", "--no-netns", "--tls-cert", os.path.join(d, "srv.crt"),
                 "--tls-key", os.path.join(d, "srv.key"), "--client-ca", os.path.join(pki, "ca.crt"))

    def kubeconfig(name, server_name):
        extra = "    tls-server-name: %s\n" % server_name if server_name else ""
        return write(os.path.join(d, name + ".yaml"), """\
apiVersion: v1
current-context: c
clusters:
- name: k
  cluster:
    server: %s
    certificate-authority: %s
%susers:
- name: u
  user: {token: %s}
contexts:
- name: c
  context: {cluster: k, user: u}
""" % (other.ready["server"], fake.ready["ca"], extra, other.ready["admin_token"]))

    r = tool("get", "/version", kubeconfig=kubeconfig("right", "podscope-api.test"))
    ok(r.returncode == 0 and '"major"' in r.stdout,
       "tls: tls-server-name verifies a certificate that does not name the URL's host", detail(r))
    r = tool("get", "/version", kubeconfig=kubeconfig("none", None))
    ok(r.returncode == 1 and "does not name the server's host" in r.stderr and "tls-server-name" in r.stderr,
       "tls: without tls-server-name the same certificate is refused (host mismatch)", detail(r))
    r = tool("get", "/version", kubeconfig=kubeconfig("wrong", "other-name.test"))
    ok(r.returncode == 1 and "TLS" in r.stderr,
       "tls: a wrong tls-server-name is refused", detail(r))


def parse_err(r):
    out = {}
    for line in r.stderr.splitlines():
        if line.startswith("status="):
            for part in line.split(" ", 3):
                if "=" in part:
                    k, v = part.split("=", 1)
                    out[k] = v
    return out


def test_errors_and_crud(fake):
    kc = fake.kubeconfig
    ns = "kc-%d" % os.getpid()
    r = tool("get", "/api/v1/namespaces/%s" % ns, kubeconfig=kc)
    e = parse_err(r)
    ok(r.returncode == 1 and e.get("status") == "404" and e.get("reason") == "NotFound"
       and 'namespaces "%s" not found' % ns in r.stderr and "check the name" in r.stderr,
       "errors: 404 carries Status.message, reason and a hint", detail(r))

    body = json.dumps({"metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "podscope-test"}}})
    r = tool("create", "/api/v1/namespaces", body, kubeconfig=kc)
    ok(r.returncode == 0 and json.loads(r.stdout)["metadata"]["name"] == ns, "crud: create a namespace", detail(r))
    r = tool("--async", "create", "/api/v1/namespaces", body, kubeconfig=kc)
    e = parse_err(r)
    ok(r.returncode == 1 and e.get("status") == "409" and e.get("reason") == "AlreadyExists"
       and e.get("details_name") == ns and "already exists" in r.stderr,
       "errors: 409 AlreadyExists (async) with details.name", detail(r))

    r = tool("create", "/api/v1/namespaces/%s/configmaps" % ns,
             json.dumps({"metadata": {"name": "Bad_Name"}}), kubeconfig=kc)
    e = parse_err(r)
    ok(r.returncode == 1 and e.get("status") == "422" and e.get("reason") == "Invalid"
       and "Bad_Name" in r.stderr and "is invalid" in r.stderr,
       "errors: 422 Invalid names the field", detail(r))

    r = tool("--context", "fake-viewer", "create", "/api/v1/namespaces/%s/configmaps" % ns,
             json.dumps({"metadata": {"name": "x"}}), kubeconfig=kc)
    e = parse_err(r)
    ok(r.returncode == 1 and e.get("status") == "403" and "cannot create resource" in r.stderr
       and "ask your cluster admin for RBAC permission to create configmaps in namespace %s" % ns in r.stderr,
       "errors: 403 gives the API message and the RBAC verb/resource to ask for", detail(r))

    cm = "/api/v1/namespaces/%s/configmaps" % ns
    r = tool("create", cm, json.dumps({"metadata": {"name": "c1", "labels": {"k": "v"}}, "data": {"a": "1"}}),
             kubeconfig=kc)
    ok(r.returncode == 0, "crud: create a configmap", detail(r))
    r1 = tool("patch", cm + "/c1", "merge", '{"data":{"b":"2"}}', kubeconfig=kc)
    r2 = tool("--async", "patch", cm + "/c1", "strategic", '{"metadata":{"labels":{"s":"t"}}}', kubeconfig=kc)
    r3 = tool("patch", cm + "/c1", "json", '[{"op":"replace","path":"/data/a","value":"9"}]', kubeconfig=kc)
    r4, got = tool_json("get", cm + "/c1", kubeconfig=kc)
    ok(all(x.returncode == 0 for x in (r1, r2, r3)) and got is not None
       and got["data"] == {"a": "9", "b": "2"} and got["metadata"]["labels"] == {"k": "v", "s": "t"},
       "crud: merge, strategic-merge and JSON patches applied", detail(r1) + detail(r2) + detail(r3) + detail(r4))
    r, lst = tool_json("-l", "s=t", "list", cm, kubeconfig=kc)
    r0, none = tool_json("-l", "s=nope", "--async", "list", cm, kubeconfig=kc)
    ok(lst is not None and [i["metadata"]["name"] for i in lst["items"]] == ["c1"]
       and none is not None and none["items"] == [],
       "crud: list with a label selector", detail(r) + detail(r0))
    r = tool("--propagation", "Background", "delete", cm + "/c1", kubeconfig=kc)
    r2 = tool("get", cm + "/c1", kubeconfig=kc)
    ok(r.returncode == 0 and r2.returncode == 1 and "status=404" in r2.stderr,
       "crud: delete with propagationPolicy, then 404", detail(r) + detail(r2))

    # The subresource a cluster without ephemeral containers lacks: 404 with empty details.name.
    pod = {"metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c", "image": "busybox",
                                                                "command": ["sleep", "600"]}]}}
    r = tool("create", "/api/v1/namespaces/%s/pods" % ns, json.dumps(pod), kubeconfig=kc)
    fake.control("POST", "/_fake/config", {"ephemeral_containers": False})
    try:
        r2 = tool("patch", "/api/v1/namespaces/%s/pods/p1/ephemeralcontainers" % ns, "strategic",
                  '{"spec":{"ephemeralContainers":[{"name":"e","image":"busybox"}]}}', kubeconfig=kc)
    finally:
        fake.control("POST", "/_fake/config", {"ephemeral_containers": True})
    e = parse_err(r2)
    ok(r.returncode == 0 and r2.returncode == 1 and e.get("status") == "404" and e.get("details_name") == "",
       "errors: subresource 404 has an empty details.name", detail(r) + detail(r2))

    r = tool("version", kubeconfig=kc)
    ok(r.returncode == 0 and r.stdout.strip() == "1.29", "version: GET /version -> 1.29", detail(r))
    tool("delete", "/api/v1/namespaces/%s" % ns, kubeconfig=kc)


def test_watch(fake):
    kc = fake.kubeconfig
    ns = "kw-%d" % os.getpid()
    tool("create", "/api/v1/namespaces", json.dumps({"metadata": {"name": ns}}), kubeconfig=kc)
    cm = "/api/v1/namespaces/%s/configmaps" % ns
    tool("create", cm, json.dumps({"metadata": {"name": "pre", "labels": {"w": "1"}}}), kubeconfig=kc)

    # No resourceVersion: existing objects come as ADDED; the server ends each
    # stream after 1 s and the watch resumes without losing or repeating events.
    p = subprocess.Popen([TOOL, "--context", "fake-exec", "-l", "w=1", "--count", "5", "--watch-timeout", "1",
                          "--timeout", "30", "watch", cm],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, KUBECONFIG=kc))
    lines = []

    def reader():
        for line in p.stdout:
            lines.append(line.strip())
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + 15
    while "CONNECTED" not in lines and time.monotonic() < deadline:
        time.sleep(0.05)
    tool("create", cm, json.dumps({"metadata": {"name": "a", "labels": {"w": "1"}}}), kubeconfig=kc)
    tool("create", cm, json.dumps({"metadata": {"name": "other", "labels": {"w": "2"}}}), kubeconfig=kc)
    time.sleep(1.6)
    tool("patch", cm + "/a", "merge", '{"data":{"x":"y"}}', kubeconfig=kc)
    time.sleep(1.6)
    tool("create", cm, json.dumps({"metadata": {"name": "b", "labels": {"w": "1"}}}), kubeconfig=kc)
    tool("delete", cm + "/a", kubeconfig=kc)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    t.join(5)
    err = p.stderr.read()
    events = [" ".join(line.split()[:2]) for line in lines if line.split()[0] in ("ADDED", "MODIFIED", "DELETED")]
    want = ["ADDED %s/pre" % ns, "ADDED %s/a" % ns, "MODIFIED %s/a" % ns, "ADDED %s/b" % ns, "DELETED %s/a" % ns]
    reconnects = sum(1 for line in lines if line.startswith("RECONNECTING"))
    ok(p.returncode == 0 and events == want and reconnects >= 2,
       "watch: ADDED/MODIFIED/DELETED in order across %d server-ended streams, selector applied" % reconnects,
       "\n".join(lines) + "\n" + err)

    # From a List's resourceVersion: only what happened after it.
    r, lst = tool_json("list", cm, kubeconfig=kc)
    rv = lst["metadata"]["resourceVersion"] if lst else "0"
    tool("create", cm, json.dumps({"metadata": {"name": "after"}}), kubeconfig=kc)
    r = tool("--resource-version", rv, "--count", "1", "--timeout", "10", "watch", cm, kubeconfig=kc)
    evs = [line for line in r.stdout.splitlines() if line.startswith(("ADDED", "MODIFIED", "DELETED"))]
    ok(r.returncode == 0 and len(evs) == 1 and evs[0].startswith("ADDED %s/after" % ns),
       "watch: resumes from a given resourceVersion", detail(r))

    r = tool("--timeout", "10", "watch", "/api/v1/namespaces/%s/nosuchresource" % ns, kubeconfig=kc)
    ok(r.returncode == 1 and "status=404" in r.stderr,
       "watch: a permanent error (404) stops the watch with the API message", detail(r))
    tool("delete", "/api/v1/namespaces/%s" % ns, kubeconfig=kc)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_port_forward(fake):
    if not IS_ROOT:
        skip("port-forward: tunnels HTTP into a pod network namespace", "needs root for network namespaces")
        return
    kc = fake.kubeconfig
    ns = "kp-%d" % os.getpid()
    data = os.path.join(_tmp, "www")
    os.makedirs(data)
    payload = os.urandom(24 * 1024 * 1024)
    with open(os.path.join(data, "big.bin"), "wb") as f:
        f.write(payload)
    write(os.path.join(data, "hello.txt"), "hello from the pod\n")
    tool("create", "/api/v1/namespaces", json.dumps({"metadata": {"name": ns}}), kubeconfig=kc)
    pod = {"metadata": {"name": "web"}, "spec": {"containers": [{
        "name": "web", "image": "python",
        "command": [sys.executable, "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", data]}]}}
    r = tool("create", "/api/v1/namespaces/%s/pods" % ns, json.dumps(pod), kubeconfig=kc)
    ip = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r2, got = tool_json("get", "/api/v1/namespaces/%s/pods/web" % ns, kubeconfig=kc)
        st = (got or {}).get("status", {})
        if st.get("phase") == "Running" and all(c.get("ready") for c in st.get("containerStatuses", [{}])):
            ip = st.get("podIP")
            break
        time.sleep(0.3)
    ok(r.returncode == 0 and ip is not None, "port-forward: pod with an HTTP server is running at %s" % ip,
       detail(r))

    p = subprocess.Popen([TOOL, "--context", "fake-token", "port-forward", ns, "web", "8080"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, KUBECONFIG=kc))
    first = p.stdout.readline().split()
    port = int(first[1]) if len(first) == 2 and first[0] == "LISTENING" else None
    ok(port is not None, "port-forward: listening on 127.0.0.1:%s" % port, " ".join(first))
    if port is None:
        p.kill()
        return
    base = "http://127.0.0.1:%d" % port
    # The HTTP server may still be binding: retry briefly.
    body = None
    for _ in range(50):
        try:
            with urllib.request.urlopen(base + "/hello.txt", timeout=10) as resp:
                body = resp.read()
            break
        except OSError:
            time.sleep(0.2)
    ok(body == b"hello from the pod\n", "port-forward: HTTP request tunnelled into the pod's netns", repr(body))

    results = [None] * 3

    def fetch(i):
        with urllib.request.urlopen(base + "/big.bin", timeout=60) as resp:
            results[i] = hashlib.sha256(resp.read()).hexdigest()
    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(90)
    want = hashlib.sha256(payload).hexdigest()
    ok(results == [want] * 3, "port-forward: 3 parallel 24 MiB downloads arrive intact", repr(results))

    # Backpressure: a reader that stalls must not make us buffer the file.
    base_rss = rss_kb(p.pid)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /big.bin HTTP/1.0\r\nHost: x\r\n\r\n")
    time.sleep(3)
    stalled_rss = rss_kb(p.pid)
    got = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    s.close()
    body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
    grew = stalled_rss - base_rss
    ok(grew < 8 * 1024 and hashlib.sha256(body).hexdigest() == want,
       "port-forward: a stalled reader holds back the pod (RSS +%d KiB while 24 MiB waited), data intact" % grew,
       "base %d KiB, stalled %d KiB, body %d bytes" % (base_rss, stalled_rss, len(body)))

    # A client that half-closes still gets its answer; a closed one frees its tunnel.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /hello.txt HTTP/1.0\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    got = b""
    s.settimeout(20)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    ok(got.endswith(b"hello from the pod\n"), "port-forward: half-closed client still gets the response",
       repr(got[-200:]))
    noise = []

    def active():
        p.stdin.write("active\n")
        p.stdin.flush()
        while True:
            line = p.stdout.readline().strip()
            if line.startswith("ACTIVE") or not line:
                return line
            noise.append(line)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    time.sleep(1)
    during = active()
    for s in idle:
        s.close()
    time.sleep(7)
    after = active()
    ok(during == "ACTIVE 3" and after == "ACTIVE 0" and not noise,
       "port-forward: tunnels of closed local connections end (%s -> %s), no errors reported" % (during, after),
       "\n".join(noise))

    # Error channel: nothing listens on 9999 in the pod.
    p2 = subprocess.Popen([TOOL, "--context", "fake", "port-forward", ns, "web", "9999"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, KUBECONFIG=kc))
    first = p2.stdout.readline().split()
    closed = False
    try:
        s = socket.create_connection(("127.0.0.1", int(first[1])), timeout=10)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        closed = s.recv(100) == b""
        s.close()
    except OSError:
        closed = True
    line = p2.stdout.readline()
    rest, err = p2.communicate(timeout=20)
    ok(closed and line.startswith("CONNECTION-ERROR") and "pod %s/web port 9999" % ns in line
       and "9999" in line.split(":", 1)[1],
       "port-forward: error channel text closes the connection and names pod and port",
       "%s\n%s\n%s" % (line, rest, err))

    # A pod that does not exist: the API's own message, pod and port named.
    p3 = subprocess.Popen([TOOL, "port-forward", ns, "no-such-pod", "8080"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=dict(os.environ, KUBECONFIG=kc))
    first = p3.stdout.readline().split()
    try:
        s = socket.create_connection(("127.0.0.1", int(first[1])), timeout=10)
        s.settimeout(20)
        s.recv(100)
        s.close()
    except OSError:
        pass
    line = p3.stdout.readline()
    rest, err = p3.communicate(timeout=20)
    ok(line.startswith("CONNECTION-ERROR") and "pod %s/no-such-pod port 8080" % ns in line
       and 'pods "no-such-pod" not found' in line,
       "port-forward: a missing pod is reported with the API's message", "%s\n%s\n%s" % (line, rest, err))

    out, err = p.communicate(timeout=30)
    ok(p.returncode == 0 and "STOPPED active=0" in out,
       "port-forward: stops with no tunnel left", out + err)
    tool("delete", "/api/v1/namespaces/%s" % ns, kubeconfig=kc)


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("TAP version 13")
    try:
        fake = Fake("main")
        test_config(fake)
        test_merge(fake)
        test_auth(fake)
        test_tls(fake)
        test_errors_and_crud(fake)
        test_watch(fake)
        test_exec_refresh(fake)
        test_port_forward(fake)
    except Exception as e:  # a crash in the harness is a failure, not a skip
        import traceback
        ok(False, "test harness", "%s\n%s" % (e, traceback.format_exc()))
    finally:
        cleanup()
    print("1..%d" % _n)
    return 1 if _failed else 0


if __name__ == "__main__":
    sys.exit(main())
