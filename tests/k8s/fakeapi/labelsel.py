# SPDX-License-Identifier: LGPL-2.1-or-later
"""Label and field selectors as the API server parses them.

Label grammar: staging/src/k8s.io/apimachinery/pkg/labels/selector.go
(=, ==, !=, in, notin, exists, !exists, gt/lt). Field selectors:
staging/src/k8s.io/apimachinery/pkg/fields/selector.go (=, ==, != joined by
commas) with the per-resource field labels of pkg/apis/core/v1/conversion.go
(AddFieldLabelConversionsForPod and friends).
"""

import re

from status import bad_request

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VAL = r"[A-Za-z0-9_.-]*"


def _split_top(s):
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip() != ""] if s.strip() else []


def parse_labels(text):
    """Returns a predicate over a labels dict; raises ApiError 400."""
    reqs = []
    for part in _split_top(text or ""):
        m = re.fullmatch(r"(%s)\s+(in|notin)\s+\(([^)]*)\)" % _KEY, part)
        if m:
            vals = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.fullmatch(r"(%s)\s*(==|=|!=|>|<)\s*(%s)" % (_KEY, _VAL), part)
        if m:
            op = {"==": "=", "=": "="}.get(m.group(2), m.group(2))
            if op in (">", "<") and not re.fullmatch(r"-?\d+", m.group(3)):
                raise bad_request("unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                                  "must be an integer")
            reqs.append((m.group(1), op, m.group(3)))
            continue
        m = re.fullmatch(r"(!?)\s*(%s)" % _KEY, part)
        if m:
            reqs.append((m.group(2), "!exists" if m.group(1) else "exists", None))
            continue
        raise bad_request("unable to parse requirement: found '%s', expected: identifier" % part)

    def match(labels):
        labels = labels or {}
        for key, op, val in reqs:
            have = key in labels
            v = labels.get(key)
            if op == "=" and v != val:
                return False
            if op == "!=" and have and v == val:
                return False
            if op == "in" and (not have or v not in val):
                return False
            if op == "notin" and have and v in val:
                return False
            if op == "exists" and not have:
                return False
            if op == "!exists" and have:
                return False
            if op in (">", "<"):
                try:
                    n = int(v)
                except (TypeError, ValueError):
                    return False
                if (op == ">" and not n > int(val)) or (op == "<" and not n < int(val)):
                    return False
        return True
    return match


def _get(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


FIELD_LABELS = {
    "pods": {"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
             "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
             "status.podIP", "status.nominatedNodeName"},
    "namespaces": {"metadata.name", "status.phase"},
    "secrets": {"metadata.name", "metadata.namespace", "type"},
}


def parse_fields(text, resource):
    allowed = FIELD_LABELS.get(resource, {"metadata.name", "metadata.namespace"})
    reqs = []
    for part in _split_top(text or ""):
        m = re.fullmatch(r"([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, part))
        if m.group(1) not in allowed:
            # "field label not supported: <label>" from the conversion funcs.
            raise bad_request("field label not supported: %s" % m.group(1))
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))

    def match(obj):
        for key, eq, val in reqs:
            if (_get(obj, key) == val) != eq:
                return False
        return True
    return match
