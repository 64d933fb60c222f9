#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small Kubernetes API server for the k8s test suite.

Speaks HTTPS with client-certificate and bearer-token authentication, serves
namespaces, pods (+ ephemeralcontainers, portforward, log, status),
services, secrets, serviceaccounts, configmaps, deployments and RBAC objects
with the real paths, JSON shapes, Status errors, watch streams and
admission decisions, and runs pods as network namespaces with real processes.

    server.py --state-dir DIR [--version 1.29.0] [--no-ephemeral-containers] ...

writes DIR/kubeconfig and DIR/ready.json ({"port","pid","kubeconfig",...}) once
it listens on 127.0.0.1:<port>. Test controls live under /_fake/ (no auth):
objects, requests, processes, config, tokens.

Where each behaviour comes from is noted at the code (kubernetes/kubernetes
paths, kubernetes.io pages).
"""

import argparse
import base64
import bisect
import copy
import datetime
import hashlib
import http.server
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import patch as patchmod  # noqa: E402
import psa  # noqa: E402
import runtime  # noqa: E402
import labelsel as sel  # noqa: E402
import wsproto  # noqa: E402
from status import (ApiError, FieldError, already_exists, bad_request, conflict,  # noqa: E402
                    dns1035_label, dns1123_label, dns1123_subdomain, forbidden, invalid,
                    label_errors, method_not_allowed, not_found, not_found_generic,
                    unauthorized, unsupported_media_type)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n=5):
    # names.SimpleNameGenerator: 5 chars from "bcdfghjklmnpqrstvwxz2456789"
    # (staging/src/k8s.io/apiserver/pkg/storage/names/generate.go).
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


class Res:
    def __init__(self, name, group, version, kind, namespaced, short_names=()):
        self.name, self.group, self.version, self.kind = name, group, version, kind
        self.namespaced = namespaced
        self.short_names = list(short_names)

    @property
    def api_version(self):
        return self.version if not self.group else "%s/%s" % (self.group, self.version)


RESOURCES = {r.name: r for r in [
    Res("namespaces", "", "v1", "Namespace", False, ["ns"]),
    Res("pods", "", "v1", "Pod", True, ["po"]),
    Res("services", "", "v1", "Service", True, ["svc"]),
    Res("secrets", "", "v1", "Secret", True),
    Res("configmaps", "", "v1", "ConfigMap", True, ["cm"]),
    Res("serviceaccounts", "", "v1", "ServiceAccount", True, ["sa"]),
    Res("deployments", "apps", "v1", "Deployment", True, ["deploy"]),
    Res("clusterroles", "rbac.authorization.k8s.io", "v1", "ClusterRole", False),
    Res("clusterrolebindings", "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", False),
    Res("roles", "rbac.authorization.k8s.io", "v1", "Role", True),
    Res("rolebindings", "rbac.authorization.k8s.io", "v1", "RoleBinding", True),
]}

SUBRESOURCES = {"pods": ["status", "ephemeralcontainers", "portforward", "log"],
                "namespaces": ["status", "finalize"], "deployments": ["status"],
                "services": ["status"]}

# Namespaces the NamespaceLifecycle admission plugin refuses to delete
# (staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go).
IMMORTAL = {"default", "kube-system", "kube-public"}

# Accepted PATCH media types in the order of staging/src/k8s.io/apiserver/pkg/
# endpoints/installer.go. Server-side apply (application/apply-patch+yaml) is
# not modelled, so it is refused as a server without that feature refuses it.
PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json"]

BINARIES = {"podscope-hub": "PODSCOPE_HUB_BIN", "podscope-agent": "PODSCOPE_AGENT_BIN",
            "podscope-snoop": "PODSCOPE_SNOOP_BIN"}

PASS_ENV = ("G_DEBUG", "G_MESSAGES_DEBUG", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
            "LD_LIBRARY_PATH", "GNUTLS_DEBUG_LEVEL")


# --------------------------------------------------------------------------
# Store: objects, resourceVersions, the event log watches read.

class Store:
    def __init__(self):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1000
        self.objects = {}    # (res, ns, name) -> obj
        self.events = []     # (rv, res, ns, type, obj, oldobj)
        self.compacted_rv = 0  # events up to this resourceVersion are gone

    def _trim(self):
        # etcd compaction / watch cache window: a watch from an older
        # resourceVersion gets 410 Expired and must relist.
        if len(self.events) > 20000:
            drop = len(self.events) // 2
            self.compacted_rv = self.events[drop - 1][0]
            del self.events[:drop]

    def compact(self):
        with self.cond:
            if self.events:
                self.compacted_rv = self.events[-1][0]
            self.events.clear()
            self.cond.notify_all()

    def _bump(self):
        self.rv += 1
        return str(self.rv)

    def get(self, res, ns, name):
        with self.cond:
            o = self.objects.get((res, ns, name))
            return copy.deepcopy(o) if o else None

    def list(self, res, ns=None):
        with self.cond:
            return [copy.deepcopy(o) for (r, n, _), o in sorted(self.objects.items())
                    if r == res and (ns is None or n == ns)]

    def add(self, res, obj):
        with self.cond:
            m = obj["metadata"]
            key = (res, m.get("namespace", ""), m["name"])
            m["resourceVersion"] = self._bump()
            self.objects[key] = copy.deepcopy(obj)
            self.events.append((int(m["resourceVersion"]), res, key[1], "ADDED", copy.deepcopy(obj), None))
            self._trim()
            self.cond.notify_all()
            return copy.deepcopy(obj)

    def modify(self, res, ns, name, fn):
        """Applies fn to a copy; stores and emits MODIFIED when it changed."""
        with self.cond:
            cur = self.objects.get((res, ns, name))
            if cur is None:
                return None
            new = copy.deepcopy(cur)
            r = fn(new)
            if r is not None:
                new = r
            if new == cur:
                return copy.deepcopy(cur)
            new["metadata"]["resourceVersion"] = self._bump()
            self.objects[(res, ns, name)] = new
            self.events.append((int(new["metadata"]["resourceVersion"]), res, ns, "MODIFIED",
                                copy.deepcopy(new), copy.deepcopy(cur)))
            self._trim()
            self.cond.notify_all()
            return copy.deepcopy(new)

    def remove(self, res, ns, name):
        with self.cond:
            cur = self.objects.pop((res, ns, name), None)
            if cur is None:
                return None
            cur = copy.deepcopy(cur)
            cur["metadata"]["resourceVersion"] = self._bump()
            self.events.append((int(cur["metadata"]["resourceVersion"]), res, ns, "DELETED",
                                copy.deepcopy(cur), None))
            self._trim()
            self.cond.notify_all()
            return cur


# --------------------------------------------------------------------------
# Containers and pods on the node.

class Container:
    def __init__(self, spec, ephemeral):
        self.spec = spec
        self.name = spec.get("name", "")
        self.image = spec.get("image", "")
        self.ephemeral = ephemeral
        self.proc = None
        self.argv = None
        self.env = None
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.restarts = 0
        self.started_once = False
        self.next_start = 0.0
        self.pull_fail_since = None
        self.container_id = "containerd://" + hashlib.sha256(os.urandom(16)).hexdigest()
        self.ready = False

    def status(self):
        s = {"name": self.name, "state": copy.deepcopy(self.state),
             "lastState": copy.deepcopy(self.last_state), "ready": self.ready,
             "restartCount": self.restarts, "image": self.image, "imageID": "",
             "started": "running" in self.state}
        if self.started_once:
            s["containerID"] = self.container_id
        return s


class PodRun:
    def __init__(self, key):
        self.key = key
        self.ip = None
        self.netns = None
        self.containers = []
        self.ephemeral = []
        self.dir = None
        self.volumes = {}    # volume name -> host dir
        self.started = time.time()
        self.stopping = False
        self.ready_since = None


class Cluster:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.store = Store()
        self.lock = threading.RLock()
        self.pods = {}           # (ns, name) -> PodRun
        self.svc_ip_seq = 0
        self.tokens = {}         # token -> {"user","groups","expires"}
        self.readonly_users = set(args.readonly_user or [])
        self.requests = []
        self.version = args.version
        minor = int(self.version.split(".")[1])
        # Ephemeral containers: alpha (off) before 1.23, beta/GA (on) since
        # (https://kubernetes.io/docs/concepts/workloads/pods/ephemeral-containers/).
        self.ephemeral_enabled = (minor >= 23) if args.ephemeral_containers is None else args.ephemeral_containers
        self.ns_terminate_seconds = args.ns_terminate_seconds
        self.exec_token_ttl = args.exec_token_ttl
        self.stop_event = threading.Event()
        self.prefix = args.netns_prefix or "pk%d" % os.getpid()
        self.node = runtime.Node(self.prefix, use_netns=not args.no_netns, log=log)
        for ns in ("default", "kube-system", "kube-public"):
            self._make_namespace({"metadata": {"name": ns}})
            self.store.add("serviceaccounts", self._meta_defaults(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}))
        threading.Thread(target=self._reconcile_loop, daemon=True).start()

    # ---- shared pieces ----

    def bin_for(self, name):
        env = BINARIES[name]
        p = os.environ.get(env) or getattr(self.args, env.lower(), None)
        if p:
            return p
        root = os.environ.get("PDS_BUILD_ROOT")
        if root:
            sub = name.split("-", 1)[1]
            cand = os.path.join(root, sub, name)
            if os.access(cand, os.X_OK):
                return cand
        return None

    def _meta_defaults(self, obj):
        m = obj.setdefault("metadata", {})
        m.setdefault("uid", str(uuid.uuid4()))
        m.setdefault("creationTimestamp", now())
        return obj

    def _make_namespace(self, obj):
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = "v1", "Namespace"
        m = obj["metadata"]
        # The apiserver sets this immutable label on every namespace since 1.21
        # (https://kubernetes.io/docs/concepts/services-networking/network-policies/
        # "Targeting a Namespace by its name"; pkg/registry/core/namespace/strategy.go).
        m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        return self.store.add("namespaces", self._meta_defaults(obj))

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-2000]

    def ns_or_error(self, res, ns, name, creating):
        """NamespaceLifecycle admission: missing namespace -> 404 namespaces
        "x" not found; create in a Terminating one -> 403 with the
        NamespaceTerminating cause (staging/src/k8s.io/apiserver/pkg/admission/
        plugin/namespace/lifecycle/admission.go)."""
        nso = self.store.get("namespaces", "", ns)
        if nso is None:
            raise not_found("namespaces", "", ns)
        if creating and nso["status"].get("phase") == "Terminating":
            r = RESOURCES[res]
            raise forbidden(r.name, r.group, name,
                            "unable to create new content in namespace %s because it is being terminated" % ns,
                            causes=[{"reason": "NamespaceTerminating",
                                     "message": "namespace %s is being terminated" % ns,
                                     "field": "metadata.namespace"}])
        return nso

    # ---- validation shared by create ----

    def validate_meta(self, r, obj, ns):
        m = obj.get("metadata") or {}
        name = m.get("name", "")
        errs = []
        if not name:
            errs.append(FieldError("FieldValueRequired", "metadata.name", None,
                                   "name or generateName is required"))
        else:
            if r.name in ("namespaces",):
                msgs = dns1123_label(name)
            elif r.name == "services":
                msgs = dns1035_label(name)
            elif r.group == "rbac.authorization.k8s.io":
                # path segment names (ValidatePathSegmentName)
                msgs = []
                if name in (".", ".."):
                    msgs.append('may not be \'%s\'' % name)
                for ch in ("/", "%"):
                    if ch in name:
                        msgs.append("may not contain '%s'" % ch)
            else:
                msgs = dns1123_subdomain(name)
            errs += [FieldError("FieldValueInvalid", "metadata.name", name, msg) for msg in msgs]
        errs += label_errors(m.get("labels"))
        return errs

    # ---- create ----

    def create(self, r, ns, obj, user):
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was not a JSON object")
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        if not isinstance(m, dict):
            raise bad_request("metadata must be an object")
        if r.namespaced:
            if m.get("namespace") and m["namespace"] != ns:
                # staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go checkName/namespace
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            m["namespace"] = ns
        else:
            m.pop("namespace", None)
        if not m.get("name") and m.get("generateName"):
            m["name"] = m["generateName"] + rand_suffix()
        name = m.get("name", "")
        errs = self.validate_meta(r, obj, ns)
        errs += self.validate_spec(r, obj)
        if errs:
            raise invalid(r.kind, r.group, name, errs)
        if r.namespaced:
            self.ns_or_error(r.name, ns, name, creating=True)
        if self.store.get(r.name, m.get("namespace", ""), name) is not None:
            raise already_exists(r.name, r.group, name)
        obj["apiVersion"], obj["kind"] = r.api_version, r.kind
        for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            m.pop(k, None)
        self._meta_defaults(obj)
        if r.name == "namespaces":
            return self._make_namespace(obj)
        fn = getattr(self, "create_" + r.name, None)
        if fn:
            return fn(obj)
        return self.store.add(r.name, obj)

    def validate_spec(self, r, obj):
        errs = []
        spec = obj.get("spec") or {}
        if r.name == "pods":
            errs += self._validate_pod_spec(spec, "spec")
        elif r.name == "deployments":
            tmpl = spec.get("template") or {}
            tl = (tmpl.get("metadata") or {}).get("labels") or {}
            selector = spec.get("selector")
            if not selector:
                errs.append(FieldError("FieldValueRequired", "spec.selector", None, ""))
            else:
                ml = selector.get("matchLabels") or {}
                if not ml and not selector.get("matchExpressions"):
                    errs.append(FieldError("FieldValueInvalid", "spec.selector", selector,
                                           "empty selector is invalid for deployment"))
                if any(tl.get(k) != v for k, v in ml.items()):
                    errs.append(FieldError("FieldValueInvalid", "spec.template.metadata.labels", tl,
                                           "`selector` does not match template `labels`"))
            errs += self._validate_pod_spec(tmpl.get("spec") or {}, "spec.template.spec")
        elif r.name == "services":
            ports = spec.get("ports") or []
            stype = spec.get("type", "ClusterIP")
            if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
                errs.append(FieldError("FieldValueNotSupported", "spec.type", stype,
                                       'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'))
            if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
                errs.append(FieldError("FieldValueRequired", "spec.ports", None, ""))
            for i, p in enumerate(ports):
                port = p.get("port")
                if not isinstance(port, int) or not 1 <= port <= 65535:
                    errs.append(FieldError("FieldValueInvalid", "spec.ports[%d].port" % i, port,
                                           "must be between 1 and 65535, inclusive"))
                if len(ports) > 1 and not p.get("name"):
                    errs.append(FieldError("FieldValueRequired", "spec.ports[%d].name" % i, None, ""))
        elif r.name == "secrets":
            for k in (obj.get("data") or {}):
                if not re.fullmatch(r"[-._a-zA-Z0-9]+", k):
                    errs.append(FieldError("FieldValueInvalid", "data[%s]" % k, k,
                                           "a valid config key must consist of alphanumeric characters, "
                                           "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                                           "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
        elif r.name == "clusterrolebindings" or r.name == "rolebindings":
            rr = obj.get("roleRef") or {}
            if not rr.get("kind"):
                errs.append(FieldError("FieldValueRequired", "roleRef.kind", None, ""))
            if not rr.get("name"):
                errs.append(FieldError("FieldValueRequired", "roleRef.name", None, ""))
        elif r.name in ("clusterroles", "roles"):
            for i, rule in enumerate(obj.get("rules") or []):
                if not rule.get("verbs"):
                    errs.append(FieldError("FieldValueRequired", "rules[%d].verbs" % i, None,
                                           "verbs must contain at least one value"))
        return errs

    def _validate_pod_spec(self, spec, path):
        errs = []
        cs = spec.get("containers") or []
        if not cs:
            errs.append(FieldError("FieldValueRequired", path + ".containers", None, ""))
        seen = set()
        for key in ("initContainers", "containers"):
            for i, c in enumerate(spec.get(key) or []):
                p = "%s.%s[%d]" % (path, key, i)
                n = c.get("name", "")
                if not n:
                    errs.append(FieldError("FieldValueRequired", p + ".name", None, ""))
                else:
                    errs += [FieldError("FieldValueInvalid", p + ".name", n, msg) for msg in dns1123_label(n)]
                    if n in seen:
                        errs.append(FieldError("FieldValueDuplicate", p + ".name", n, ""))
                    seen.add(n)
                if not c.get("image"):
                    errs.append(FieldError("FieldValueRequired", p + ".image", None, ""))
        return errs

    # ---- per-kind create ----

    def create_pods(self, obj, owner=None):
        spec = obj.setdefault("spec", {})
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        nso = self.store.get("namespaces", "", ns)
        denial = psa.evaluate(nso["metadata"].get("labels"), obj)
        if denial:
            raise forbidden("pods", "", name, denial)
        # Defaults of pkg/apis/core/v1/defaults.go that clients read back.
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        for c in spec.get("containers") or []:
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("imagePullPolicy", "Always" if c.get("image", "").endswith(":latest") or ":" not in c.get("image", "") else "IfNotPresent")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        out = self.store.add("pods", obj)
        pr = PodRun((ns, name))
        with self.lock:
            self.pods[(ns, name)] = pr
        threading.Thread(target=self._start_pod, args=(pr,), daemon=True).start()
        return out

    def create_services(self, obj):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if spec.get("clusterIP") != "None" and spec["type"] != "ExternalName":
            ip = None
            selector = spec.get("selector") or {}
            if selector:
                # No kube-proxy here: the ClusterIP IS the selected pod's
                # address. A pod that exists lends its IP; otherwise one is
                # reserved and the first matching pod started later takes it.
                for p in self.store.list("pods", ns):
                    if p["status"].get("podIP") and all(
                            (p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items()):
                        ip = p["status"]["podIP"]
                        break
                if ip is None:
                    ip = self.node.allocate_ip(reserve_for=(ns, name))
            else:
                with self.lock:
                    self.svc_ip_seq += 1
                    ip = "10.96.0.%d" % (10 + self.svc_ip_seq % 240)
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        obj["status"] = {"loadBalancer": {}}
        return self.store.add("services", obj)

    def create_secrets(self, obj):
        obj.setdefault("type", "Opaque")
        data = obj.get("data") or {}
        for k, v in data.items():
            try:
                base64.b64decode(v, validate=True)
            except Exception:
                # The JSON decoder's []byte error surfaces as 400
                # ("... cannot be handled as a Secret: illegal base64 data ...").
                raise bad_request('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0')
        for k, v in (obj.pop("stringData", None) or {}).items():
            data[k] = base64.b64encode(v.encode()).decode()
        if data:
            obj["data"] = data
        return self.store.add("secrets", obj)

    def create_deployments(self, obj):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("strategy", {"type": "RollingUpdate"})
        obj["metadata"]["generation"] = 1
        obj["status"] = {}
        out = self.store.add("deployments", obj)
        return out

    # ---- pods at runtime ----

    def _start_pod(self, pr):
        ns, name = pr.key
        time.sleep(0.05)

        def scheduled(p):
            p["spec"]["nodeName"] = "fake-node"
            p["status"]["conditions"] = [{"type": "PodScheduled", "status": "True",
                                          "lastProbeTime": None, "lastTransitionTime": now()}]
        pod = self.store.modify("pods", ns, name, scheduled)
        if pod is None:
            return
        labels = pod["metadata"].get("labels") or {}
        ip = None
        # A selected pod takes its Service's ClusterIP while no other pod
        # holds it (the stand-in for kube-proxy; see create_services).
        for svc in self.store.list("services", ns):
            sel_ = svc["spec"].get("selector") or {}
            cip = svc["spec"].get("clusterIP")
            if sel_ and all(labels.get(k) == v for k, v in sel_.items()) and self.node.claim_reserved(cip):
                ip = cip
                break
        if ip is None:
            ip = self.node.allocate_ip()
        pr.ip = ip
        try:
            pr.netns = self.node.add_pod(pr.key, ip)
        except Exception as e:
            self.log("pod %s/%s: netns: %s" % (ns, name, e))
            self.release_pod_ip(ns, ip)
            return
        pr.dir = os.path.join(self.args.state_dir, "pods", "%s_%s" % (ns, name))
        os.makedirs(pr.dir, exist_ok=True)
        self._prepare_volumes(pr, pod)
        pr.containers = [Container(c, False) for c in pod["spec"].get("containers") or []]
        pr.started = time.time()
        self._sync_pod_status(pr)
        pod = self.store.get("pods", ns, name) or pod   # now with status.podIP for fieldRefs
        for c in pr.containers:
            self._start_container(pr, c, pod)
        self._sync_pod_status(pr)
        threading.Thread(target=self._watch_pod, args=(pr,), daemon=True).start()

    def _prepare_volumes(self, pr, pod):
        ns = pr.key[0]
        for v in pod["spec"].get("volumes") or []:
            d = os.path.join(pr.dir, "volumes", v.get("name", "v"))
            os.makedirs(d, exist_ok=True)
            src = v.get("secret") or v.get("configMap")
            if src:
                res = "secrets" if "secret" in v else "configmaps"
                o = self.store.get(res, ns, src.get("secretName") or src.get("name", ""))
                if o:
                    for k, val in (o.get("data") or {}).items():
                        raw = base64.b64decode(val) if res == "secrets" else val.encode()
                        with open(os.path.join(d, k), "wb") as f:
                            f.write(raw)
                        os.chmod(os.path.join(d, k), 0o600)
            pr.volumes[v.get("name")] = d

    def _resolve(self, pr, c, pod):
        """argv and env for a container: the podscope binaries stand in for
        their images; volumeMounts paths are rewritten to the pod's dirs."""
        spec = c.spec
        command = list(spec.get("command") or [])
        args = list(spec.get("args") or [])
        argv = command + args
        if argv and os.path.basename(argv[0]) in BINARIES:
            b = self.bin_for(os.path.basename(argv[0]))
            if not b:
                return None, "%s is not available: set %s" % (argv[0], BINARIES[os.path.basename(argv[0])])
            argv[0] = b
        elif not command and "podscope" in c.image:
            # The agent image's entrypoint is podscope-agent (ephemeral
            # containers of the session controller pass only args).
            which = "podscope-agent" if c.ephemeral or "agent" in c.image else "podscope-hub"
            b = self.bin_for(which)
            if not b:
                return None, "%s is not available: set %s" % (which, BINARIES[which])
            argv = [b] + args
        mounts = {}
        for vm in spec.get("volumeMounts") or []:
            d = pr.volumes.get(vm.get("name"))
            if d:
                mounts[vm["mountPath"].rstrip("/")] = d

        def rw(s):
            for mp, d in mounts.items():
                if s == mp or s.startswith(mp + "/"):
                    return d + s[len(mp):]
            return s
        argv = [rw(a) for a in argv]
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOSTNAME": pr.key[1], "HOME": pr.dir}
        for k in PASS_ENV:
            if k in os.environ:
                env[k] = os.environ[k]
        for e in spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = rw(str(e["value"]))
            elif "valueFrom" in e:
                v = self._env_from(pod, e["valueFrom"])
                if v is not None:
                    env[e["name"]] = v
        return (argv, env), None

    def _env_from(self, pod, src):
        """Downward API fieldRef and secretKeyRef/configMapKeyRef values
        (https://kubernetes.io/docs/tasks/inject-data-application/
        environment-variable-expose-pod-information/)."""
        fr = src.get("fieldRef")
        if fr:
            path = fr.get("fieldPath", "")
            m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            if m:
                return (pod["metadata"].get(m.group(1)) or {}).get(m.group(2), "")
            obj = pod
            for part in path.split("."):
                obj = obj.get(part) if isinstance(obj, dict) else None
            return "" if obj is None else str(obj)
        for key, res in (("secretKeyRef", "secrets"), ("configMapKeyRef", "configmaps")):
            ref = src.get(key)
            if ref:
                o = self.store.get(res, pod["metadata"]["namespace"], ref.get("name", ""))
                val = ((o or {}).get("data") or {}).get(ref.get("key", ""))
                if val is None:
                    return None
                return base64.b64decode(val).decode("utf-8", "replace") if res == "secrets" else val
        return None

    def _start_container(self, pr, c, pod):
        if "invalid" in c.image:
            # kubelet image pull failure: ErrImagePull, then ImagePullBackOff
            # (pkg/kubelet/images/types.go).
            c.state = {"waiting": {"reason": "ErrImagePull",
                                   "message": 'failed to pull and unpack image "%s": not found' % c.image}}
            c.pull_fail_since = time.time()
            return
        r, err = self._resolve(pr, c, pod)
        if err:
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": err,
                                      "startedAt": now(), "finishedAt": now()}}
            return
        argv, env = r
        c.argv, c.env = argv, env
        if not argv:
            # Nothing to run: a pause-like container that is simply running.
            c.state = {"running": {"startedAt": now()}}
            c.started_once = True
            return
        logpath = os.path.join(pr.dir, "%s.log" % c.name)
        try:
            c.proc = pr_proc = self.node.spawn(pr.key, argv, env, pr.dir, logpath)
        except OSError as e:
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(e),
                                      "startedAt": now(), "finishedAt": now()}}
            return
        c.started_once = True
        c.started_at = now()
        c.state = {"running": {"startedAt": c.started_at}}
        self.log("pod %s/%s container %s: pid %d: %s" % (pr.key[0], pr.key[1], c.name, pr_proc.pid,
                                                          " ".join(argv)))

    def _watch_pod(self, pr):
        while not pr.stopping and not self.stop_event.is_set():
            pod = self.store.get("pods", *pr.key)
            if pod is None:
                return
            changed = False
            for c in pr.containers + pr.ephemeral:
                if c.pull_fail_since is not None:
                    # Alternate ErrImagePull / ImagePullBackOff like the kubelet.
                    phase = int((time.time() - c.pull_fail_since) / 2) % 2
                    reason = "ImagePullBackOff" if phase else "ErrImagePull"
                    if c.state["waiting"]["reason"] != reason:
                        c.state = {"waiting": {"reason": reason, "message":
                                               ('Back-off pulling image "%s"' % c.image) if phase else
                                               'failed to pull and unpack image "%s": not found' % c.image}}
                        changed = True
                    continue
                if c.proc is not None and c.proc.poll() is not None and "running" in c.state:
                    code = c.proc.returncode
                    if code < 0:
                        code = 128 - code
                    term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                            "startedAt": c.state["running"]["startedAt"], "finishedAt": now(),
                            "containerID": c.container_id}
                    self.log("pod %s/%s container %s exited %d" % (pr.key[0], pr.key[1], c.name, code))
                    # Ephemeral containers are never restarted
                    # (https://kubernetes.io/docs/concepts/workloads/pods/ephemeral-containers/).
                    policy = pod["spec"].get("restartPolicy", "Always")
                    restart = not c.ephemeral and (policy == "Always" or (policy == "OnFailure" and code != 0))
                    if restart:
                        c.last_state = {"terminated": term}
                        delay = min(10 * 2 ** c.restarts, 300) / 10.0
                        c.state = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                               "back-off %ds restarting failed container=%s pod=%s_%s(%s)" % (
                                                   int(delay), c.name, pr.key[1], pr.key[0],
                                                   pod["metadata"]["uid"])}}
                        c.next_start = time.time() + delay
                        c.proc = None
                    else:
                        c.state = {"terminated": term}
                    c.ready = False
                    changed = True
                if c.proc is None and c.next_start and time.time() >= c.next_start:
                    c.next_start = 0
                    c.restarts += 1
                    self._start_container(pr, c, pod)
                    changed = True
                if not c.ephemeral:
                    ready = "running" in c.state and self._probe(pr, c)
                    if ready != c.ready:
                        c.ready = ready
                        changed = True
            if changed or pod["status"].get("phase") == "Pending":
                self._sync_pod_status(pr)
            time.sleep(0.2)

    def _probe(self, pr, c):
        probe = c.spec.get("readinessProbe")
        if not probe:
            return True
        port = (probe.get("tcpSocket") or probe.get("httpGet") or {}).get("port")
        if isinstance(port, str):
            port = next((p.get("containerPort") for p in c.spec.get("ports") or [] if p.get("name") == port), None)
        if not isinstance(port, int):
            return False
        return self.node.tcp_open(pr.key, port)

    def _sync_pod_status(self, pr):
        cs = [c.status() for c in pr.containers]
        es = [c.status() for c in pr.ephemeral]
        all_ready = bool(pr.containers) and all(c.ready for c in pr.containers)
        started = all(c.started_once for c in pr.containers)

        def upd(p):
            st = p["status"]
            conds = {c["type"]: c for c in st.get("conditions") or []}

            def cond(t, v):
                old = conds.get(t)
                if old is None or old["status"] != v:
                    conds[t] = {"type": t, "status": v, "lastProbeTime": None, "lastTransitionTime": now()}
            cond("Initialized", "True")
            cond("Ready", "True" if all_ready else "False")
            cond("ContainersReady", "True" if all_ready else "False")
            cond("PodScheduled", "True")
            order = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
            st["conditions"] = [conds[t] for t in order if t in conds]
            if pr.ip:
                st["hostIP"] = runtime.GATEWAY
                st["hostIPs"] = [{"ip": runtime.GATEWAY}]
                st["podIP"] = pr.ip
                st["podIPs"] = [{"ip": pr.ip}]
                st.setdefault("startTime", now())
            st["containerStatuses"] = cs
            if es:
                st["ephemeralContainerStatuses"] = es
            if started and pr.ip:
                term = [c for c in pr.containers if "terminated" in c.state]
                if term and len(term) == len(pr.containers) and p["spec"].get("restartPolicy") == "Never":
                    st["phase"] = "Succeeded" if all(c.state["terminated"]["exitCode"] == 0 for c in term) else "Failed"
                else:
                    st["phase"] = "Running"
        self.store.modify("pods", pr.key[0], pr.key[1], upd)

    def stop_pod(self, key, grace=2.0):
        with self.lock:
            pr = self.pods.pop(key, None)
        if pr is None:
            return
        pr.stopping = True
        for c in pr.containers + pr.ephemeral:
            if c.proc is not None:
                runtime.kill_group(c.proc, grace)
        self.node.remove_pod(key)
        if pr.ip:
            self.release_pod_ip(pr.key[0], pr.ip)

    def release_pod_ip(self, ns, ip):
        """Frees a pod address; one that is a Service's ClusterIP stays
        reserved for the next pod the Service selects."""
        self.node.release_ip(ip)
        for svc in self.store.list("services", ns):
            if svc["spec"].get("clusterIP") == ip and svc["spec"].get("selector"):
                self.node.reserve(ip, (ns, svc["metadata"]["name"]))
                break

    # ---- ephemeral containers ----

    def update_ephemeral(self, ns, name, new_pod, user):
        """PUT/PATCH pods/<name>/ephemeralcontainers: only
        spec.ephemeralContainers is taken from the new object
        (pkg/registry/core/pod/strategy.go podEphemeralContainersStrategy,
        dropNonEphemeralContainerUpdates); validated by
        ValidatePodEphemeralContainersUpdate (pkg/apis/core/validation/validation.go)."""
        old = self.store.get("pods", ns, name)
        if old is None:
            raise not_found("pods", "", name)
        new_list = copy.deepcopy((new_pod.get("spec") or {}).get("ephemeralContainers") or [])
        old_list = old["spec"].get("ephemeralContainers") or []
        errs = []
        new_by_name = {c.get("name"): c for c in new_list if isinstance(c, dict)}
        for oc in old_list:
            nc = new_by_name.get(oc["name"])
            if nc is None:
                errs.append(FieldError("FieldValueForbidden", "spec.ephemeralContainers", None,
                                       'existing ephemeral containers "%s" may not be removed' % oc["name"]))
            elif self._ec_defaults(copy.deepcopy(nc)) != oc:
                errs.append(FieldError("FieldValueForbidden", "spec.ephemeralContainers", None,
                                       'existing ephemeral containers "%s" may not be changed' % oc["name"]))
        names = {c.get("name") for key in ("containers", "initContainers") for c in old["spec"].get(key) or []}
        regular = {c.get("name") for c in old["spec"].get("containers") or []}
        old_names = {c["name"] for c in old_list}
        added = []
        for i, c in enumerate(new_list):
            p = "spec.ephemeralContainers[%d]" % i
            n = c.get("name", "")
            if n in old_names:
                continue
            if not n:
                errs.append(FieldError("FieldValueRequired", p + ".name", None, ""))
            else:
                errs += [FieldError("FieldValueInvalid", p + ".name", n, m) for m in dns1123_label(n)]
                if n in names:
                    errs.append(FieldError("FieldValueDuplicate", p + ".name", n, ""))
                names.add(n)
            if not c.get("image"):
                errs.append(FieldError("FieldValueRequired", p + ".image", None, ""))
            for f in ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "resources"):
                if c.get(f):
                    errs.append(FieldError("FieldValueForbidden", "%s.%s" % (p, f), None,
                                           "cannot be set for an Ephemeral Container"))
            t = c.get("targetContainerName")
            if t and t not in regular:
                errs.append(FieldError("FieldValueNotFound", p + ".targetContainerName", t, ""))
            added.append(c)
        if errs:
            raise invalid("Pod", "", name, errs)
        merged = copy.deepcopy(old)
        merged["spec"]["ephemeralContainers"] = old_list + [self._ec_defaults(c) for c in added]
        nso = self.store.get("namespaces", "", ns)
        # Pod Security Admission evaluates the whole pod for this subresource
        # (staging/src/k8s.io/pod-security-admission/admission/admission.go
        # EvaluatePod, subresource "ephemeralcontainers").
        denial = psa.evaluate(nso["metadata"].get("labels"), merged)
        if denial:
            raise forbidden("pods", "", name, denial)
        if not added:
            return old
        out = self.store.modify("pods", ns, name,
                                lambda p: p["spec"].__setitem__("ephemeralContainers",
                                                                merged["spec"]["ephemeralContainers"]))
        with self.lock:
            pr = self.pods.get((ns, name))
        if pr is not None:
            threading.Thread(target=self._start_ephemeral, args=(pr, added), daemon=True).start()
        return out

    def _ec_defaults(self, c):
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("imagePullPolicy", "IfNotPresent")
        return c

    def _start_ephemeral(self, pr, specs):
        while pr.netns is None and not pr.stopping:
            time.sleep(0.05)
        conts = [Container(self._ec_defaults(copy.deepcopy(s)), True) for s in specs]
        pr.ephemeral += conts
        self._sync_pod_status(pr)
        time.sleep(0.3)
        pod = self.store.get("pods", *pr.key)
        if pod is None:
            return
        for c in conts:
            self._start_container(pr, c, pod)
        self._sync_pod_status(pr)

    # ---- deletion ----

    def delete(self, r, ns, name, options):
        obj = self.store.get(r.name, ns, name)
        if obj is None:
            raise not_found(r.name, r.group, name)
        pp = options.get("propagationPolicy")
        if pp is not None and pp not in ("Orphan", "Background", "Foreground"):
            raise invalid("DeleteOptions", "meta.k8s.io", "", [FieldError(
                "FieldValueNotSupported", "propagationPolicy", pp,
                'supported values: "Foreground", "Background", "Orphan", "nil"')])
        if r.name == "namespaces":
            return self.delete_namespace(name, obj)
        if r.name == "pods":
            grace = options.get("gracePeriodSeconds")

            def mark(p):
                p["metadata"]["deletionTimestamp"] = now()
                p["metadata"]["deletionGracePeriodSeconds"] = grace if grace is not None else \
                    p["spec"].get("terminationGracePeriodSeconds", 30)
            out = self.store.modify("pods", ns, name, mark)
            threading.Thread(target=self._finish_pod_delete, args=(ns, name, grace), daemon=True).start()
            return out
        out = self.store.remove(r.name, ns, name)
        if r.name == "services":
            self.node.unreserve(obj["spec"].get("clusterIP"), (ns, name))
        if r.name == "deployments" and pp != "Orphan":
            # Garbage collector removes dependents (pods owned through the
            # ReplicaSet in a real cluster; here owned directly).
            uid = obj["metadata"]["uid"]
            for p in self.store.list("pods", ns):
                if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or []):
                    try:
                        self.delete(RESOURCES["pods"], ns, p["metadata"]["name"], {})
                    except ApiError:
                        pass
        return out

    def _finish_pod_delete(self, ns, name, grace):
        g = 2.0 if grace is None else min(float(grace), 2.0)
        self.stop_pod((ns, name), grace=max(g, 0.1))
        self.store.remove("pods", ns, name)

    def delete_namespace(self, name, obj):
        if name in IMMORTAL:
            raise forbidden("namespaces", "", name, "this namespace may not be deleted")
        if obj["metadata"].get("deletionTimestamp"):
            # pkg/registry/core/namespace/storage/storage.go Delete: a second
            # delete while spec.finalizers is non-empty.
            raise conflict("namespaces", "", name,
                           "The system is ensuring all content is removed from this namespace.  "
                           "Upon completion, this namespace will automatically be purged by the system.")

        def term(n):
            n["metadata"]["deletionTimestamp"] = now()
            n["status"]["phase"] = "Terminating"
        out = self.store.modify("namespaces", "", name, term)
        threading.Thread(target=self._finish_namespace, args=(name,), daemon=True).start()
        return out

    def _finish_namespace(self, name):
        # The namespace controller deletes the content, then removes the
        # "kubernetes" finalizer (pkg/controller/namespace/deletion).
        time.sleep(self.ns_terminate_seconds / 2.0)
        for r in RESOURCES.values():
            if not r.namespaced:
                continue
            for o in self.store.list(r.name, name):
                n = o["metadata"]["name"]
                if r.name == "pods":
                    self.stop_pod((name, n), grace=1.0)
                self.store.remove(r.name, name, n)
                if r.name == "services":
                    self.node.unreserve(o["spec"].get("clusterIP"), (name, n))
        time.sleep(self.ns_terminate_seconds / 2.0)
        self.store.modify("namespaces", "", name, lambda n: n["spec"].__setitem__("finalizers", []))
        self.store.remove("namespaces", "", name)

    # ---- deployments controller ----

    def _reconcile_loop(self):
        while not self.stop_event.wait(0.25):
            try:
                self._reconcile_deployments()
            except Exception:
                self.log("deployment controller: " + traceback.format_exc())

    def _reconcile_deployments(self):
        for d in self.store.list("deployments"):
            m = d["metadata"]
            ns = m["namespace"]
            nso = self.store.get("namespaces", "", ns)
            if nso is None or nso["status"].get("phase") != "Active":
                continue
            uid = m["uid"]
            owned = [p for p in self.store.list("pods", ns)
                     if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])
                     and not p["metadata"].get("deletionTimestamp")]
            want = d["spec"].get("replicas", 1)
            failure = None
            if len(owned) < want and time.time() - self._created_ts(d) > 0.2:
                tmpl = copy.deepcopy(d["spec"].get("template") or {})
                h = hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()
                phash = "".join("bcdfghjklmnpqrstvwxz2456789"[int(h[i:i + 2], 16) % 27] for i in range(0, 20, 2))
                pm = tmpl.setdefault("metadata", {})
                pm.setdefault("labels", {})["pod-template-hash"] = phash
                pm["name"] = "%s-%s-%s" % (m["name"], phash, rand_suffix())
                pm["namespace"] = ns
                pm["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": m["name"],
                                          "uid": uid, "controller": True, "blockOwnerDeletion": True}]
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pm, "spec": tmpl.get("spec") or {}}
                self._meta_defaults(pod)
                try:
                    self.create_pods(pod)
                    owned.append(pod)
                except ApiError as e:
                    failure = e.message
            ready = 0
            for p in owned:
                conds = {c["type"]: c["status"] for c in (p.get("status") or {}).get("conditions") or []}
                if conds.get("Ready") == "True":
                    ready += 1

            def upd(dd):
                st = dd["status"]
                st["observedGeneration"] = dd["metadata"].get("generation", 1)
                st["replicas"] = len(owned)
                st["updatedReplicas"] = len(owned)
                if ready:
                    st["readyReplicas"] = ready
                    st["availableReplicas"] = ready
                else:
                    st.pop("readyReplicas", None)
                    st.pop("availableReplicas", None)
                unavailable = want - ready
                if unavailable > 0:
                    st["unavailableReplicas"] = unavailable
                else:
                    st.pop("unavailableReplicas", None)
                conds = [{"type": "Available", "status": "True" if ready >= want else "False",
                          "reason": "MinimumReplicasAvailable" if ready >= want else "MinimumReplicasUnavailable"}]
                if failure:
                    conds.append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                  "message": failure})
                old = {c["type"]: c for c in st.get("conditions") or []}
                for c in conds:
                    o = old.get(c["type"])
                    c["lastTransitionTime"] = o["lastTransitionTime"] if o and o["status"] == c["status"] else now()
                    c["lastUpdateTime"] = c["lastTransitionTime"]
                st["conditions"] = conds
            self.store.modify("deployments", ns, m["name"], upd)

    def _created_ts(self, obj):
        t = obj["metadata"].get("creationTimestamp")
        try:
            return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except (TypeError, ValueError):
            return 0

    def shutdown(self):
        self.stop_event.set()
        with self.lock:
            keys = list(self.pods)
        for k in keys:
            self.stop_pod(k, grace=1.0)
        self.node.shutdown()

    # ---- tokens ----

    def issue_token(self, user, ttl, groups=None):
        tok = "fake-" + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        exp = time.time() + ttl if ttl else None
        with self.lock:
            self.tokens[tok] = {"user": user, "groups": groups or ["system:masters"], "expires": exp}
        return tok, exp


