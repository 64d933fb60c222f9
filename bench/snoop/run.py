#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podscope-snoop benchmark (root, real eBPF): the "## snoop" section of bench/RESULTS.md.

    bench/snoop/run.py BUILD_DIR [--snoop BIN] [--baseline BIN] [--reps N]
                       [--build | --build-only] [--no-results]

Measures, in a cgroup "container" of a test pod cgroup, with snoop in a
sibling cgroup as it runs in Kubernetes:
  * the added latency of one openat (1 M opens of one path) traced vs
    untraced, and with empty programs attached where snoop attaches its own
    (the floor: what the kernel charges for the attachment alone);
  * what an untraced syscall (getppid) costs more while snoop runs: every
    process of the machine pays that;
  * repeated opens absorbed by the in-kernel dedup;
  * new-path events/s drained without loss, and snoop's CPU per event;
  * snoop's RSS after 100 K unique files, and its CPU at 100 opens/s;
  * with --build, the wall time of a clean `meson compile` of this project
    traced vs untraced;
  * with --baseline, an earlier podscope-snoop measured the same way in the
    same repetitions, for a before/after comparison.
Untraced, floor and traced runs are interleaved, each repetition in that
order and one more untraced run at the end, and each traced run is compared
with the mean of the untraced runs on either side of it: the machine is
shared and drifts. The workload is pinned to one CPU. Medians are shown.

