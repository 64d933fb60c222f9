# SPDX-License-Identifier: LGPL-2.1-or-later
"""The three PATCH bodies the API server accepts.

JSON merge patch: RFC 7386. JSON patch: RFC 6902 (add, remove, replace,
move, copy, test). Strategic merge patch: staging/src/k8s.io/apimachinery/pkg/
util/strategicpatch/patch.go, reduced to what the core types here need: maps
merge recursively, null deletes a key, and the lists whose Go field carries
patchStrategy=merge merge their items by patchMergeKey (containers,
ephemeralContainers, initContainers, volumes, env, volumeMounts by "name" or
"mountPath"; ports by "containerPort"); "$patch": "replace"/"delete"
directives are honoured on maps and list items.
"""

import copy

from status import bad_request

MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "volumes": "name", "env": "name", "volumeMounts": "mountPath", "ports": "containerPort",
              "imagePullSecrets": "name", "hostAliases": "ip", "tolerations": None,
              "finalizers": None}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in MERGE_KEYS and MERGE_KEYS[k]:
            out[k] = _merge_list(out.get(k) or [], v, MERGE_KEYS[k])
        elif isinstance(v, dict):
            merged = strategic_merge(out.get(k), v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(current, patch, key):
    out = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            if isinstance(item, dict) and item.get("$patch") == "replace":
                return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
            raise bad_request("map: %s does not contain declared merge key: %s" % (item, key))
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request("the server rejected our request due to an error in our request")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            cur = cur[int(p)]
        else:
            cur = cur[p]
    return cur


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for op in ops:
        try:
            kind = op["op"]
            parts = _pointer(op["path"])
            if kind in ("add", "replace", "test"):
                value = copy.deepcopy(op["value"])
            if kind in ("move", "copy"):
                src = _pointer(op["from"])
                value = copy.deepcopy(_walk(doc, src))
                if kind == "move":
                    parent = _walk(doc, src[:-1])
                    if isinstance(parent, list):
                        parent.pop(int(src[-1]))
                    else:
                        del parent[src[-1]]
                kind = "add"
            if kind == "test":
                if _walk(doc, parts) != value:
                    raise bad_request("the server rejected our request due to an error in our request")
                continue
            parent = _walk(doc, parts[:-1])
            last = parts[-1]
            if isinstance(parent, list):
                if kind == "add":
                    parent.insert(len(parent) if last == "-" else int(last), value)
                elif kind == "replace":
                    parent[int(last)] = value
                elif kind == "remove":
                    parent.pop(int(last))
            else:
                if kind in ("replace", "remove") and last not in parent:
                    raise bad_request("the server rejected our request due to an error in our request")
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = value
        except (KeyError, IndexError, ValueError, TypeError):
            raise bad_request("the server rejected our request due to an error in our request")
    return doc