# --------------------------------------------------------------------------
# Certificates, kubeconfig.

OPENSSL_CNF = """[req]
distinguished_name=dn
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash
[server]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:fake-apiserver
[client]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
"""


def _openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], r.stderr.strip()))


def make_pki(d):
    """ca.crt/key (the cluster CA, also the client CA as kubeadm does),
    apiserver.crt/key, admin.crt/key (CN fake-admin, O system:masters),
    viewer.crt/key (CN fake-viewer), wrong-ca.crt (an unrelated CA)."""
    os.makedirs(d, exist_ok=True)
    cnf = os.path.join(d, "openssl.cnf")
    with open(cnf, "w") as f:
        f.write(OPENSSL_CNF)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "wrong-ca"):
        _openssl("req", "-x509", "-new", *ec, "-keyout", p(ca + ".key"), "-out", p(ca + ".crt"),
                 "-subj", "/CN=fake-kubernetes-%s" % ca, "-days", "3", "-config", cnf, "-extensions", "ca")
    for name, subj, ext in (("apiserver", "/CN=kube-apiserver", "server"),
                            ("admin", "/O=system:masters/CN=fake-admin", "client"),
                            ("viewer", "/CN=fake-viewer", "client")):
        _openssl("req", "-new", *ec, "-keyout", p(name + ".key"), "-out", p(name + ".csr"),
                 "-subj", subj, "-config", cnf)
        _openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                 "-CAcreateserial", "-out", p(name + ".crt"), "-days", "3", "-extfile", cnf,
                 "-extensions", ext)
    return {k: p(k) for k in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt",
                              "admin.key", "viewer.crt", "viewer.key", "wrong-ca.crt")}


