#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""podscope-snoop integration tests: real eBPF probes, cgroup v2 "containers".

Two cgroups play the pod's containers and snoop runs in a third, all under a
pod cgroup made for the test. A workload in each container touches known
files through every traced syscall; each container's report must hold
exactly its own files. Then the fault cases: kill -9, the LRU bound, invalid
settings and an unwritable report directory. Output is TAP.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BUILD = os.environ.get("PDS_BUILD_ROOT", "")
SNOOP = os.path.join(BUILD, "snoop", "podscope-snoop")
WORKLOAD = os.path.join(BUILD, "tests", "snoop", "pds-snoop-workload")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, desc), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines()[:40]:
                    print("# " + line, flush=True)
        return cond

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def cgroup_root():
    for path in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(path, "cgroup.controllers")):
            return path
    return None


class Pod:
    """A pod cgroup with child cgroups, removed even when a test fails."""

    def __init__(self, root, name, children):
        self.root = root
        self.path = os.path.join(root, name)
        os.mkdir(self.path)
        self.children = {}
        for child in children:
            p = os.path.join(self.path, child)
            os.mkdir(p)
            self.children[child] = p

    def enter(self, child):
        procs = os.path.join(self.children[child], "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write("0")

        return join

    def cleanup(self):
        for p in list(self.children.values()) + [self.path]:
            if not os.path.isdir(p):
                continue
            # Move every process out (to the root), kill what stays, then rmdir.
            for _ in range(50):
                try:
                    with open(os.path.join(p, "cgroup.procs")) as f:
                        pids = [int(x) for x in f.read().split()]
                except OSError:
                    pids = []
                if not pids:
                    break
                for pid in pids:
                    try:
                        with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                            f.write(str(pid))
                    except OSError:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
                time.sleep(0.05)
        for p in list(self.children.values()) + [self.path]:
            for _ in range(50):
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def prepare_container_dir(base):
    """The files a workload touches, named after how they are reached."""
    os.makedirs(os.path.join(base, "sub"))
    for name in ("open.txt", "rel.txt", "openat2.txt", "stat.txt", "statx.txt",
                 "access.txt", "dotdot.txt", "target.txt", "compat.txt", "uring.txt"):
        open(os.path.join(base, name), "w").close()
    for name in ("dirfd.txt", "newfstatat.txt", "faccessat.txt", "faccessat2.txt",
                 "quick.txt"):
        open(os.path.join(base, "sub", name), "w").close()
    os.symlink("target.txt", os.path.join(base, "lstat-link"))
    os.symlink("target.txt", os.path.join(base, "readlink-link"))
    os.symlink("../target.txt", os.path.join(base, "sub", "readlinkat-link"))
    os.symlink("target.txt", os.path.join(base, "symlink"))
    long_dir = os.path.join(base, "long", "%0100d" % 1, "%0100d" % 2, "%0100d" % 3)
    os.makedirs(long_dir)
    open(os.path.join(long_dir, "long.txt"), "w").close()
    shutil.copy("/bin/true", os.path.join(base, "interp"))
    shutil.copy("/bin/true", os.path.join(base, "sub", "true-copy"))
    with open(os.path.join(base, "script.sh"), "w") as f:
        f.write("#!%s\n" % os.path.join(base, "interp"))
    os.chmod(os.path.join(base, "script.sh"), 0o755)
    long_rel = os.path.join("long", "%0100d" % 1, "%0100d" % 2, "%0100d" % 3, "long.txt")
    return {
        "open.txt": "open", "rel.txt": "openat", "sub": "openat",
        "sub/dirfd.txt": "openat", "openat2.txt": "openat2", "created.txt": "creat",
        "stat.txt": "stat", "lstat-link": "lstat", "sub/newfstatat.txt": "newfstatat",
        "statx.txt": "statx", "access.txt": "access", "sub/faccessat.txt": "faccessat",
        "sub/faccessat2.txt": "faccessat2", "readlink-link": "readlink",
        "sub/readlinkat-link": "readlinkat", "dotdot.txt": "openat", "symlink": "openat",
        "missing.txt": "openat", "compat.txt": "open", "uring.txt": "io_uring_openat",
        "uring-missing.txt": "io_uring_openat",
        long_rel: "openat", "script.sh": "execve", "interp": "exec_interp",
        "sub/true-copy": "execveat", "sub/quick.txt": "openat",
    }


def start_snoop(pod, workdir, extra=(), env=None):
    ready = os.path.join(workdir, "ready-%d" % time.monotonic_ns())
    cmd = [SNOOP, "--cgroup", pod.path, "--ready-file", ready, "--metrics", "127.0.0.1:0",
           "-v"] + list(extra)
    log = open(os.path.join(workdir, "snoop.log"), "a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=pod.enter("snoop"),
                            env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(ready) and os.path.getsize(ready) > 0:
            with open(ready) as f:
                return proc, json.load(f)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    return proc, None


def stop(proc, sig=signal.SIGTERM, timeout=20):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def load_report(path):
    with open(path) as f:
        return json.load(f)


def files_of(report, name):
    for c in report["containers"]:
        if c["name"] == name:
            return {f["path"]: f for f in c["files"]}
    return None


def test_containers(t, root, workdir, snoop_log):
    pod = Pod(root, "pds-snoop-it-%d" % os.getpid(), ["c1", "c2", "snoop"])
    try:
        report_dir = os.path.join(workdir, "report")
        os.mkdir(report_dir)
        report_path = os.path.join(report_dir, "report.json")
        dirs = {}
        expected = {}
        for c in ("c1", "c2"):
            dirs[c] = os.path.realpath(os.path.join(workdir, c))
            expected[c] = prepare_container_dir(dirs[c])
        proc, ready = start_snoop(pod, workdir, ["--report", report_path,
                                                 "--interval", "3600"])
        if not t.ok(ready is not None, "snoop attaches its probes and writes the ready file",
                    open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        for c in ("c1", "c2"):
            r = subprocess.run([WORKLOAD, "all", dirs[c]], preexec_fn=pod.enter(c),
                               capture_output=True, text=True)
            t.ok(r.returncode == 0, "workload in %s ran" % c, r.stderr)
        time.sleep(0.3)
        status, metrics = http_get(ready["metrics_port"], "/metrics")
        t.ok(status == 200 and 'snoop_events_total{syscall="openat"}' in metrics
             and metric(metrics, "snoop_probes_attached") == 1,
             "/metrics serves the counters", metrics)
        status, body = http_get(ready["metrics_port"], "/healthz")
        t.ok(status == 200, "/healthz is ok while probes are attached", body)

        rc = stop(proc)
        t.ok(rc == 0, "snoop exits 0 on SIGTERM", "rc=%s" % rc)
        report = load_report(report_path)
        t.ok(report["events_total"] > 0, "SIGTERM flushed a report with events")
        names = sorted(c["name"] for c in report["containers"])
        t.ok(names == ["c1", "c2"], "containers found: exactly c1 and c2, snoop's own left out",
             names)
        for c, other in (("c1", "c2"), ("c2", "c1")):
            files = files_of(report, c) or {}
            missing = []
            for rel, syscall in expected[c].items():
                path = os.path.join(dirs[c], rel)
                if path not in files or syscall not in files[path]["syscalls"]:
                    missing.append("%s (%s) -> %s" % (path, syscall,
                                                      files.get(path, {}).get("syscalls")))
            t.ok(not missing, "%s: every access kind is reported" % c, "\n".join(missing))
            own = {p for p in files if p.startswith(dirs[c] + "/")}
            want = {os.path.join(dirs[c], rel) for rel in expected[c]}
            t.ok(own == want, "%s: exactly its files below its directory" % c,
                 "extra: %s\nmissing: %s" % (sorted(own - want), sorted(want - own)))
            foreign = [p for p in files if p.startswith(dirs[other] + "/")]
            t.ok(not foreign, "%s: none of %s's files" % (c, other), foreign)
            excluded = [p for p in files if p.split("/")[1] in ("proc", "sys", "dev")]
            t.ok(not excluded, "%s: excluded prefixes absent" % c, excluded)
            own_snoop = [p for p in files if p.startswith(report_dir)]
            t.ok(not own_snoop, "%s: snoop's own accesses absent" % c, own_snoop)
            d = dirs[c]
            t.ok(files[d + "/symlink"].get("resolved_path") == d + "/target.txt",
                 "%s: symlink open carries the kernel-resolved path" % c, files[d + "/symlink"])
            t.ok(files[d + "/dotdot.txt"].get("raw_path") == "sub/../dotdot.txt",
                 "%s: '..' normalised, raw path kept" % c, files[d + "/dotdot.txt"])
            t.ok(files[d + "/missing.txt"]["result"] == "ENOENT",
                 "%s: missing file reported as ENOENT" % c, files[d + "/missing.txt"])
            t.ok(files[d + "/uring.txt"]["result"] == "ok"
                 and files[d + "/uring-missing.txt"]["result"] == "ENOENT",
                 "%s: io_uring opens reported with their result" % c,
                 (files[d + "/uring.txt"], files[d + "/uring-missing.txt"]))
            t.ok(files[d + "/compat.txt"].get("compat") is True,
                 "%s: int $0x80 open marked compat" % c, files[d + "/compat.txt"])
            t.ok(files[d + "/interp"].get("loaded_by_exec") is True,
                 "%s: #! interpreter reported as loaded by exec" % c, files[d + "/interp"])
            t.ok(any("exec_loader" in f["syscalls"] for f in files.values()),
                 "%s: ELF PT_INTERP loader reported" % c)
            t.ok(files[d + "/sub/quick.txt"].get("unresolved") is None,
                 "%s: exit right after chdir+open resolved in the kernel" % c,
                 files[d + "/sub/quick.txt"])
            long_paths = [p for p in files if "/long/" in p and p.startswith(d)]
            t.ok(len(long_paths) == 1 and len(long_paths[0]) > 256
                 and not files[long_paths[0]].get("truncated"),
                 "%s: path longer than 256 bytes kept whole" % c, long_paths)
    finally:
        pod.cleanup()


def test_kill9_and_lru(t, root, workdir, snoop_log):
    pod = Pod(root, "pds-snoop-lru-%d" % os.getpid(), ["c1", "snoop"])
    try:
        report_path = os.path.join(workdir, "lru.json")
        many_dir = os.path.join(workdir, "many")
        os.mkdir(many_dir)
        proc, ready = start_snoop(pod, workdir, ["--report", report_path, "--interval", "1",
                                                 "--lru-size", "1000"])
        if not t.ok(ready is not None, "snoop starts with --lru-size 1000",
                    open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        r = subprocess.run([WORKLOAD, "many", many_dir, "1000000"], preexec_fn=pod.enter("c1"),
                           capture_output=True, text=True)
        t.ok(r.returncode == 0, "1000000 distinct paths touched", r.stderr)
        status, metrics = "", ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, metrics = http_get(ready["metrics_port"], "/metrics")
            if (metric(metrics, "snoop_report_writes_total") or 0) >= 3:
                break
            time.sleep(0.2)
        rc = stop(proc, signal.SIGKILL)
        t.ok(rc == -signal.SIGKILL, "snoop killed with SIGKILL")
        try:
            report = load_report(report_path)
            valid = True
        except (OSError, ValueError) as e:
            report, valid = None, e
        t.ok(valid is True, "kill -9 leaves a complete, valid report", valid)
        if report is None:
            return
        files = files_of(report, "c1") or {}
        counts = [c["counts"] for c in report["containers"] if c["name"] == "c1"]
        t.ok(0 < len(files) <= 1000, "LRU bound respected: %d files kept" % len(files))
        t.ok(counts and counts[0]["files_evicted"] > 0, "evictions counted", counts)
        dropped = metric(metrics, "snoop_events_dropped_total")
        t.ok(dropped is not None, "ring buffer losses are counted (%s)" % dropped)
    finally:
        pod.cleanup()


def test_invalid_env(t, workdir):
    env = dict(os.environ, SNOOP_INTERVAL="soon")
    r = subprocess.run([SNOOP], env=env, capture_output=True, text=True)
    t.ok(r.returncode == 2 and "SNOOP_INTERVAL" in r.stderr and "expected" in r.stderr,
         "invalid SNOOP_INTERVAL: error names the variable and the accepted form", r.stderr)
    env = dict(os.environ, SNOOP_RINGBUF_SIZE="3M")
    r = subprocess.run([SNOOP], env=env, capture_output=True, text=True)
    t.ok(r.returncode == 2 and "SNOOP_RINGBUF_SIZE" in r.stderr and "power of two" in r.stderr,
         "invalid SNOOP_RINGBUF_SIZE rejected", r.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        pod = Pod(cgroup_root(), "pds-snoop-btf-%d" % os.getpid(), ["snoop"])
        try:
            r = subprocess.run([SNOOP, "--cgroup", pod.path, "--btf", "/nonexistent/vmlinux",
                                "--report", os.path.join(tmp, "r.json")],
                               capture_output=True, text=True, preexec_fn=pod.enter("snoop"))
        finally:
            pod.cleanup()
    t.ok(r.returncode == 1 and "/nonexistent/vmlinux" in r.stderr
         and "CONFIG_DEBUG_INFO_BTF" in r.stderr,
         "kernel without BTF: a clear message naming what is missing", r.stderr)
    r = subprocess.run([SNOOP, "--exclude", "relative/path"], capture_output=True, text=True)
    t.ok(r.returncode == 2 and "--exclude" in r.stderr, "invalid --exclude rejected",
         r.stderr)


def patched_btf(workdir, name):
    """The kernel BTF with the tracepoint typedef of @name renamed: a kernel without it."""
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        data = f.read()
    old = ("btf_trace_%s\0" % name).encode()
    new = old[:-2] + b"X\0"
    path = os.path.join(workdir, "vmlinux-without-" + name)
    with open(path, "wb") as f:
        f.write(data.replace(old, new))
    return path, old in data


def test_missing_probes(t, root, workdir, snoop_log):
    btf, found = patched_btf(workdir, "sys_exit")
    pod = Pod(root, "pds-snoop-probe-%d" % os.getpid(), ["c1", "snoop"])
    try:
        r = subprocess.run([SNOOP, "--cgroup", pod.path, "--btf", btf,
                            "--report", os.path.join(workdir, "probe.json")],
                           capture_output=True, text=True, preexec_fn=pod.enter("snoop"),
                           timeout=60)
        t.ok(found and r.returncode == 1 and "no sys_exit tracepoint" in r.stderr,
             "kernel without sys_exit: a clear error naming the probe", r.stderr)
        btf, found = patched_btf(workdir, "io_uring_submit_req")
        proc, ready = start_snoop(pod, workdir, ["--btf", btf, "--report",
                                                 os.path.join(workdir, "probe.json")])
        if not t.ok(found and ready is not None,
                    "kernel without io_uring_submit_req: snoop still starts",
                    open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        _, metrics = http_get(ready["metrics_port"], "/metrics")
        t.ok('snoop_probe_missing{probe="io_uring_submit_req"} 1' in metrics,
             "the probe left off is named in the metrics", metrics)
        t.ok("no io_uring_submit_req tracepoint: that probe is off" in open(snoop_log).read(),
             "and in the log")
        subprocess.run([WORKLOAD, "opens", "/etc/hostname", "3"], preexec_fn=pod.enter("c1"))
        t.ok(stop(proc) == 0 and "/etc/hostname" in (
            files_of(load_report(os.path.join(workdir, "probe.json")), "c1") or {}),
             "the other probes keep working")
    finally:
        pod.cleanup()


def test_exec_from_sys_enter(t, root, workdir, snoop_log):
    """A kernel older than sched_prepare_exec: exec followed from sys_enter instead."""
    btf, found = patched_btf(workdir, "sched_prepare_exec")
    pod = Pod(root, "pds-snoop-enter-%d" % os.getpid(), ["c1", "snoop"])
    try:
        cdir = os.path.realpath(os.path.join(workdir, "enter-c1"))
        prepare_container_dir(cdir)
        report_path = os.path.join(workdir, "enter.json")
        proc, ready = start_snoop(pod, workdir, ["--btf", btf, "--report", report_path,
                                                 "--interval", "3600"])
        if not t.ok(found and ready is not None,
                    "kernel without sched_prepare_exec: snoop starts",
                    open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        t.ok("exec is followed from sys_enter" in open(snoop_log).read(),
             "the log says exec is followed from sys_enter")
        r = subprocess.run([WORKLOAD, "all", cdir], preexec_fn=pod.enter("c1"),
                           capture_output=True, text=True)
        t.ok(r.returncode == 0, "workload ran", r.stderr)
        stop(proc)
        files = files_of(load_report(report_path), "c1") or {}
        want = {"script.sh": "execve", "interp": "exec_interp", "sub/true-copy": "execveat",
                "rel.txt": "openat", "compat.txt": "open"}
        missing = ["%s (%s)" % (rel, sc) for rel, sc in want.items()
                   if sc not in files.get(os.path.join(cdir, rel), {}).get("syscalls", [])]
        t.ok(not missing, "exec, execveat and the #! interpreter reported as before", missing)
    finally:
        pod.cleanup()


def test_runtime_names(t, root, workdir, snoop_log):
    """A containerd-style cgroup name; name and image from the runtime's OCI config."""
    cid = "%064x" % (0xC0FFEE << 200 | os.getpid())
    scope = "cri-containerd-%s.scope" % cid
    pod = Pod(root, "pds-snoop-cri-%d" % os.getpid(), [scope, "snoop"])
    try:
        conf_dir = os.path.join(workdir, "runtime", cid)
        os.makedirs(conf_dir)
        with open(os.path.join(conf_dir, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "annotations": {
                "io.kubernetes.cri.container-name": "web",
                "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.25"}}, f)
        report_path = os.path.join(workdir, "cri.json")
        proc, ready = start_snoop(pod, workdir, [
            "--report", report_path, "--interval", "3600",
            "--runtime-configs", os.path.join(workdir, "runtime", "{id}", "config.json")])
        if not t.ok(ready is not None, "snoop starts with --runtime-configs",
                    open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        subprocess.run([WORKLOAD, "opens", "/etc/hostname", "2"], preexec_fn=pod.enter(scope))
        stop(proc)
        conts = load_report(report_path)["containers"]
        t.ok(len(conts) == 1 and conts[0]["name"] == "web" and conts[0]["id"] == cid
             and conts[0]["image"] == "docker.io/library/nginx:1.25"
             and "/etc/hostname" in {f["path"] for f in conts[0]["files"]},
             "containerd cgroup: id from the cgroup name, name and image from the OCI config",
             conts)
    finally:
        pod.cleanup()


def test_new_container(t, root, workdir, snoop_log):
    """A container started after snoop is found at once (inotify), not by the timer rescan."""
    pod = Pod(root, "pds-snoop-new-%d" % os.getpid(), ["c1", "snoop"])
    late = os.path.join(pod.path, "late")
    try:
        proc, ready = start_snoop(pod, workdir, ["--report", os.path.join(workdir, "new.json"),
                                                 "--interval", "3600", "--rescan-secs", "3600"])
        if not t.ok(ready is not None, "snoop starts with --rescan-secs 3600",
                    open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        _, metrics = http_get(ready["metrics_port"], "/metrics")
        before = metric(metrics, "snoop_containers")
        t0 = time.monotonic()
        os.mkdir(late)
        pod.children["late"] = late
        seen = None
        while time.monotonic() - t0 < 10:
            _, metrics = http_get(ready["metrics_port"], "/metrics")
            if metric(metrics, "snoop_containers") == before + 1:
                seen = time.monotonic() - t0
                break
            time.sleep(0.05)
        t.ok(before == 1 and seen is not None and seen < 5,
             "a new container cgroup is found at once with no rescan due (%s s)" % (
                 "%.3f" % seen if seen is not None else None),
             metrics)
        stop(proc)
        conts = load_report(os.path.join(workdir, "new.json"))["containers"]
        t.ok("late" in [c["name"] for c in conts], "and it is in the report", conts)
    finally:
        pod.cleanup()


def test_unwritable(t, root, workdir, snoop_log):
    if shutil.which("chattr") is None:
        t.ok(True, "# SKIP chattr not installed")
        return
    pod = Pod(root, "pds-snoop-ro-%d" % os.getpid(), ["c1", "snoop"])
    report_dir = os.path.join(workdir, "ro")
    os.mkdir(report_dir)
    report_path = os.path.join(report_dir, "report.json")
    try:
        proc, ready = start_snoop(pod, workdir, ["--report", report_path, "--interval", "1"])
        if not t.ok(ready is not None, "snoop starts", open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        good = open(report_path).read()
        # Root ignores permissions, but not the immutable flag.
        r = subprocess.run(["chattr", "+i", report_dir], capture_output=True, text=True)
        if r.returncode != 0:
            t.ok(True, "unwritable report directory # SKIP chattr +i: %s" % r.stderr.strip())
            stop(proc)
            return
        subprocess.run([WORKLOAD, "opens", "/etc/hostname", "10"], preexec_fn=pod.enter("c1"))
        deadline = time.monotonic() + 15
        errors, metrics = 0, ""
        while time.monotonic() < deadline:
            _, metrics = http_get(ready["metrics_port"], "/metrics")
            errors = metric(metrics, "snoop_report_write_errors_total") or 0
            if errors >= 2:
                break
            time.sleep(0.2)
        t.ok(errors >= 2, "unwritable report directory counted in metrics", metrics)
        status, body = http_get(ready["metrics_port"], "/healthz")
        t.ok(status == 503, "/healthz unhealthy while the report cannot be written", body)
        t.ok(open(report_path).read() == good, "the last good report stays intact")
        subprocess.run(["chattr", "-i", report_dir], check=True)
        time.sleep(2.5)
        status, body = http_get(ready["metrics_port"], "/healthz")
        t.ok(status == 200, "/healthz recovers once the directory is writable", body)
        t.ok("/etc/hostname" in (files_of(load_report(report_path), "c1") or {}),
             "the next report holds the accesses made meanwhile")
        stop(proc)
    finally:
        subprocess.run(["chattr", "-i", report_dir])
        pod.cleanup()


def test_overflow(t, root, workdir, snoop_log):
    """A burst into the smallest ring with no in-kernel dedup: losses counted, no crash."""
    pod = Pod(root, "pds-snoop-burst-%d" % os.getpid(), ["c1", "snoop"])
    try:
        many_dir = os.path.join(workdir, "burst")
        os.mkdir(many_dir)
        proc, ready = start_snoop(pod, workdir, [
            "--report", os.path.join(workdir, "burst.json"), "--interval", "3600",
            "--ringbuf-size", "4096", "--wakeup-bytes", "2048", "--poll-ms", "1000",
            "--stream-all"])
        if not t.ok(ready is not None, "snoop starts with a 4 KiB ring", open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        subprocess.run([WORKLOAD, "many", many_dir, "100000"], preexec_fn=pod.enter("c1"))
        time.sleep(1.5)
        _, metrics = http_get(ready["metrics_port"], "/metrics")
        t.ok((metric(metrics, "snoop_events_dropped_total") or 0) > 0,
             "ring buffer overflow counted as dropped events", metrics)
        t.ok(proc.poll() is None, "snoop survives the burst")
        rc = stop(proc)
        report = load_report(os.path.join(workdir, "burst.json"))
        t.ok(rc == 0 and report["events_dropped"] > 0, "the report carries the drop count",
             "rc=%s dropped=%s" % (rc, report.get("events_dropped")))
    finally:
        pod.cleanup()


def parse_file_records(data):
    """(container name, path, syscall) of every file-access record in Custom Blocks."""
    import struct
    out = set()
    off = 0
    while off + 12 <= len(data):
        btype, length = struct.unpack_from("<II", data, off)
        if length < 12 or off + length > len(data):
            break
        if btype == 0xBAD and struct.unpack_from("<I", data, off + 8)[0] == 32473:
            rec = data[off + 12:off + length - 4]
            rtype, _ver, rlen = struct.unpack_from("<HHI", rec, 0)
            if rtype == 1:
                fields = {}
                p = 20
                while p + 4 <= rlen:
                    code, flen = struct.unpack_from("<HH", rec, p)
                    if code == 0:
                        break
                    fields[code] = rec[p + 4:p + 4 + flen]
                    p += 4 + ((flen + 3) & ~3)
                out.add((fields.get(8, b"").decode(), fields.get(2, b"").decode(),
                         fields.get(1, b"").decode()))
        off += length
    return out


def test_hub_stream(t, root, workdir, snoop_log):
    source_root = os.environ.get("PDS_SOURCE_ROOT",
                                 os.path.join(os.path.dirname(__file__), "..", ".."))
    sys.path.insert(0, os.path.join(source_root, "tests", "hub"))
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import hubtest
    if not os.path.exists(hubtest.HUB_BIN) or not os.path.exists(hubtest.TOOL_BIN):
        t.ok(False, "podscope-hub and pds-hub-test-tool are built",
             "%s %s" % (hubtest.HUB_BIN, hubtest.TOOL_BIN))
        return
    certdir = hubtest.make_certs(workdir)
    hub = hubtest.Hub(workdir, certdir).start()
    pod = Pod(root, "pds-snoop-hub-%d" % os.getpid(), ["c1", "snoop"])
    try:
        cdir = os.path.realpath(os.path.join(workdir, "hub-c1"))
        prepare_container_dir(cdir)
        report_path = os.path.join(workdir, "hub-report.json")
        proc, ready = start_snoop(pod, workdir, [
            "--report", report_path, "--interval", "3600",
            "--hub", "127.0.0.1:%d" % hub.ingest_port,
            "--ca", os.path.join(certdir, "ca.crt"),
            "--cert", os.path.join(certdir, "agent-a.crt"),
            "--key", os.path.join(certdir, "agent-a.key"),
            "--pod", "web-1", "--namespace", "default"])
        if not t.ok(ready is not None, "snoop starts with a hub stream", open(snoop_log).read()):
            stop(proc, signal.SIGKILL)
            return
        r = subprocess.run([WORKLOAD, "all", cdir], preexec_fn=pod.enter("c1"),
                           capture_output=True, text=True)
        t.ok(r.returncode == 0, "workload ran", r.stderr)
        metrics = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            _, metrics = http_get(ready["metrics_port"], "/metrics")
            if metric(metrics, "snoop_stream_connected") == 1 and \
                    (metric(metrics, "snoop_stream_records_total") or 0) > 0:
                break
            time.sleep(0.2)
        t.ok(metric(metrics, "snoop_stream_connected") == 1, "connected to the hub over mTLS",
             metrics)
        time.sleep(1)
        rc = stop(proc)
        t.ok(rc == 0, "snoop stops cleanly with a stream", "rc=%s" % rc)
        time.sleep(0.5)
        status, _h, body = hub.request("/v1/capture.pcapng?envelope=custom")
        t.ok(status == 200, "hub serves the session", status)
        got = parse_file_records(body)
        report = load_report(report_path)
        want = set()
        for c in report["containers"]:
            for f in c["files"]:
                for sc in f["syscalls"]:
                    want.add((c["name"], f["path"], sc))
        t.ok(len(want) > 20 and got == want,
             "the hub session holds one record per first-seen (container, path, syscall)",
             "only in report: %s\nonly at hub: %s" % (sorted(want - got)[:10],
                                                      sorted(got - want)[:10]))
        status, sources = hub.json("/v1/sources")
        roles = [s.get("role") for s in sources] if status == 200 else sources
        t.ok("snoop" in roles, "the hub lists the snoop source", roles)
    finally:
        pod.cleanup()
        hub.stop()


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (eBPF, cgroups)")
        return 77
    root = cgroup_root()
    if root is None:
        print("1..0 # SKIP no cgroup v2 hierarchy")
        return 77
    t = Tap()
    workdir = tempfile.mkdtemp(prefix="pds-snoop-it-")
    snoop_log = os.path.join(workdir, "snoop.log")
    open(snoop_log, "w").close()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    group = sys.argv[1] if len(sys.argv) > 1 else "local"
    try:
        if group == "hub":
            test_hub_stream(t, root, workdir, snoop_log)
        else:
            test_invalid_env(t, workdir)
            test_containers(t, root, workdir, snoop_log)
            test_kill9_and_lru(t, root, workdir, snoop_log)
            test_unwritable(t, root, workdir, snoop_log)
            test_overflow(t, root, workdir, snoop_log)
            test_missing_probes(t, root, workdir, snoop_log)
            test_exec_from_sys_enter(t, root, workdir, snoop_log)
            test_runtime_names(t, root, workdir, snoop_log)
            test_new_container(t, root, workdir, snoop_log)
    finally:
        if t.failed:
            print("# snoop log:")
            for line in open(snoop_log).read().splitlines()[-30:]:
                print("# " + line)
        shutil.rmtree(workdir, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
