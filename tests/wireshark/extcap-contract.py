#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Contract test of podscope's extcap mode (TAP): every sentence type of the
Wireshark 4.0 extcap protocol, checked the way Wireshark parses them.

    extcap-contract.py PODSCOPE VERSION
"""
import os
import re
import subprocess
import sys
import tempfile

PODSCOPE = sys.argv[1]
VERSION = sys.argv[2]
INTERFACES = ["podscope", "podscope-local", "podscope-hub"]
# Wireshark's sentence grammar: a keyword, then {key=value} pairs, values without braces.
SENTENCE = re.compile(r"^(extcap|interface|dlt|arg|value|control)[\t ]+((?:\{[a-z]+=[^{}]*\})+)$")
PAIR = re.compile(r"\{([a-z]+)=([^{}]*)\}")
ARG_TYPES = {"integer", "unsigned", "long", "double", "string", "password", "boolean",
             "boolflag", "fileselect", "selector", "editselector", "radio", "multicheck",
             "timestamp"}
CHOICE_TYPES = {"selector", "editselector", "radio", "multicheck"}

n = 0
failed = False


def report(ok, name, detail=""):
    global n, failed
    n += 1
    if ok:
        print(f"ok {n} - {name}")
    else:
        failed = True
        print(f"not ok {n} - {name}")
        for line in str(detail).splitlines()[:20]:
            print(f"# {line}")


def run(*args, env=None):
    return subprocess.run([PODSCOPE, *args], capture_output=True, text=True, timeout=30,
                          env=env)


def parse(stdout):
    """[(keyword, {key: value})] or raises ValueError naming the bad line."""
    sentences = []
    for line in stdout.splitlines():
        m = SENTENCE.match(line)
        if not m:
            raise ValueError(f"not an extcap sentence: {line!r}")
        pairs = PAIR.findall(m.group(2))
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError(f"repeated key in: {line!r}")
        sentences.append((m.group(1), dict(pairs)))
    return sentences


# --extcap-interfaces
r = run("--extcap-interfaces", "--extcap-version=4.0.17")
try:
    s = parse(r.stdout)
    extcap = [d for k, d in s if k == "extcap"]
    ifaces = [d for k, d in s if k == "interface"]
    report(r.returncode == 0 and r.stderr == "" and len(s) == len(extcap) + len(ifaces),
           "--extcap-interfaces: only extcap and interface sentences, nothing on stderr",
           r.stdout + r.stderr)
    report(len(extcap) == 1 and extcap[0].get("version") == VERSION,
           f"extcap sentence carries version {VERSION}", r.stdout)
    report(sorted(d.get("value") for d in ifaces) == sorted(INTERFACES)
           and all(d.get("display") for d in ifaces),
           "interface sentences: podscope, podscope-local, podscope-hub, each with a display",
           r.stdout)
except ValueError as e:
    report(False, "--extcap-interfaces parses", e)

for iface in INTERFACES:
    # --extcap-dlts
    r = run("--extcap-dlts", "--extcap-interface", iface)
    try:
        s = parse(r.stdout)
        ok = (r.returncode == 0 and r.stderr == "" and len(s) == 1 and s[0][0] == "dlt"
              and s[0][1].get("number", "").isdigit() and s[0][1].get("name")
              and s[0][1].get("display"))
        report(ok, f"{iface}: --extcap-dlts gives one dlt with number, name and display",
               r.stdout + r.stderr)
    except ValueError as e:
        report(False, f"{iface}: --extcap-dlts parses", e)

    # --extcap-config
    r = run("--extcap-config", "--extcap-interface", iface)
    try:
        s = parse(r.stdout)
    except ValueError as e:
        report(False, f"{iface}: --extcap-config parses", e)
        continue
    args = [d for k, d in s if k == "arg"]
    values = [d for k, d in s if k == "value"]
    report(r.returncode == 0 and r.stderr == "" and len(args) + len(values) == len(s)
           and args, f"{iface}: --extcap-config gives arg and value sentences only",
           r.stdout + r.stderr)
    numbers = [int(a.get("number", "-1")) for a in args]
    report(numbers == list(range(len(args))), f"{iface}: args numbered 0..{len(args) - 1}",
           numbers)
    bad = [a for a in args if not (a.get("call", "").startswith("--") and a.get("display")
                                   and a.get("type") in ARG_TYPES and a.get("tooltip"))]
    report(not bad, f"{iface}: every arg has call, display, known type and tooltip", bad)
    no_default = [a["call"] for a in args if "default" not in a]
    report(not no_default, f"{iface}: every arg has a default", no_default)
    bad_bool = [a["call"] for a in args
                if a["type"] in ("boolflag", "boolean") and a["default"] not in ("true", "false")]
    report(not bad_bool, f"{iface}: boolean defaults are true or false", bad_bool)
    for a in args:
        if "validation" in a and a["default"] != "":
            report(re.search(a["validation"], a["default"]) is not None,
                   f"{iface}: default of {a['call']} passes its own validation", a)
    by_number = {a["number"]: a for a in args}
    bad_values = [v for v in values
                  if v.get("arg") not in by_number
                  or by_number[v["arg"]]["type"] not in CHOICE_TYPES
                  or "value" not in v or not v.get("display")]
    report(not bad_values, f"{iface}: value sentences name a choice arg, a value and a display",
           bad_values)
    # Wireshark passes each arg back on --capture: the extcap must accept every one.
    # With --extcap-capture-filter and no --capture, nothing is started.
    for a in args:
        opt = [a["call"]] if a["type"] == "boolflag" else [a["call"], a["default"] or "x"]
        r2 = run("--extcap-interface", iface, "--extcap-capture-filter", "", *opt)
        report(r2.returncode == 0 and r2.stdout == "" and r2.stderr == "",
               f"{iface}: option {a['call']} is accepted", r2.stdout + r2.stderr)

# --extcap-reload-option lists the namespaces of /run/netns again
r = run("--extcap-config", "--extcap-interface", "podscope-local", "--extcap-reload-option",
        "netns")
try:
    s = parse(r.stdout)
    names = sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []
    ok = (r.returncode == 0 and all(k == "value" and d.get("arg") == "0" for k, d in s)
          and [d["value"] for _, d in s] == ["*"] + names)
    report(ok, f"--extcap-reload-option netns lists * and /run/netns ({len(names)} names)",
           r.stdout + r.stderr)
except ValueError as e:
    report(False, "--extcap-reload-option parses", e)

# --extcap-capture-filter alone: nothing when valid, libpcap's message when not
r = run("--extcap-interface", "podscope-local", "--extcap-capture-filter", "tcp port 80")
report(r.returncode == 0 and r.stdout == "" and r.stderr == "",
       "valid capture filter: empty output", r.stdout + r.stderr)
r = run("--extcap-interface", "podscope-local", "--extcap-capture-filter", "tcp prot 80")
report(r.returncode == 0 and r.stdout.strip() != "" and "\n" not in r.stdout.strip()
       and r.stderr == "", f"invalid capture filter: one line of error ({r.stdout.strip()!r})",
       r.stdout + r.stderr)

# Unknown interface: an error on stderr, nothing on stdout
r = run("--extcap-dlts", "--extcap-interface", "nope")
report(r.returncode != 0 and r.stdout == "" and "nope" in r.stderr,
       "unknown interface fails with a message on stderr only", r.stdout + r.stderr)



def capture(*args):
    """--capture with a reader on the fifo, as dumpcap would be: (result, bytes read)."""
    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        reader = subprocess.Popen(["cat", fifo], stdout=subprocess.PIPE)
        try:
            r = run("--capture", "--fifo", fifo, *args)
        finally:
            data = reader.communicate(timeout=30)[0]
        return r, data


with tempfile.TemporaryDirectory() as tmp:
    # The Kubernetes interface without a cluster: says which kubeconfig it could not read.
    missing = os.path.join(tmp, "no-such-kubeconfig")
    r, data = capture("--extcap-interface", "podscope", "--kubeconfig", missing,
                      "--namespace", "default")
    report(r.returncode != 0 and r.stdout == "" and data == b""
           and "kubeconfig" in r.stderr and missing in r.stderr,
           "podscope --capture without a kubeconfig fails with a clear message and closes "
           "the fifo", r.stdout + r.stderr)
    # An invalid filter stops the capture before anything starts.
    r, data = capture("--extcap-interface", "podscope-local",
                      "--extcap-capture-filter", "tcp prot 80")
    report(r.returncode != 0 and r.stdout == "" and "invalid capture filter" in r.stderr,
           "--capture with an invalid filter fails before starting", r.stdout + r.stderr)
    # Diagnostics go to --log-file, never to stdout.
    log = os.path.join(tmp, "extcap.log")
    r = run("--extcap-interfaces", "--log-level", "debug", "--log-file", log)
    try:
        s = parse(r.stdout)
        with open(log) as f:
            text = f.read()
        report(r.returncode == 0 and len(s) == 4 and r.stderr == "" and "extcap call" in text,
               "--log-level debug --log-file: diagnostics in the file, stdout unchanged",
               r.stdout + r.stderr + text)
    except (ValueError, OSError) as e:
        report(False, "--log-file", e)
    r = run("--extcap-interfaces", "--log-level", "loud")
    report(r.returncode != 0 and r.stdout == "" and "loud" in r.stderr,
           "unknown --log-level is refused", r.stdout + r.stderr)

print(f"1..{n}")
sys.exit(1 if failed else 0)