EXEC_PLUGIN = r'''#!/usr/bin/env python3
# Exec credential plugin for the fake API server: asks it for a fresh token
# (client.authentication.k8s.io/v1 ExecCredential on stdout) and logs each
# call with KUBERNETES_EXEC_INFO so tests can count refreshes.
import json, os, ssl, sys, time, urllib.request
STATE = %(state)r
with open(os.path.join(STATE, "exec-calls.log"), "a") as f:
    f.write(json.dumps({"time": time.time(), "argv": sys.argv[1:],
                        "exec_info": os.environ.get("KUBERNETES_EXEC_INFO")}) + "\n")
with open(os.path.join(STATE, "ready.json")) as f:
    port = json.load(f)["port"]
ctx = ssl.create_default_context(cafile=%(ca)r)
req = urllib.request.Request("https://127.0.0.1:%%d/_fake/tokens" %% port, method="POST",
                             data=json.dumps({"user": "fake-exec-user"}).encode(),
                             headers={"Content-Type": "application/json"})
tok = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": tok["token"], "expirationTimestamp": tok["expirationTimestamp"]}}))
'''


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(state, port, pki, server_ca, admin_token, viewer_token):
    server = "https://127.0.0.1:%d" % port
    tokfile = os.path.join(state, "admin.token")
    with open(tokfile, "w") as f:
        f.write(admin_token + "\n")
    plugin = os.path.join(state, "exec-credential.py")
    with open(plugin, "w") as f:
        f.write(EXEC_PLUGIN % {"state": state, "ca": server_ca})
    os.chmod(plugin, 0o755)
    y = []
    y.append("apiVersion: v1\nkind: Config\npreferences: {}\ncurrent-context: fake\nclusters:\n")
    y.append("- name: fake\n  cluster:\n    server: %s\n    certificate-authority: %s\n" % (server, server_ca))
    y.append("- name: fake-data\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"
             % (server, _b64file(server_ca)))
    y.append("- name: fake-tls-name\n  cluster:\n    server: https://localhost:%d\n"
             "    certificate-authority: %s\n    tls-server-name: kubernetes.default.svc\n" % (port, server_ca))
    y.append("- name: fake-insecure\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\n" % server)
    y.append("- name: fake-wrong-ca\n  cluster:\n    server: %s\n    certificate-authority: %s\n"
             % (server, pki["wrong-ca.crt"]))
    y.append("users:\n")
    y.append("- name: cert\n  user:\n    client-certificate: %s\n    client-key: %s\n"
             % (pki["admin.crt"], pki["admin.key"]))
    y.append("- name: cert-data\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n"
             % (_b64file(pki["admin.crt"]), _b64file(pki["admin.key"])))
    y.append("- name: token\n  user:\n    token: %s\n" % admin_token)
    y.append("- name: token-file\n  user:\n    tokenFile: %s\n" % tokfile)
    y.append("- name: viewer\n  user:\n    token: %s\n" % viewer_token)
    y.append("- name: exec\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
             "      command: %s\n      args:\n      - get-token\n      env:\n      - name: FAKE_EXEC\n"
             "        value: \"1\"\n      interactiveMode: Never\n      provideClusterInfo: true\n" % plugin)
    y.append("contexts:\n")
    ctxs = [("fake", "fake", "cert", "default"), ("fake-cert-data", "fake-data", "cert-data", None),
            ("fake-token", "fake", "token", None), ("fake-token-file", "fake", "token-file", None),
            ("fake-exec", "fake", "exec", None), ("fake-viewer", "fake", "viewer", None),
            ("fake-tls-name", "fake-tls-name", "cert", None), ("fake-insecure", "fake-insecure", "token", None),
            ("fake-wrong-ca", "fake-wrong-ca", "cert", None)]
    for name, cluster, user, ns in ctxs:
        y.append("- name: %s\n  context:\n    cluster: %s\n    user: %s\n" % (name, cluster, user))
        if ns:
            y.append("    namespace: %s\n" % ns)
    path = os.path.join(state, "kubeconfig")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(y))
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------
# HTTP.