The section of bench/RESULTS.md is replaced in place at the end (read,
modify, write in one step): other sections are left as they are.
"""
import argparse
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(SOURCE_ROOT, "bench", "RESULTS.md")


def cgroup_root():
    for path in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            return path
    raise SystemExit("no cgroup v2 hierarchy")


class Pod:
    def __init__(self, name):
        self.root = cgroup_root()
        self.path = os.path.join(self.root, name)
        os.mkdir(self.path)
        for c in ("c1", "snoop"):
            os.mkdir(os.path.join(self.path, c))

    def enter(self, child):
        procs = os.path.join(self.path, child, "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write("0")
        return join

    def cleanup(self):
        for c in ("c1", "snoop", ""):
            p = os.path.join(self.path, c) if c else self.path
            try:
                with open(os.path.join(p, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        with open(os.path.join(self.root, "cgroup.procs"), "w") as out:
                            out.write(pid)
            except OSError:
                pass
        for c in ("c1", "snoop", ""):
            try:
                os.rmdir(os.path.join(self.path, c) if c else self.path)
            except OSError:
                pass


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


RUNNING = []  # snoops and floor loaders to stop whatever happens


class Snoop:
    def __init__(self, snoop_bin, pod, tmp, extra=()):
        ready = os.path.join(tmp, "ready-%d" % time.monotonic_ns())
        self.proc = subprocess.Popen(
            [snoop_bin, "--cgroup", pod.path, "--report", os.path.join(tmp, "report.json"),
             "--metrics", "127.0.0.1:0", "--ready-file", ready]
            + (list(extra) if "--interval" in extra else ["--interval", "3600"] + list(extra)),
            preexec_fn=pod.enter("snoop"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        RUNNING.append(self)
        for _ in range(400):
            if os.path.exists(ready) and os.path.getsize(ready):
                break
            if self.proc.poll() is not None:
                raise SystemExit("%s exited with %d before it was ready"
                                 % (snoop_bin, self.proc.returncode))
            time.sleep(0.05)
        with open(ready) as f:
            self.port = json.load(f)["metrics_port"]

    def metrics(self):
        return metrics(self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self in RUNNING:
            RUNNING.remove(self)


class Floor:
    """Empty programs on sys_exit (and sys_enter with @enter): the attachment alone."""

    def __init__(self, loader, obj, enter=False):
        self.proc = subprocess.Popen([loader, obj, "enter" if enter else "exit"],
                                     stdout=subprocess.PIPE, text=True)
        RUNNING.append(self)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("the floor programs did not load")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        if self in RUNNING:
            RUNNING.remove(self)


def run_json(cmd, pod, cpu=None):
    join = pod.enter("c1")

    def setup():
        join()
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    r = subprocess.run(cmd, preexec_fn=setup, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def fmt_load(load):
    return " ".join("%.2f" % x for x in load)


def update_results(section):
    """Replaces the "## snoop" section (or appends it), leaving every other one alone."""
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    pattern = re.compile(r"^## snoop\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda m: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(RESULTS, "w") as f:
        f.write(text)


def median(xs):
    return statistics.median(xs)


def new_path_rows(rows, label, snoop_bin, pod, tmp, bench):
    """New paths: every open is a ring buffer record. Three runs of 200 K."""
    rates, lost, cpu_per_event = [], [], []
    for i in range(3):
        s = Snoop(snoop_bin, pod, tmp)
        d = tempfile.mkdtemp(prefix="distinct", dir=tmp)
        m0 = s.metrics()
        res = run_json([bench, "distinct", d, "200000"], pod)
        time.sleep(1)
        m1 = s.metrics()
        s.stop()
        events = sum(v for k, v in m1.items() if k.startswith("snoop_events_total")) \
            - sum(v for k, v in m0.items() if k.startswith("snoop_events_total"))
        rates.append(res["per_second"])
        lost.append(m1["snoop_events_dropped_total"])
        cpu = m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
        cpu_per_event.append(cpu / max(events, 1))
    prefix = "baseline (%s): " % label if label else ""
    rows.append((prefix + "new-path events/s (200 K distinct opens, 3 runs)",
                 "%s /s, lost %s" % (", ".join("%.0f" % r for r in rates),
                                     ", ".join("%d" % x for x in lost)),
                 ">= 100 K/s, 0 lost" if not label else "(before)"))
    rows.append((prefix + "snoop CPU per new-path event (drain capacity)",
                 "%.2f µs, i.e. %.0f K events/s per core" % (
                     median(cpu_per_event) * 1e6, 1e-3 / median(cpu_per_event)),
                 ">= 100 K/s" if not label else "(before)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build_dir")
    ap.add_argument("--snoop", help="the podscope-snoop to measure (default: BUILD_DIR's)")
    ap.add_argument("--baseline", help="an earlier podscope-snoop to compare with")
    ap.add_argument("--baseline-label", help="what --baseline is, for the table")
    ap.add_argument("--reps", type=int, default=7, help="latency repetitions (default 7)")
    ap.add_argument("--opens", type=int, default=1000000, help="opens per latency run")
    ap.add_argument("--build", action="store_true", help="also time a clean meson compile")
    ap.add_argument("--build-only", action="store_true", help="only time the compile")
    ap.add_argument("--build-reps", type=int, default=2, help="compiles of each kind (default 2)")
    ap.add_argument("--no-results", action="store_true", help="do not edit RESULTS.md")
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/snoop loads eBPF programs and makes cgroups: run it as root")
    build = os.path.abspath(opts.build_dir)
    snoop_bin = os.path.abspath(opts.snoop or os.path.join(build, "snoop", "podscope-snoop"))
    if not os.access(snoop_bin, os.X_OK):
        raise SystemExit("%s is missing: build the tree first" % snoop_bin)
    baseline_label = opts.baseline_label or opts.baseline
    micro = not opts.build_only
    do_build = opts.build or opts.build_only
    load_start = os.getloadavg()
    started = time.time()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))

    tmp = tempfile.mkdtemp(prefix="pds-snoop-bench-")
    bench = os.path.join(tmp, "pds-snoop-bench")
    floor_loader = os.path.join(tmp, "pds-snoop-floor")
    floor_obj = os.path.join(tmp, "pds-snoop-floor.bpf.o")
    subprocess.run(["cc", "-O2", "-o", bench, os.path.join(HERE, "pds-snoop-bench.c")],
                   check=True)
    subprocess.run(["cc", "-O2", "-o", floor_loader, os.path.join(HERE, "pds-snoop-floor.c"),
                    "-lbpf"], check=True)
    subprocess.run(["clang", "-target", "bpf", "-D__TARGET_ARCH_x86", "-O2", "-g",
                    "-I", os.path.join(SOURCE_ROOT, "snoop"), "-c",
                    os.path.join(HERE, "pds-snoop-floor.bpf.c"), "-o", floor_obj], check=True)
    target = os.path.join(tmp, "target.txt")
    open(target, "w").close()
    pod = Pod("pds-snoop-bench-%d" % os.getpid())
    rows = []
    notes = []
    try:
        n = opts.opens
        if micro:
            # Per repetition: untraced, floor, traced (snoop attached), each a
            # latency run and a getppid run.
            modes = ("untraced", "floor", "traced") + (("baseline",) if opts.baseline else ())
            runs = {m: [] for m in modes}
            nops = {m: [] for m in modes}
            dedup = []
            # A closing untraced run: each traced run has one on either side.
            for rep in range(opts.reps + 1):
                for mode in modes if rep < opts.reps else ("untraced",):
                    s = f = None
                    if mode == "floor":
                        f = Floor(floor_loader, floor_obj)
                    elif mode in ("traced", "baseline"):
                        s = Snoop(snoop_bin if mode == "traced" else opts.baseline, pod, tmp)
                        before = s.metrics()
                    runs[mode].append(run_json([bench, "latency", target, str(n)], pod, cpu=0))
                    nops[mode].append(run_json([bench, "nop", "2000000"], pod,
                                               cpu=0)["mean_ns"])
                    if s and mode == "baseline":
                        s.stop()
                    elif s:
                        after = s.metrics()
                        dedup.append(after["snoop_events_deduplicated_total"]
                                     - before["snoop_events_deduplicated_total"])
                        s.stop()
                    if f:
                        f.stop()

            def neighbours(key, i):
                # The untraced runs just before and just after: linear drift cancels.
                near = runs["untraced"][i:i + 2]
                return sum(u[key] for u in near) / len(near)

            def pair(mode, key, op):
                return median([op(t[key], neighbours(key, i))
                               for i, t in enumerate(runs[mode][:opts.reps])])

            p50 = {m: median([r["p50_ns"] for r in runs[m]]) for m in runs}
            p99 = {m: median([r["p99_ns"] for r in runs[m]]) for m in runs}
            ratio = pair("traced", "p50_ns", lambda a, b: a / b)
            added99 = pair("traced", "p99_ns", lambda a, b: a - b)
            floor_ratio = pair("floor", "p50_ns", lambda a, b: a / b)
            floor_added = pair("floor", "p50_ns", lambda a, b: a - b)
            floor99 = pair("floor", "p99_ns", lambda a, b: a - b)
            rows.append(("openat p50, repeated path (%d × %d opens)" % (opts.reps, n),
                         "%d ns -> %d ns, x%.2f (per-rep ratios %s)" % (
                             p50["untraced"], p50["traced"], ratio,
                             ", ".join("%.2f" % (t["p50_ns"] / neighbours("p50_ns", i))
                                       for i, t in enumerate(runs["traced"]))),
                         "ratio <= 1.25"))
            rows.append(("openat p99, repeated path",
                         "%d ns -> %d ns, +%d ns" % (p99["untraced"], p99["traced"], added99),
                         "+<= 1000 ns"))
            rows.append(("floor: empty tp_btf program on sys_exit, no work",
                         "p50 x%.2f (+%d ns), p99 +%d ns" % (floor_ratio, floor_added, floor99),
                         "(what attaching costs)"))
            if opts.baseline:
                rows.append(("baseline (%s): openat p50, p99" % baseline_label,
                             "%d ns, x%.2f; %d ns, +%d ns" % (
                                 p50["baseline"], pair("baseline", "p50_ns", lambda a, b: a / b),
                                 p99["baseline"],
                                 pair("baseline", "p99_ns", lambda a, b: a - b)),
                             "(before)"))
            nop_u = median(nops["untraced"])
            rows.append(("untraced syscall (getppid) while attached",
                         "%.0f ns -> %.0f ns with snoop (+%.0f), %.0f ns with the floor (+%.0f)"
                         % (nop_u, median(nops["traced"]), median(nops["traced"]) - nop_u,
                            median(nops["floor"]), median(nops["floor"]) - nop_u)
                         + ("; baseline %.0f ns (+%.0f)" % (
                             median(nops["baseline"]), median(nops["baseline"]) - nop_u)
                            if opts.baseline else ""),
                         "(every process pays it)"))
            added = max(p50["traced"] - p50["untraced"], 1)
            rows.append(("repeated opens absorbed by the in-kernel dedup",
                         "%.0f dedup hits in a run of %d opens, no record emitted; %d ns added "
                         "per open at p50, i.e. %.2f M repeats/s per core" % (
                             median(dedup), n, added, 1e3 / added),
                         ">= 1 M/s"))

            # New paths: every open is a ring buffer record.
            for label, binary in ((None, snoop_bin),) + (
                    (("baseline", opts.baseline),) if opts.baseline else ()):
                new_path_rows(rows, label and baseline_label, binary, pod, tmp, bench)

            # Reports written every second: the RSS includes what a write costs.
            s = Snoop(snoop_bin, pod, tmp, ["--interval", "1"])
            d = os.path.join(tmp, "rss")
            os.mkdir(d)
            run_json([bench, "distinct", d, "100000"], pod)
            time.sleep(2.5)
            m = s.metrics()
            s.stop()
            rows.append(("RSS at 100 K unique files",
                         "%.1f MB (%d files in the report)" % (
                             m["process_resident_memory_bytes"] / 1e6, m["snoop_unique_files"]),
                         "<= 50 MB"))

            s = Snoop(snoop_bin, pod, tmp)
            d = os.path.join(tmp, "paced")
            os.mkdir(d)
            secs = 20
            m0 = s.metrics()
            subprocess.run([bench, "paced", d, "100", str(secs)], preexec_fn=pod.enter("c1"),
                           check=True)
            m1 = s.metrics()
            s.stop()
            cpu = (m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) / secs
            rows.append(("CPU at 100 new-path opens/s (%d s)" % secs,
                         "%.3f %% of a core" % (cpu * 100), "< 1 %"))

        if do_build:
            # A snapshot, so both builds compile the same sources.
            src = os.path.join(tmp, "src")
            shutil.copytree(SOURCE_ROOT, src, symlinks=True,
                            ignore=shutil.ignore_patterns("build*", ".git"))
            # A first build warms the page cache and is not counted; then
            # untraced and traced builds alternate (and the baseline's), with a
            # closing untraced one, and each traced build is compared with the
            # mean of the untraced builds on either side: the machine is shared.
            bmodes = ("untraced", "traced") + (("baseline",) if opts.baseline else ())
            times = {m: [] for m in bmodes}
            cpu = {m: [] for m in bmodes}
            snoop_cpu = []
            order = [("warm-up", None)]
            for rep in range(opts.build_reps):
                order += [(m, rep) for m in bmodes]
            order.append(("untraced", opts.build_reps))
            for mode, rep in order:
                bdir = os.path.join(tmp, "build-" + mode)
                subprocess.run(["meson", "setup", bdir, src], check=True,
                               stdout=subprocess.DEVNULL, preexec_fn=pod.enter("c1"))
                s = None
                if mode in ("traced", "baseline"):
                    s = Snoop(snoop_bin if mode == "traced" else opts.baseline, pod, tmp)
                    m0 = s.metrics()
                t0 = time.monotonic()
                ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                r = subprocess.run(["meson", "compile", "-C", bdir, "-j2"],
                                   capture_output=True, text=True, preexec_fn=pod.enter("c1"))
                ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if mode != "warm-up":
                    times[mode].append(time.monotonic() - t0)
                    # CPU of the build's own processes: less disturbed than wall time.
                    cpu[mode].append(ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime)
                if s and mode == "traced":
                    snoop_cpu.append(s.metrics()["process_cpu_seconds_total"]
                                     - m0["process_cpu_seconds_total"])
                if s:
                    s.stop()
                if r.returncode != 0:
                    raise SystemExit("meson compile (%s) failed:\n%s" % (mode, r.stdout[-3000:]))
                shutil.rmtree(bdir, ignore_errors=True)

            def build_ratio(series, mode):
                return median([t / (sum(series["untraced"][i:i + 2])
                                    / len(series["untraced"][i:i + 2]))
                               for i, t in enumerate(series[mode])])

            label = "clean `meson compile -j2` of this project (%d × each, interleaved)" % (
                opts.build_reps)
            rows.append((label, "%.1f s -> %.1f s (%+.1f %%); untraced %s, traced %s" % (
                median(times["untraced"]), median(times["traced"]),
                100 * (build_ratio(times, "traced") - 1),
                ", ".join("%.1f" % x for x in times["untraced"]),
                ", ".join("%.1f" % x for x in times["traced"])), "<= +3 %"))
            rows.append(("CPU seconds of that build's processes",
                         "%.1f s -> %.1f s (%+.1f %%); snoop itself %.2f s per build" % (
                             median(cpu["untraced"]), median(cpu["traced"]),
                             100 * (build_ratio(cpu, "traced") - 1), median(snoop_cpu)),
                         "(wall time target above)"))
            if opts.baseline:
                rows.append(("baseline (%s): that build" % baseline_label,
                             "%.1f s (%+.1f %%), CPU %+.1f %%; runs %s" % (
                                 median(times["baseline"]),
                                 100 * (build_ratio(times, "baseline") - 1),
                                 100 * (build_ratio(cpu, "baseline") - 1),
                                 ", ".join("%.1f" % x for x in times["baseline"])),
                             "(before)"))
    finally:
        for proc in list(RUNNING):
            proc.stop()
        pod.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    load_end = os.getloadavg()
    if max(load_start[0], load_end[0]) > 1.0:
        notes.append("The load average was above 1 on this 2-CPU machine during the run: "
                     "other work shared the CPUs, so single numbers are noisy; the "
                     "interleaved per-repetition ratios are the ones to compare.")
    table = ["| measurement | result | target |", "|---|---|---|"]
    table += ["| %s | %s | %s |" % r for r in rows]
    cmd = shlex.join(["bench/snoop/run.py"] + sys.argv[1:])
    section = "\n".join([
        "## snoop",
        "",
        "Produced by `bench/snoop/run.py` on %s (%d CPUs, kernel %s); %.0f s." % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), os.cpu_count(),
            os.uname().release, time.time() - started),
        "",
        "System load average (1, 5, 15 min) at the start: %s; at the end: %s. %s" % (
            fmt_load(load_start), fmt_load(load_end), " ".join(notes)),
        "",
        "Command:",
        "",
        "    sudo " + cmd,
        "",
        "Workload in a cgroup of a test pod cgroup, snoop in a sibling cgroup. *untraced*: "
        "no program attached; *floor*: an empty `tp_btf/sys_exit` program "
        "(bench/snoop/pds-snoop-floor.bpf.c) and nothing else; *traced*: podscope-snoop.",
        "",
    ] + table) + "\n\n"
    print(section)
    if not opts.no_results:
        update_results(section)


if __name__ == "__main__":
    main()
