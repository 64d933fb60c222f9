# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pod Security Admission "enforce" decisions for pods and their updates.

Modelled on staging/src/k8s.io/pod-security-admission: policy/registry.go
(EvaluatePod: baseline checks, then for "baseline" the overlapping baseline
checks, for "restricted" the restricted checks, each in registration order,
i.e. by file name), policy/check_*.go (reasons and details below),
policy/helpers.go (pluralize, joinQuote) and admission/admission.go (the
denial: NewForbidden(pods, name, 'violates PodSecurity "<level>:<version>":
reason (detail), reason (detail)')). Namespace labels per
https://kubernetes.io/docs/concepts/security/pod-security-admission/
"""

LEVELS = ("privileged", "baseline", "restricted")


def _plural(single, plural, n):
    return single if n == 1 else plural


def _jq(items):
    return ", ".join('"%s"' % i for i in items)


def _containers(spec):
    # visitContainers: initContainers, containers, ephemeralContainers.
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            yield c


def _sc(c):
    return c.get("securityContext") or {}


def _caps(c):
    return _sc(c).get("capabilities")


# --- baseline (non-overlapping), registration order ----------------------

def check_host_namespaces(meta, spec):   # check_hostNamespaces.go
    bad = [f + "=true" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    if bad:
        return ("host namespaces", ", ".join(bad))
    return None


def check_host_path_volumes(meta, spec):  # check_hostPathVolumes.go
    bad = [v.get("name", "") for v in spec.get("volumes") or [] if "hostPath" in v]
    if bad:
        return ("hostPath volumes", "%s %s" % (_plural("volume", "volumes", len(bad)), _jq(bad)))
    return None


def check_host_ports(meta, spec):  # check_hostPorts.go
    names, ports = [], set()
    for c in _containers(spec):
        hp = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if hp:
            names.append(c.get("name", ""))
            ports.update(hp)
    if names:
        return ("hostPort", "%s %s %s %s %s" % (
            _plural("container", "containers", len(names)), _jq(names),
            _plural("uses", "use", len(names)), _plural("hostPort", "hostPorts", len(ports)),
            ", ".join(sorted(ports))))
    return None


def check_privileged(meta, spec):  # check_privileged.go
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if bad:
        return ("privileged", "%s %s must not set securityContext.privileged=true"
                % (_plural("container", "containers", len(bad)), _jq(bad)))
    return None


def check_seccomp_baseline(meta, spec):  # check_seccompProfile_baseline.go
    setters = []
    psc = spec.get("securityContext") or {}
    if (psc.get("seccompProfile") or {}).get("type") == "Unconfined":
        setters.append("pod")
    bad = [c.get("name", "") for c in _containers(spec)
           if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined"]
    if bad:
        setters.append("%s %s" % (_plural("container", "containers", len(bad)), _jq(bad)))
    if setters:
        return ("seccompProfile", '%s must not set securityContext.seccompProfile.type to "Unconfined"'
                % " and ".join(setters))
    return None


# --- overlapping baseline (replaced by capabilities_restricted) -------------

_BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                  "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}


def check_capabilities_baseline(meta, spec):  # check_capabilities_baseline.go
    # NET_RAW is NOT in this list: the Pod Security Standards drop it from the
    # container runtimes' default set, so an explicit add is refused.
    bad, caps = [], set()
    for c in _containers(spec):
        add = (_caps(c) or {}).get("add") or []
        extra = [a for a in add if a not in _BASELINE_CAPS]
        if extra:
            bad.append(c.get("name", ""))
            caps.update(extra)
    if bad:
        return ("non-default capabilities", "%s %s must not include %s in securityContext.capabilities.add"
                % (_plural("container", "containers", len(bad)), _jq(bad), _jq(sorted(caps))))
    return None


# --- restricted, registration order --------------------------------------

def check_allow_privilege_escalation(meta, spec):  # check_allowPrivilegeEscalation.go
    bad = [c.get("name", "") for c in _containers(spec)
           if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return ("allowPrivilegeEscalation != false",
                "%s %s must set securityContext.allowPrivilegeEscalation=false"
                % (_plural("container", "containers", len(bad)), _jq(bad)))
    return None


def check_capabilities_restricted(meta, spec):  # check_capabilities_restricted.go
    missing, adding, caps = [], [], set()
    for c in _containers(spec):
        cp = _caps(c)
        if cp is None:
            missing.append(c.get("name", ""))
            continue
        if "ALL" not in (cp.get("drop") or []):
            missing.append(c.get("name", ""))
        extra = [a for a in cp.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            caps.update(extra)
    details = []
    if missing:
        details.append('%s %s must set securityContext.capabilities.drop=["ALL"]'
                       % (_plural("container", "containers", len(missing)), _jq(missing)))
    if adding:
        details.append("%s %s must not include %s in securityContext.capabilities.add"
                       % (_plural("container", "containers", len(adding)), _jq(adding), _jq(sorted(caps))))
    if details:
        return ("unrestricted capabilities", "; ".join(details))
    return None


_RESTRICTED_VOLUME_OK = {"name", "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                         "persistentVolumeClaim", "projected", "secret"}


def check_restricted_volumes(meta, spec):  # check_restrictedVolumes.go
    bad, types = [], set()
    for v in spec.get("volumes") or []:
        other = [k for k in v if k not in _RESTRICTED_VOLUME_OK]
        if other:
            bad.append(v.get("name", ""))
            types.update(other)
    if bad:
        return ("restricted volume types", "%s %s %s restricted volume %s %s" % (
            _plural("volume", "volumes", len(bad)), _jq(bad), _plural("uses", "use", len(bad)),
            _plural("type", "types", len(types)), _jq(sorted(types))))
    return None


def check_run_as_non_root(meta, spec):  # check_runAsNonRoot.go
    setters = []
    psc = spec.get("securityContext") or {}
    pod_ok = False
    if "runAsNonRoot" in psc:
        if psc["runAsNonRoot"] is False:
            setters.append("pod")
        else:
            pod_ok = True
    explicit, implicit = [], []
    for c in _containers(spec):
        sc = _sc(c)
        if "runAsNonRoot" in sc:
            if sc["runAsNonRoot"] is False:
                explicit.append(c.get("name", ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append("%s %s" % (_plural("container", "containers", len(explicit)), _jq(explicit)))
    if setters:
        return ("runAsNonRoot != true", "%s must not set securityContext.runAsNonRoot=false"
                % " and ".join(setters))
    if implicit:
        return ("runAsNonRoot != true", "pod or %s %s must set securityContext.runAsNonRoot=true"
                % (_plural("container", "containers", len(implicit)), _jq(implicit)))
    return None


def check_run_as_user(meta, spec):  # check_runAsUser.go
    setters = []
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        setters.append("pod")
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        setters.append("%s %s" % (_plural("container", "containers", len(bad)), _jq(bad)))
    if setters:
        return ("runAsUser=0", "%s must not set runAsUser=0" % " and ".join(setters))
    return None


def _valid_seccomp(t):
    return t in ("RuntimeDefault", "Localhost")


def check_seccomp_restricted(meta, spec):  # check_seccompProfile_restricted.go
    setters, values = [], set()
    psc = spec.get("securityContext") or {}
    pod_set = False
    if psc.get("seccompProfile") is not None:
        t = psc["seccompProfile"].get("type", "")
        if not _valid_seccomp(t):
            setters.append("pod")
            values.add(t)
        else:
            pod_set = True
    explicit, implicit = [], []
    for c in _containers(spec):
        sp = _sc(c).get("seccompProfile")
        if sp is not None:
            if not _valid_seccomp(sp.get("type", "")):
                explicit.append(c.get("name", ""))
                values.add(sp.get("type", ""))
        elif not pod_set:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append("%s %s" % (_plural("container", "containers", len(explicit)), _jq(explicit)))
    if setters:
        return ("seccompProfile", "%s must not set securityContext.seccompProfile.type to %s"
                % (" and ".join(setters), _jq(sorted(values))))
    if implicit:
        return ("seccompProfile", 'pod or %s %s must set securityContext.seccompProfile.type to '
                '"RuntimeDefault" or "Localhost"'
                % (_plural("container", "containers", len(implicit)), _jq(implicit)))
    return None


BASELINE = [check_host_namespaces, check_host_path_volumes, check_host_ports, check_privileged,
            check_seccomp_baseline]
BASELINE_OVERLAP = [check_capabilities_baseline]
RESTRICTED = [check_allow_privilege_escalation, check_capabilities_restricted,
              check_restricted_volumes, check_run_as_non_root, check_run_as_user,
              check_seccomp_restricted]


def enforce_policy(ns_labels):
    """(level, version) from pod-security.kubernetes.io/enforce[-version];
    unlabelled namespaces are "privileged" (the default AdmissionConfiguration)."""
    labels = ns_labels or {}
    level = labels.get("pod-security.kubernetes.io/enforce", "privileged")
    if level not in LEVELS:
        level = "privileged"
    version = labels.get("pod-security.kubernetes.io/enforce-version", "latest") or "latest"
    return level, version


def evaluate(ns_labels, pod):
    """None when allowed, else the text after 'is forbidden: '."""
    level, version = enforce_policy(ns_labels)
    if level == "privileged":
        return None
    spec = pod.get("spec") or {}
    meta = pod.get("metadata") or {}
    checks = list(BASELINE) + (BASELINE_OVERLAP if level == "baseline" else RESTRICTED)
    found = [r for r in (chk(meta, spec) for chk in checks) if r]
    if not found:
        return None
    parts = ["%s (%s)" % (reason, detail) if detail else reason for reason, detail in found]
    return 'violates PodSecurity "%s:%s": %s' % (level, version, ", ".join(parts))