def discovery_resources(cluster, group, version):
    out = []
    for r in RESOURCES.values():
        if r.group != group or r.version != version:
            continue
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        out.append({"name": r.name, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": verbs, "shortNames": r.short_names} if r.short_names else
                   {"name": r.name, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": verbs})
        for sub in SUBRESOURCES.get(r.name, []):
            if sub == "ephemeralcontainers" and not cluster.ephemeral_enabled:
                continue
            kind = {"portforward": "PodPortForwardOptions", "log": "Pod"}.get(sub, r.kind)
            v = {"portforward": ["create", "get"], "log": ["get"]}.get(sub, ["get", "patch", "update"])
            out.append({"name": "%s/%s" % (r.name, sub), "singularName": "", "namespaced": r.namespaced,
                        "kind": kind, "verbs": v})
    return out


def strip_list_item(o):
    o = dict(o)
    o.pop("apiVersion", None)
    o.pop("kind", None)
    return o


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"
    sys_version = ""

    @property
    def cluster(self):
        return self.server.cluster

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fakeapi: %s %s\n" % (self.address_string(), fmt % args))

    # ---- plumbing ----

    def send_json(self, code, obj, extra_headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self._status = code

    def send_error_status(self, err):
        self.send_json(err.code, err.status())

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        return self.rfile.read(n) if n else b""

    def authenticate(self):
        """Client certificate (verified against the client CA during the
        handshake; CN = user, O = groups) or bearer token; anything else 401
        (anonymous auth disabled, --anonymous-auth=false,
        https://kubernetes.io/docs/reference/access-authn-authz/authentication/)."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            with self.cluster.lock:
                t = self.cluster.tokens.get(tok)
            if t is None or (t["expires"] is not None and time.time() >= t["expires"]):
                return None
            return t["user"]
        try:
            cert = self.connection.getpeercert()
        except (ValueError, AttributeError):
            cert = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        return None

    def authorize(self, user, verb, r, sub, ns, name):
        """RBAC-shaped refusal for the read-only users
        (plugin/pkg/auth/authorizer/rbac; message from
        staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go
        forbiddenMessage)."""
        if user not in self.cluster.readonly_users or verb in ("get", "list", "watch"):
            return
        res = r.name + ("/" + sub if sub else "")
        where = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
        why = 'User "%s" cannot %s resource "%s" in API group "%s" %s' % (user, verb, res, r.group, where)
        # The prefix names the resource without its subresource
        # (responsewriters.Forbidden builds the GroupResource from
        # attributes.GetResource()).
        raise forbidden(r.name, r.group, name, why)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        self._status = 0
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        self.q = {k: v[-1] for k, v in q.items()}
        self.qall = q
        entry = {"time": time.time(), "method": method, "path": url.path, "query": self.q,
                 "contentType": self.headers.get("Content-Type"), "user": None}
        body = b""
        try:
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                body = self.read_body()
            if body:
                try:
                    entry["body"] = json.loads(body)
                except ValueError:
                    entry["body"] = body.decode("utf-8", "replace")
            if url.path.startswith("/_fake/"):
                self.fake_endpoint(method, url.path, body)
                return
            user = self.authenticate()
            entry["user"] = user
            # Logged when it starts, so a long watch or port-forward shows up
            # while it runs; status is filled in when it ends.
            self.cluster.record(entry)
            if user is None:
                raise unauthorized()
            self.user = user
            self.route(method, url.path, body)
        except ApiError as e:
            self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            self.server.log("internal error: " + traceback.format_exc())
            try:
                self.send_json(500, ApiError(500, "InternalError", "Internal error occurred: fake server bug").status())
            except OSError:
                pass
        finally:
            entry["status"] = self._status

    # ---- routing ----

    def route(self, method, path, body):
        c = self.cluster
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        if path in ("/healthz", "/readyz", "/livez"):
            self._plain(200, b"ok")
            return
        if path == "/version":
            major, minor, patchv = (c.version.split(".") + ["0"])[:3]
            self.send_json(200, {"major": major, "minor": minor, "gitVersion": "v" + c.version,
                                 "gitCommit": "0" * 40, "gitTreeState": "clean",
                                 "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21.5",
                                 "compiler": "gc", "platform": "linux/amd64"})
            return
        if path == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                 "serverAddress": "127.0.0.1:%d" % self.server.server_address[1]}]})
            return
        if path == "/apis":
            groups = []
            for g in ("apps", "rbac.authorization.k8s.io"):
                gv = {"groupVersion": "%s/v1" % g, "version": "v1"}
                groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
            self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            return
        if parts[:2] == ["api", "v1"]:
            group, rest = "", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis" and parts[1] in ("apps", "rbac.authorization.k8s.io") and parts[2] == "v1":
            group, rest = parts[1], parts[3:]
        else:
            raise not_found_generic()
        if not rest:
            if method != "GET":
                raise method_not_allowed()
            self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                 "groupVersion": "v1" if not group else group + "/v1",
                                 "resources": discovery_resources(c, group, "v1")})
            return
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        rname = rest[0]
        r = RESOURCES.get(rname)
        if r is None or r.group != group or (ns is not None and not r.namespaced):
            raise not_found_generic()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (sub and sub not in SUBRESOURCES.get(r.name, [])):
            raise not_found_generic()
        if sub == "ephemeralcontainers" and not c.ephemeral_enabled:
            raise not_found_generic()
        if r.namespaced and ns is None and name is not None:
            raise not_found_generic()
        if name is None:
            self.collection(method, r, ns, body)
        else:
            self.item(method, r, ns or "", name, sub, body)

    def _plain(self, code, data, ctype="text/plain; charset=utf-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._status = code

    def _json_body(self, body, what):
        try:
            return json.loads(body or b"null")
        except ValueError as e:
            raise bad_request("%s: couldn't get version/kind; json parse error: %s" % (what, e))

    def collection(self, method, r, ns, body):
        c = self.cluster
        if method == "GET":
            self.authorize(self.user, "watch" if self.q.get("watch") in ("true", "1") else "list", r, None, ns, "")
            lsel = sel.parse_labels(self.q.get("labelSelector", ""))
            fsel = sel.parse_fields(self.q.get("fieldSelector", ""), r.name)
            if self.q.get("watch") in ("true", "1"):
                self.watch(r, ns, lsel, fsel)
                return
            with c.store.cond:
                items = [o for o in c.store.list(r.name, ns)
                         if lsel(o["metadata"].get("labels")) and fsel(o)]
                rv = str(c.store.rv)
            self.send_json(200, {"kind": r.kind + "List", "apiVersion": r.api_version,
                                 "metadata": {"resourceVersion": rv},
                                 "items": [strip_list_item(o) for o in items]})
            return
        if method == "POST":
            if r.namespaced and ns is None:
                raise method_not_allowed()
            self.authorize(self.user, "create", r, None, ns, "")
            obj = self._json_body(body, "create")
            out = c.create(r, ns or "", obj, self.user)
            self.send_json(201, out)
            return
        raise method_not_allowed()

    def item(self, method, r, ns, name, sub, body):
        c = self.cluster
        if r.name == "pods" and sub == "portforward":
            self.authorize(self.user, "create", r, sub, ns, name)
            self.portforward(ns, name)
            return
        if r.name == "pods" and sub == "log":
            if method != "GET":
                raise method_not_allowed()
            pod = c.store.get("pods", ns, name)
            if pod is None:
                raise not_found("pods", "", name)
            names = [x["name"] for key in ("initContainers", "containers", "ephemeralContainers")
                     for x in pod["spec"].get(key) or []]
            cname = self.q.get("container")
            if not cname:
                if len(pod["spec"]["containers"]) != 1:
                    # pkg/registry/core/pod/strategy.go LogLocation
                    raise bad_request("a container name must be specified for pod %s, choose one of: [%s]"
                                      % (name, " ".join(x["name"] for x in pod["spec"]["containers"])))
                cname = pod["spec"]["containers"][0]["name"]
            elif cname not in names:
                raise bad_request("container %s is not valid for pod %s" % (cname, name))
            path = os.path.join(c.args.state_dir, "pods", "%s_%s" % (ns, name), cname + ".log")
            data = b""
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data = f.read()
            self._plain(200, data)
            return
        if method == "GET":
            self.authorize(self.user, "get", r, sub, ns, name)
            o = c.store.get(r.name, ns, name)
            if o is None:
                raise not_found(r.name, r.group, name)
            self.send_json(200, o)
            return
        if method == "DELETE":
            self.authorize(self.user, "delete", r, sub, ns, name)
            if sub:
                raise method_not_allowed()
            opts = dict(self._json_body(body, "delete") or {}) if body else {}
            for k in ("propagationPolicy", "gracePeriodSeconds"):
                if k in self.q:
                    opts[k] = int(self.q[k]) if k == "gracePeriodSeconds" else self.q[k]
            out = c.delete(r, ns, name, opts)
            self.send_json(200, out)
            return
        if method in ("PATCH", "PUT"):
            verb = "patch" if method == "PATCH" else "update"
            if method == "PATCH":
                # The patch handler checks the media type before anything else
                # (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go).
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype not in PATCH_TYPES:
                    raise unsupported_media_type(PATCH_TYPES)
            self.authorize(self.user, verb, r, sub, ns, name)
            cur = c.store.get(r.name, ns, name)
            if cur is None:
                raise not_found(r.name, r.group, name)
            doc = self._json_body(body, verb)
            if method == "PATCH":
                if ctype == "application/json-patch+json":
                    new = patchmod.json_patch(cur, doc)
                elif ctype == "application/merge-patch+json":
                    new = patchmod.merge_patch(cur, doc)
                else:
                    new = patchmod.strategic_merge(cur, doc)
            else:
                if not isinstance(doc, dict):
                    raise bad_request("the body of the request was not a JSON object")
                rv = (doc.get("metadata") or {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    raise conflict(r.name, r.group, name, "the object has been modified; please apply "
                                   "your changes to the latest version and try again")
                new = doc
            if r.name == "pods" and sub == "ephemeralcontainers":
                out = c.update_ephemeral(ns, name, new, self.user)
                self.send_json(200, out)
                return
            out = self.generic_update(r, ns, name, cur, new, sub)
            self.send_json(200, out)
            return
        raise method_not_allowed()

    def generic_update(self, r, ns, name, cur, new, sub):
        c = self.cluster
        if not isinstance(new, dict):
            raise bad_request("the body of the request was not a JSON object")
        nm = new.get("metadata") or {}
        if nm.get("name", name) != name:
            raise bad_request('the name of the object (%s) does not match the name on the URL (%s)'
                              % (nm.get("name"), name))
        errs = label_errors(nm.get("labels"))
        if errs:
            raise invalid(r.kind, r.group, name, errs)
        if r.name == "pods" and sub is None:
            # Pod updates may change only a few spec fields
            # (ValidatePodUpdate); keep spec, take metadata labels/annotations.
            if (new.get("spec") or {}).get("containers") != cur["spec"].get("containers"):
                raise invalid("Pod", "", name, [FieldError(
                    "FieldValueForbidden", "spec", None,
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                    "`spec.tolerations` (only additions to existing tolerations),"
                    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")])

        def upd(o):
            m = o["metadata"]
            if sub == "status":
                o["status"] = new.get("status", o.get("status"))
                return
            for k in ("labels", "annotations", "finalizers", "ownerReferences"):
                if k in nm:
                    m[k] = nm[k]
                else:
                    m.pop(k, None)
            if r.name == "namespaces":
                m.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
                return
            for k, v in new.items():
                if k not in ("metadata", "status", "kind", "apiVersion"):
                    if r.name == "pods" and k == "spec":
                        continue
                    if o.get(k) != v and k == "spec" and r.name == "deployments":
                        m["generation"] = m.get("generation", 1) + 1
                    o[k] = v
        out = c.store.modify(r.name, ns, name, upd)
        if out is None:
            raise not_found(r.name, r.group, name)
        return out

    # ---- watch ----

    def _client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            self.connection.settimeout(0.05)
            try:
                data = self.connection.recv(1)
            finally:
                self.connection.settimeout(None)
            return not data
        except ssl.SSLWantReadError:
            return False
        except (socket.timeout, BlockingIOError):
            return False
        except (OSError, ValueError):
            return True

    def watch(self, r, ns, lsel, fsel):
        """One JSON object per line: {"type":..., "object":...}; no
        resourceVersion (or "0") starts with synthetic ADDED events for what
        exists; a given resourceVersion replays what happened after it
        (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
        and #semantics-for-watch). Objects moving out of the selector are
        sent as DELETED, into it as ADDED, as the watch cache does."""
        c = self.cluster
        store = c.store
        timeout = float(self.q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        start_rv = self.q.get("resourceVersion", "")
        bookmarks = self.q.get("allowWatchBookmarks") in ("true", "1")
        expired = False
        with store.cond:
            if start_rv in ("", "0"):
                initial = [o for o in store.list(r.name, ns) if lsel(o["metadata"].get("labels")) and fsel(o)]
                last_rv = store.rv
            else:
                try:
                    last_rv = int(start_rv)
                except ValueError:
                    raise bad_request('invalid resource version: "%s"' % start_rv)
                initial = []
                expired = last_rv < store.compacted_rv
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._status = 200
        self.close_connection = True

        def emit(etype, obj):
            line = json.dumps({"type": etype, "object": obj}).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        def matches(o):
            return o is not None and lsel(o["metadata"].get("labels")) and fsel(o)
        try:
            def too_old(rv):
                # The watch cache answers with an ERROR event carrying 410
                # Expired (staging/src/k8s.io/apiserver/pkg/storage/cacher/
                # watch_cache.go: "too old resource version: %d (%d)").
                emit("ERROR", ApiError(410, "Expired", "too old resource version: %s (%d)"
                                       % (rv, store.compacted_rv)).status())
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            if expired:
                too_old(start_rv)
                return
            for o in initial:
                emit("ADDED", o)
            last_bookmark = time.monotonic()
            while time.monotonic() < deadline and not c.stop_event.is_set():
                with store.cond:
                    if store.rv <= last_rv:
                        store.cond.wait(timeout=0.5)
                    if last_rv < store.compacted_rv:
                        # Fell behind a compaction: the stream ends with 410.
                        too_old(last_rv)
                        return
                    i = bisect.bisect_right(store.events, last_rv, key=lambda e: e[0])
                    batch = store.events[i:]
                    if batch:
                        last_rv = batch[-1][0]
                for rv, res, ens, etype, obj, old in batch:
                    if res != r.name or (ns is not None and ens != ns):
                        continue
                    now_m, old_m = matches(obj), matches(old)
                    if etype == "MODIFIED":
                        if now_m and not old_m:
                            etype = "ADDED"
                        elif old_m and not now_m:
                            etype = "DELETED"
                        elif not now_m:
                            continue
                    elif not now_m:
                        continue
                    emit(etype, obj)
                if bookmarks and time.monotonic() - last_bookmark > 5:
                    emit("BOOKMARK", {"kind": r.kind, "apiVersion": r.api_version,
                                      "metadata": {"resourceVersion": str(store.rv)}})
                    last_bookmark = time.monotonic()
                if not batch and self._client_gone():
                    return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return

    # ---- port-forward ----

    def portforward(self, ns, name):
        c = self.cluster
        pod = c.store.get("pods", ns, name)
        if pod is None:
            raise not_found("pods", "", name)
        if self.headers.get("Upgrade", "").lower() != "websocket":
            # Only the WebSocket transport is served here (no SPDY).
            raise bad_request("Upgrade request required")
        ports = []
        for v in self.qall.get("ports", []):
            if not v:
                raise bad_request('query parameter "port" cannot be empty')
            for p in v.split(","):
                try:
                    port = int(p)
                    if not 1 <= port <= 65535:
                        raise ValueError
                except ValueError:
                    raise bad_request('unable to parse "%s" as a port: invalid syntax' % v)
                ports.append(port)
        if not ports:
            # NewV4Options: 'query parameter "port" is required'
            raise bad_request('query parameter "port" is required')
        if pod["status"].get("phase") != "Running":
            raise bad_request("pod %s is not running and cannot be port-forwarded" % name)
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        proto = next((p for p in offered if p in wsproto.PROTOCOLS), None)
        if offered and proto is None:
            raise bad_request("unable to upgrade: requested protocol(s) are not supported: %s" % ", ".join(offered))
        key = self.headers.get("Sec-WebSocket-Key")
        if not key:
            raise bad_request("websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing or blank")
        with c.lock:
            pr = c.pods.get((ns, name))
        socks = []
        for port in ports:
            try:
                netns = c.node.netns_of((ns, name)) if pr else None
                # containerd dials localhost:<port> inside the pod's netns.
                s = runtime.connect_in_netns(netns, "127.0.0.1", port, timeout=5.0)
                s.settimeout(None)
                socks.append((port, s))
            except OSError as e:
                socks.append((port, "error forwarding port %d to pod %s, uid %s: failed to connect to "
                              "localhost:%d inside namespace \"%s\": %s" % (
                                  port, name, pod["metadata"]["uid"], port, pr.netns if pr else "", e)))
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", wsproto.accept_key(key))
        if proto:
            self.send_header("Sec-WebSocket-Protocol", proto)
        self.end_headers()
        self.wfile.flush()
        self._status = 101
        self.close_connection = True
        ws = wsproto.WebSocket(self.connection, self.rfile)
        conn = wsproto.ChannelConn(ws, proto == "v4.base64.channel.k8s.io")
        wsproto.pump_portforward(conn, socks, self.server.log)

    # ---- test controls ----

    def fake_endpoint(self, method, path, body):
        c = self.cluster
        if path == "/_fake/objects" and method == "GET":
            lsel = sel.parse_labels(self.q.get("labelSelector", ""))
            items = []
            with c.store.cond:
                for (res, ns, name), o in sorted(c.store.objects.items()):
                    if lsel(o["metadata"].get("labels")):
                        items.append({"resource": res, "kind": o.get("kind"), "namespace": ns, "name": name,
                                      "labels": o["metadata"].get("labels") or {},
                                      "phase": (o.get("status") or {}).get("phase")})
            self.send_json(200, {"items": items})
        elif path == "/_fake/requests" and method == "GET":
            with c.lock:
                items = json.loads(json.dumps(c.requests))
            self.send_json(200, {"items": items})
        elif path == "/_fake/requests" and method == "DELETE":
            with c.lock:
                c.requests.clear()
            self.send_json(200, {})
        elif path == "/_fake/compact" and method == "POST":
            c.store.compact()
            self.send_json(200, {"compacted": c.store.compacted_rv})
        elif path == "/_fake/processes" and method == "GET":
            out = []
            with c.lock:
                prs = list(c.pods.values())
            for pr in prs:
                for ct in pr.containers + pr.ephemeral:
                    out.append({"namespace": pr.key[0], "pod": pr.key[1], "container": ct.name,
                                "ephemeral": ct.ephemeral, "netns": pr.netns, "ip": pr.ip, "argv": ct.argv,
                                "env": ct.env, "pid": ct.proc.pid if ct.proc else None,
                                "returncode": ct.proc.poll() if ct.proc else None, "state": ct.state,
                                "log": os.path.join(pr.dir, ct.name + ".log") if pr.dir else None})
            self.send_json(200, {"items": out})
        elif path == "/_fake/config" and method == "POST":
            cfg = json.loads(body or b"{}")
            if "ephemeral_containers" in cfg:
                c.ephemeral_enabled = bool(cfg["ephemeral_containers"])
            if "version" in cfg:
                c.version = cfg["version"]
            if "ns_terminate_seconds" in cfg:
                c.ns_terminate_seconds = float(cfg["ns_terminate_seconds"])
            if "exec_token_ttl" in cfg:
                c.exec_token_ttl = float(cfg["exec_token_ttl"])
            if "readonly_users" in cfg:
                c.readonly_users = set(cfg["readonly_users"])
            self.send_json(200, {"ephemeral_containers": c.ephemeral_enabled, "version": c.version,
                                 "ns_terminate_seconds": c.ns_terminate_seconds,
                                 "exec_token_ttl": c.exec_token_ttl})
        elif path == "/_fake/tokens" and method == "POST":
            req = json.loads(body or b"{}")
            ttl = req.get("ttl", c.exec_token_ttl)
            tok, exp = c.issue_token(req.get("user", "fake-exec-user"), ttl)
            ts = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ") if exp else None
            self.send_json(200, {"token": tok, "expirationTimestamp": ts})
        elif path == "/_fake/expire-tokens" and method == "POST":
            req = json.loads(body or b"{}")
            with c.lock:
                for tok, t in c.tokens.items():
                    if not req.get("user") or t["user"] == req["user"]:
                        t["expires"] = time.time() - 1
            self.send_json(200, {})
        else:
            self.send_json(404, {"error": "no such test control"})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, cluster, ctx, verbose, log):
        self.cluster = cluster
        self.ctx = ctx
        self.verbose = verbose
        self.log = log
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, so a slow or failing
        # client never blocks accept().
        try:
            request.settimeout(10)
            tls = self.ctx.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            if self.verbose:
                self.log("TLS handshake from %s failed: %s" % (client_address[0], e))
            return
        try:
            Handler(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.verbose:
            self.log("connection error: " + traceback.format_exc())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0", help="ADDR:PORT (port 0 picks one)")
    ap.add_argument("--tls-cert", help="server certificate PEM (default: made in STATE/pki)")
    ap.add_argument("--tls-key")
    ap.add_argument("--server-ca", help="CA of --tls-cert, written into the kubeconfig")
    ap.add_argument("--client-ca", help="CA for client certificates (default: the made CA)")
    ap.add_argument("--version", default="1.29.0", help="reported by GET /version")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--ephemeral-containers", dest="ephemeral_containers", action="store_true", default=None)
    g.add_argument("--no-ephemeral-containers", dest="ephemeral_containers", action="store_false",
                   help="pods/ephemeralcontainers does not exist (404, empty details)")
    ap.add_argument("--ns-terminate-seconds", type=float, default=2.0,
                    help="how long a deleted namespace stays Terminating")
    ap.add_argument("--exec-token-ttl", type=float, default=600.0,
                    help="lifetime of tokens issued to the exec credential plugin")
    ap.add_argument("--readonly-user", action="append", help="user refused every write (403)")
    ap.add_argument("--netns-prefix", help="prefix of every netns made (default pk<pid>)")
    ap.add_argument("--no-netns", action="store_true", help="pods get addresses but no network namespaces")
    ap.add_argument("--podscope-hub-bin", dest="podscope_hub_bin")
    ap.add_argument("--podscope-agent-bin", dest="podscope_agent_bin")
    ap.add_argument("--podscope-snoop-bin", dest="podscope_snoop_bin")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="stop (and clean up) when the process that started the server dies")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.exit_with_parent:
        # prctl(PR_SET_PDEATHSIG, SIGTERM): a test killed by its harness
        # still gets its namespaces and processes removed.
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
        if os.getppid() == 1:
            sys.exit("fakeapi: parent already gone")

    state = os.path.abspath(args.state_dir)
    args.state_dir = state
    os.makedirs(state, exist_ok=True)
    logf = open(os.path.join(state, "server.log"), "a", buffering=1)
    loglock = threading.Lock()

    def log(msg):
        with loglock:
            line = "%s fakeapi: %s\n" % (time.strftime("%H:%M:%S"), msg)
            logf.write(line)
            if args.verbose:
                sys.stderr.write(line)

    pki = make_pki(os.path.join(state, "pki"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.tls_cert or pki["apiserver.crt"], args.tls_key or pki["apiserver.key"])
    # VerifyClientCertIfGiven: a certificate is optional, but one that does
    # not chain to the client CA fails the handshake.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(args.client_ca or pki["ca.crt"])
    ctx.set_alpn_protocols(["http/1.1"])

    cluster = Cluster(args, log)
    cluster.readonly_users.add("fake-viewer")
    admin_token, _ = cluster.issue_token("fake-admin", None)
    viewer_token, _ = cluster.issue_token("fake-viewer", None, groups=[])

    host, port = args.listen.rsplit(":", 1)
    srv = Server((host, int(port)), cluster, ctx, args.verbose, log)
    port = srv.server_address[1]

    done = threading.Event()

    def stop(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    server_ca = args.server_ca or pki["ca.crt"]
    kubeconfig = write_kubeconfig(state, port, pki, server_ca, admin_token, viewer_token)
    ready = {"port": port, "pid": os.getpid(), "server": "https://127.0.0.1:%d" % port,
             "kubeconfig": kubeconfig, "ca": server_ca, "admin_cert": pki["admin.crt"],
             "admin_key": pki["admin.key"], "admin_token": admin_token, "viewer_token": viewer_token,
             "netns_prefix": cluster.prefix, "node_netns": None if args.no_netns else cluster.node.node_ns}
    tmp = os.path.join(state, "ready.json.tmp")
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.replace(tmp, os.path.join(state, "ready.json"))
    log("listening on https://127.0.0.1:%d (netns prefix %s)" % (port, cluster.prefix))

    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    try:
        while not done.wait(0.5):
            pass
    finally:
        log("shutting down")
        srv.shutdown()
        cluster.shutdown()
        log("stopped")


if __name__ == "__main__":
    main()
