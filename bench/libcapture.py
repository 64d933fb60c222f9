# SPDX-License-Identifier: LGPL-2.1-or-later
"""The pieces of bench/capture: tools, namespaces, servers, capturers, workloads,
measurements and the report."""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "agent"))
import pdsagenttest as T  # noqa: E402

TOOLS = {  # command -> Debian package
    "wrk": "wrk", "iperf3": "iperf3", "tcpdump": "tcpdump", "dumpcap": "tshark",
    "tshark": "tshark", "nginx": "nginx-light", "openssl": "openssl", "ethtool": "ethtool",
    "curl": "curl", "socat": "socat",
}
TOKEN = "podscope-bench"
HZ = os.sysconf("SC_CLK_TCK")
PROBE_PORT = 7777


def install_tools():
    missing = sorted({pkg for cmd, pkg in TOOLS.items()
                      if shutil.which(cmd) is None and not os.path.exists("/usr/sbin/" + cmd)})
    if not missing:
        return
    print("installing: %s" % " ".join(missing), flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                   check=True, env=env)


def find_build_dir(src, given):
    if given:
        cands = [given]
    else:
        cands = sorted((os.path.join(src, d) for d in os.listdir(src) if d.startswith("build")),
                       key=lambda d: os.path.getmtime(d), reverse=True)
    for d in cands:
        if os.path.exists(os.path.join(d, "agent", "podscope-agent")) and \
                os.path.exists(os.path.join(d, "hub", "podscope-hub")):
            return os.path.abspath(d)
    sys.exit("no build directory with agent/podscope-agent and hub/podscope-hub; build first "
             "(meson setup build && meson compile -C build) or pass --build-dir")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_us(pid):
    """utime + stime of a process, in microseconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1e6 / HZ
    except (OSError, IndexError, ValueError):
        return None


def proc_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Topology:
    """Namespaces cli and srv on a veth pair; captures run on the srv end."""

    def __init__(self, tmp):
        pid = os.getpid()
        self.cli = "pdsbc%d" % pid
        self.srv = "pdsbs%d" % pid
        self.if_cli = "pbc%d" % pid
        self.if_srv = "pbs%d" % pid
        self.ip_cli = "10.215.%d.1" % (pid % 250 + 1)
        self.ip_srv = "10.215.%d.2" % (pid % 250 + 1)

    def __enter__(self):
        r = T.run
        try:
            for ns in (self.cli, self.srv):
                r("ip", "netns", "add", ns)
                r("ip", "-n", ns, "link", "set", "lo", "up")
            r("ip", "-n", self.cli, "link", "add", self.if_cli, "type", "veth", "peer", "name",
              self.if_srv, "netns", self.srv)
            r("ip", "-n", self.cli, "addr", "add", self.ip_cli + "/24", "dev", self.if_cli)
            r("ip", "-n", self.srv, "addr", "add", self.ip_srv + "/24", "dev", self.if_srv)
            r("ip", "-n", self.cli, "link", "set", self.if_cli, "up")
            r("ip", "-n", self.srv, "link", "set", self.if_srv, "up")
            # No IPv6 chatter (router solicitations, MLD) on the measured link.
            for ns in (self.cli, self.srv):
                r("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                  "net.ipv6.conf.all.disable_ipv6=1")
            time.sleep(0.2)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for ns in (self.cli, self.srv):
            T.run("ip", "netns", "del", ns, check=False)
        return False

    def srv_packets(self):
        out = T.run("ip", "-n", self.srv, "-s", "-j", "link", "show", self.if_srv).stdout
        st = json.loads(out)[0]["stats64"]
        return st["rx"]["packets"] + st["tx"]["packets"]

    def tso(self, on):
        v = "on" if on else "off"
        T.run("ip", "netns", "exec", self.cli, "ethtool", "-K", self.if_cli, "tso", v, "gso", v)
        T.run("ip", "netns", "exec", self.srv, "ethtool", "-K", self.if_srv, "tso", v, "gso", v)


NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_protocols TLSv1.3;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen {ip}:80;
        listen {ip}:443 ssl;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        root {tmp}/www;
    }}
}}
"""


class Run:
    FIELDS = ("throughput", "unit", "iface_packets", "captured", "kernel_drops", "spool_drops",
              "cpu_us", "rss_kb", "hub_bytes", "hub_cpu_us", "seconds")

    @property
    def hub_cpu_per_packet(self):
        if self.hub_cpu_us is None or not self.captured:
            return None
        return self.hub_cpu_us / self.captured

    def __init__(self, **kw):
        for f in self.FIELDS:
            setattr(self, f, kw.get(f))

    @property
    def completeness(self):
        if self.captured is None or not self.iface_packets:
            return None
        return self.captured / self.iface_packets

    @property
    def cpu_per_packet(self):
        if self.cpu_us is None or not self.captured:
            return None
        return self.cpu_us / self.captured

    @property
    def hub_mb_s(self):
        if self.hub_bytes is None or not self.seconds:
            return None
        return self.hub_bytes / self.seconds / 1e6

    def summary(self):
        parts = ["%.1f %s" % (self.throughput or 0, self.unit or "")]
        if self.captured is not None:
            parts.append("captured %d/%d (%.2f%%)" % (self.captured, self.iface_packets or 0,
                                                     100 * (self.completeness or 0)))
            parts.append("kdrop %s" % self.kernel_drops)
            if self.cpu_per_packet is not None:
                parts.append("cpu %.2f us/pkt" % self.cpu_per_packet)
            parts.append("hwm %s kB" % self.rss_kb)
        if self.hub_bytes is not None:
            parts.append("hub %.1f MB/s" % (self.hub_mb_s or 0))
        return ", ".join(parts)


class StderrReader(threading.Thread):
    """Collects a process's stderr and notes when a line matches."""

    def __init__(self, stream, pattern):
        super().__init__(daemon=True)
        self.stream = stream
        self.pattern = pattern
        self.lines = []
        self.ready = threading.Event()
        self.start()

    def run(self):
        for line in iter(self.stream.readline, b""):
            text = line.decode(errors="replace")
            self.lines.append(text)
            if self.pattern and self.pattern in text:
                self.ready.set()
        self.ready.set()

    def text(self):
        return "".join(self.lines)


class Hub:
    def __init__(self, env):
        self.env = env
        self.dir = os.path.join(env.tmp, "hub-%d" % time.monotonic_ns())
        os.makedirs(self.dir)
        ready = os.path.join(self.dir, "ready.json")
        self.log = open(os.path.join(self.dir, "hub.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(env.build, "hub", "podscope-hub"), "--data-dir",
             os.path.join(self.dir, "data"), "--ca", env.certs["ca_crt"],
             "--cert", env.certs["hub_crt"], "--key", env.certs["hub_key"],
             "--token-file", env.token_file, "--ingest", "127.0.0.1:0",
             "--api", "127.0.0.1:0", "--ready-file", ready,
             "--retention", str(512 << 20)],
            stdout=self.log, stderr=self.log)
        if not T.wait_for(lambda: os.path.exists(ready) or self.proc.poll() is not None, 15):
            raise RuntimeError("podscope-hub did not start; see %s" % self.log.name)
        if self.proc.poll() is not None:
            with open(self.log.name) as f:
                raise RuntimeError("podscope-hub exited: %s" % f.read()[-2000:])
        with open(ready) as f:
            info = json.load(f)
        self.ingest = info["ingest_port"]
        self.api = info["api_port"]

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.api, path)

    def sources(self):
        req = urllib.request.Request(self.url("/v1/sources"),
                                     headers={"Authorization": "Bearer " + TOKEN})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except OSError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Environment:
    def __init__(self, topo, tmp, build, agent_args=()):
        self.topo = topo
        self.tmp = tmp
        self.build = build
        self.agent_args = [a for a in agent_args if a]
        # nginx's workers run as www-data and read the document root from here.
        os.chmod(tmp, 0o755)
        self.certs = T.make_certs(tmp)
        self.token_file = os.path.join(tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.procs = []
        self.runs = 0

    # ---- servers in the server namespace ----
    def start_servers(self):
        t = self.topo
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "1k"), "wb") as f:
            f.write(b"x" * 1024)
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=self.tmp, ip=t.ip_srv, crt=self.certs["hub_crt"],
                                      key=self.certs["hub_key"]))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", t.srv, nginx, "-c", conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", t.srv, "iperf3", "-s", "-B", t.ip_srv],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ok = T.wait_for(lambda: T.run("ip", "netns", "exec", t.cli, "curl", "-sf", "-o",
                                      "/dev/null", "http://%s/1k" % t.ip_srv,
                                      check=False).returncode == 0, 10)
        if not ok:
            self.stop_servers()
            raise RuntimeError("nginx did not come up in %s" % t.srv)
        time.sleep(0.3)

    def stop_servers(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    # ---- workloads, run in the client namespace ----
    def workload(self, scenario, duration):
        t = self.topo
        ns = ["ip", "netns", "exec", t.cli]
        d = max(1, int(round(duration)))
        if scenario.startswith("http") or scenario.startswith("https"):
            scheme = "https" if scenario.startswith("https") else "http"
            cmd = ns + ["wrk", "-t1", "-c16", "-d%ds" % d, "%s://%s/1k" % (scheme, t.ip_srv)]
            if scenario != "http-keepalive":
                cmd[-1:-1] = ["-H", "Connection: close"]
            out = T.run(*cmd, check=False).stdout
            m = re.search(r"Requests/sec:\s+([\d.]+)", out)
            return (float(m.group(1)) if m else None), "req/s"
        if scenario.startswith("bulk"):
            out = T.run(*ns, "iperf3", "-c", t.ip_srv, "-t", str(d), "-J", check=False).stdout
            try:
                bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
            except (ValueError, KeyError):
                return None, "Gbit/s"
            return bps / 1e9, "Gbit/s"
        if scenario == "udp-flood":
            out = T.run(*ns, "iperf3", "-c", t.ip_srv, "-u", "-b", "0", "-l", "64", "-t", str(d),
                        "-J", check=False).stdout
            try:
                s = json.loads(out)["end"]["sum"]
                return (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3, "kpps"
            except (ValueError, KeyError, ZeroDivisionError):
                return None, "kpps"
        raise ValueError(scenario)

    # ---- capturers ----
    def start_capture(self, capturer):
        t = self.topo
        nsx = ["ip", "netns", "exec", t.srv]
        c = {"name": capturer}
        if capturer == "none":
            return c
        if capturer == "tcpdump":
            c["file"] = os.path.join(self.tmp, "tcpdump.pcap")
            p = subprocess.Popen(nsx + ["tcpdump", "-i", t.if_srv, "-B", "65536", "-n",
                                        "-w", c["file"]],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            c["procs"] = [p]
            c["err"] = StderrReader(p.stderr, "listening on")
        elif capturer == "dumpcap-tls":
            port_file = os.path.join(self.tmp, "sink.count")
            port = free_port()
            sink = subprocess.Popen(
                "exec socat -u OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,cert=%s,key=%s,"
                "verify=0 - | wc -c > %s"
                % (port, self.certs["hub_crt"], self.certs["hub_key"], port_file), shell=True,
                stderr=subprocess.DEVNULL, start_new_session=True)
            if not T.wait_for(lambda: ":%d " % port in T.run("ss", "-Htln",
                                                             check=False).stdout, 10):
                raise RuntimeError("TLS sink did not start")
            d = subprocess.Popen(nsx + ["dumpcap", "-i", t.if_srv, "-B", "64", "-q", "-w", "-"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            s = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                                  "-quiet"], stdin=d.stdout, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            d.stdout.close()
            c["procs"] = [d, s]
            c["sink"] = sink
            c["count_file"] = port_file
            c["err"] = StderrReader(d.stderr, "Capturing on")
        elif capturer in ("agent", "agent-noanalyze"):
            hub = Hub(self)
            self.runs += 1
            pod = "bench-%d" % self.runs
            p = subprocess.Popen(
                [os.path.join(self.build, "agent", "podscope-agent"), "--hub",
                 "127.0.0.1:%d" % hub.ingest, "--ca", self.certs["ca_crt"], "--cert",
                 self.certs["agent_crt"], "--key", self.certs["agent_key"], "--netns", t.srv,
                 "-i", t.if_srv, "--pod", pod, *self.agent_args,
                 *(["--no-analyze"] if capturer == "agent-noanalyze" else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            c["procs"] = [p]
            c["hub"] = hub
            c["pod"] = pod
            c["err"] = StderrReader(p.stderr, None)
            if not T.wait_for(lambda: any(x.get("pod") == pod and x.get("connected")
                                          for x in hub.sources()) or p.poll() is not None, 15):
                raise RuntimeError("agent did not connect: %s" % c["err"].text())
            c["hub_cpu0"] = proc_cpu_us(hub.proc.pid)
        if "err" in c and c["err"].pattern:
            c["err"].ready.wait(15)
        time.sleep(0.2)
        c["cpu0"] = sum(proc_cpu_us(p.pid) or 0 for p in c["procs"])
        return c

    def stop_capture(self, c, seconds):
        r = {}
        if c["name"] == "none":
            return r
        procs = c["procs"]
        r["cpu_us"] = sum(proc_cpu_us(p.pid) or 0 for p in procs) - c["cpu0"]
        r["rss_kb"] = max(proc_hwm_kb(p.pid) or 0 for p in procs)
        if c["name"] == "tcpdump":
            procs[0].send_signal(signal.SIGINT)
            procs[0].wait(30)
            c["err"].join(5)
            text = c["err"].text()
            m = re.search(r"(\d+) packets? captured", text)
            k = re.search(r"(\d+) packets? dropped by kernel", text)
            r["captured"] = int(m.group(1)) if m else None
            r["kernel_drops"] = int(k.group(1)) if k else None
            os.unlink(c["file"])
        elif c["name"] == "dumpcap-tls":
            d, s = procs
            d.send_signal(signal.SIGINT)
            d.wait(30)
            c["err"].join(5)
            time.sleep(0.5)  # let the TLS client pass on what it holds
            s.terminate()
            s.wait(10)
            try:
                c["sink"].wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(c["sink"].pid, signal.SIGKILL)
            text = c["err"].text()
            m = re.search(r"Packets captured:\s*(\d+)", text)
            k = re.search(r"Packets received/dropped on interface '[^']*':\s*(\d+)/(\d+)", text)
            r["captured"] = int(m.group(1)) if m else None
            r["kernel_drops"] = int(k.group(2)) if k else None
        elif c["name"] in ("agent", "agent-noanalyze"):
            hub = c["hub"]
            r["hub_cpu_us"] = (proc_cpu_us(hub.proc.pid) or 0) - (c["hub_cpu0"] or 0)
            procs[0].send_signal(signal.SIGTERM)
            try:
                procs[0].wait(30)
            except subprocess.TimeoutExpired:
                procs[0].kill()
                procs[0].wait()
            c["err"].join(5)
            for line in c["err"].lines:
                if "WARNING" in line or "CRITICAL" in line:
                    print("  agent: " + line.rstrip(), flush=True)
            src = [x for x in hub.sources() if x.get("pod") == c["pod"]]
            if src:
                r["captured"] = src[0].get("packets")
                r["kernel_drops"] = src[0].get("kernel_drops")
                r["spool_drops"] = src[0].get("spool_drops")
                r["hub_bytes"] = src[0].get("bytes")
            r["hub_rss_kb"] = proc_hwm_kb(hub.proc.pid)
            hub.stop()
        return r

    def run(self, scenario, capturer, duration):
        t = self.topo
        if scenario.startswith("bulk"):
            t.tso(scenario == "bulk-tso")
        c = self.start_capture(capturer)
        before = t.srv_packets()
        t0 = time.monotonic()
        thr, unit = self.workload(scenario, duration)
        seconds = time.monotonic() - t0
        # What the kernel still holds reaches the capturer: tcpdump and dumpcap
        # get blocks after at most 1 s (their TPACKET_V3 block timeout), the
        # agent after 10 ms (and waits for it when stopping).
        time.sleep(1.2 if capturer in ("tcpdump", "dumpcap-tls") else 0.2)
        after = t.srv_packets()
        r = self.stop_capture(c, seconds)
        if scenario.startswith("bulk"):
            t.tso(True)
        return Run(throughput=thr, unit=unit, iface_packets=after - before, seconds=seconds,
                   **{k: v for k, v in r.items() if k in Run.FIELDS})

    # ---- latency: wire -> hub -> tshark -r - ----
    def latency(self, probes, loaded, duration, reader_kind="tshark"):
        """reader_kind: "tshark" (agent -> hub -> curl -> tshark), "stream" (the hub's
        follow stream parsed here), or "tcpdump-tshark" (the reference without PodScope:
        tcpdump -U -w - | tshark, same filter, same load)."""
        t = self.topo
        c = None
        if reader_kind == "tcpdump-tshark":
            curl = subprocess.Popen(
                ["ip", "netns", "exec", t.srv, "tcpdump", "-i", t.if_srv, "-B", "65536", "-U",
                 "-n", "-w", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        else:
            c = self.start_capture("agent")
            hub = c["hub"]
            curl = subprocess.Popen(
                ["curl", "-sN", "-H", "Authorization: Bearer " + TOKEN,
                 hub.url("/v1/capture.pcapng?follow=1")], stdout=subprocess.PIPE)
        seen = {}
        lock = threading.Lock()
        tshark = None
        if reader_kind in ("tshark", "tcpdump-tshark"):
            tshark = subprocess.Popen(
                ["tshark", "-r", "-", "-l", "-n", "-Y", "udp.dstport==%d" % PROBE_PORT, "-T",
                 "fields", "-e", "data.data"], stdin=curl.stdout, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
            curl.stdout.close()

            def reader():
                for line in iter(tshark.stdout.readline, b""):
                    now = time.time_ns()
                    h = line.strip().decode()
                    if len(h) >= 16:
                        with lock:
                            seen[int(h[:16], 16)] = now
        else:
            # The hub's stream itself, parsed here: separates the hub from tshark.
            def reader():
                stream = T.PcapngStream()
                while True:
                    data = curl.stdout.read1(1 << 20)
                    if not data:
                        return
                    stream.feed(data)
                    now = time.time_ns()
                    for b in stream.blocks():
                        if b.type != T.BT_EPB:
                            continue
                        cap = int.from_bytes(b.body[12:16], "little")
                        pkt = b.body[20:20 + cap]
                        if len(pkt) >= 50 and pkt[12:14] == b"\x08\x00" and pkt[23] == 17 \
                                and int.from_bytes(pkt[36:38], "big") == PROBE_PORT:
                            with lock:
                                seen[int.from_bytes(pkt[42:50], "big")] = now

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        sender = ("import socket,sys,time\n"
                  "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                  "for line in sys.stdin:\n"
                  "    n=int(line)\n"
                  "    for i in range(n):\n"
                  "        s.sendto(time.time_ns().to_bytes(8,'big')+b'probe',('%s',%d))\n"
                  "        time.sleep(0.02)\n"
                  "    print('done',flush=True)\n" % (t.ip_srv, PROBE_PORT))
        probe = subprocess.Popen(["ip", "netns", "exec", t.cli, "python3", "-u", "-c", sender],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        # Warm up until tshark shows probes (it takes a moment to start).
        for _ in range(50):
            probe.stdin.write("5\n")
            probe.stdin.flush()
            probe.stdout.readline()
            time.sleep(0.1)
            with lock:
                if seen:
                    break
        with lock:
            seen.clear()
        load = None
        secs = probes * 0.02 + 2
        if loaded == "udp-5kpps":
            # A steady 5,000 packets/s of 512-byte datagrams (20 Mbit/s) beside the probes.
            load = threading.Thread(target=T.run, kwargs={"check": False}, args=(
                "ip", "netns", "exec", t.cli, "iperf3", "-c", t.ip_srv, "-u", "-b", "20M",
                "-l", "512", "-t", str(int(secs))), daemon=True)
        elif loaded == "http-keepalive":
            load = threading.Thread(target=self.workload, args=("http-keepalive", secs),
                                    daemon=True)
        if load:
            load.start()
            time.sleep(0.5)
        t_start = time.time_ns()
        probe.stdin.write("%d\n" % probes)
        probe.stdin.flush()
        probe.stdout.readline()
        time.sleep(1.0)
        probe.stdin.close()
        probe.wait(10)
        if load:
            load.join(60)
        with lock:
            lat = sorted((v - k) / 1e6 for k, v in seen.items() if k >= t_start)
        for p in (tshark, curl):
            if p is not None:
                p.terminate()
        for p in (tshark, curl):
            if p is None:
                continue
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if c is not None:
            self.stop_capture(c, 1)
        if not lat:
            return {"probes": probes, "seen": 0}

        def pct(p):
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
        return {"probes": probes, "seen": len(lat), "p50_ms": pct(50), "p99_ms": pct(99),
                "max_ms": lat[-1]}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


def report(results, latency, scenarios, capturers, reps, duration, command, elapsed, build,
           args, load=None):
    from datetime import datetime, timezone
    lines = []
    w = lines.append
    w("## capture")
    w("")
    w("Produced by `bench/capture` on %s (%d CPUs, kernel %s); %d repetitions of %.1f s per "
      "run, capturers interleaved; medians shown. Whole run: %.0f s." %
      (datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), os.cpu_count(),
       os.uname().release, reps, duration, elapsed))
    w("")
    if load:
        w("System load average (1, 5, 15 min) at the start: %s; at the end: %s. Other work on "
          "the machine during the run makes single numbers noisy; compare capturers within "
          "a scenario, and prefer reruns on an idle machine." %
          (" ".join("%.2f" % x for x in load[0]), " ".join("%.2f" % x for x in load[1])))
        w("")
    w("Command:")
    w("")
    w("    %s" % command)
    w("")
    w("Topology: client and server network namespaces on a veth pair; every capturer listens "
      "on the server's end inside the server namespace; podscope-hub (and the TLS sink of the "
      "dumpcap pipeline, `socat OPENSSL-LISTEN`) run in the root namespace. Capturers: "
      "`tcpdump -B 65536 -w FILE`; `dumpcap -B 64 -w - | openssl s_client` to the TLS sink; "
      "`podscope-agent --netns` streaming to `podscope-hub` over mutual TLS%s." %
      (" with `%s`" % args.agent_args if args.agent_args else ""))
    w("")
    w("Columns: *throughput* of the workload and its ratio to the run without capture; "
      "*complete* = packets the capturer delivered / packets on the interface (rx+tx "
      "counters); *kdrops* = kernel drops the capturer reported; *spool drops* = blocks the "
      "agent dropped because its spool was full (the hub fell behind); *CPU/pkt* = capturer "
      "utime+stime (for dumpcap: dumpcap + s_client) per delivered packet; *HWM* = peak RSS "
      "(VmHWM); *hub* = captured packet bytes (original lengths, flow records not counted) the hub stored per second of workload; *hub CPU/pkt* = the "
      "hub's utime+stime per stored packet. *agent* runs with its flow analyzer (the "
      "default), *agent-noanalyze* with `--no-analyze`.")
    w("")
    agg = {}
    for scen in scenarios:
        w("### %s" % scen)
        w("")
        w("| capturer | throughput | ratio | complete | kdrops | spool drops | CPU/pkt µs | "
          "HWM MiB | hub MB/s | hub CPU/pkt µs |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        base = median([r.throughput for r in results.get((scen, "none"), [])])
        for cap in capturers:
            runs = results.get((scen, cap), [])
            if not runs:
                continue
            thr = median([r.throughput for r in runs])
            ratio = thr / base if thr is not None and base else None
            comp = median([r.completeness for r in runs])
            kd = median([r.kernel_drops for r in runs])
            cpp = median([r.cpu_per_packet for r in runs])
            hwm = median([r.rss_kb for r in runs])
            hub = median([r.hub_mb_s for r in runs])
            sd = median([r.spool_drops for r in runs])
            hcpp = median([r.hub_cpu_per_packet for r in runs])
            agg[(scen, cap)] = dict(ratio=ratio, comp=comp, cpp=cpp)
            w("| %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                cap, _fmt(thr, ".1f"), runs[0].unit or "", _fmt(ratio, ".3f"),
                "—" if comp is None else "%.2f%%" % (100 * comp), _fmt(kd, ".0f"),
                _fmt(sd, ".0f"),
                _fmt(cpp, ".2f"), "—" if hwm is None else "%.1f" % (hwm / 1024),
                _fmt(hub, ".1f"), _fmt(hcpp, ".2f")))
        w("")
    if latency:
        w("### Latency: wire → hub → `tshark -r -`")
        w("")
        w("A UDP probe carrying its send time (CLOCK_REALTIME) goes from the client namespace "
          "every 20 ms; `curl -N /v1/capture.pcapng?follow=1 | tshark -r - -l` prints it; the "
          "difference is the latency. *udp-5kpps*: beside 5,000 datagrams/s of 512 bytes "
          "(iperf3 -u -b 20M); *http-keepalive*: during the saturating HTTP keep-alive "
          "workload, where everything (wrk, nginx, agent, hub, tshark) shares the 2 CPUs. "
          "Reader *stream*: the benchmark parses the hub's follow stream itself instead of "
          "tshark, to tell the hub's part from tshark's. Reader *tcpdump-tshark*: the "
          "reference without PodScope, `tcpdump -U -w - | tshark -r - -l` with the same "
          "filter under the same load: where it falls behind too, the limit is tshark's.")
        w("")
        w("| condition | reader | probes seen | p50 ms | p99 ms | max ms |")
        w("|---|---|---|---|---|---|")
        for (cond, rd), lat in latency.items():
            w("| %s | %s | %s/%s | %s | %s | %s |" % (
                cond, rd, lat.get("seen"), lat.get("probes"),
                _fmt(lat.get("p50_ms"), ".1f"), _fmt(lat.get("p99_ms"), ".1f"),
                _fmt(lat.get("max_ms"), ".1f")))
        w("")
    if "tcpdump" in capturers and any(c.startswith("agent") for c in capturers):
        w("### Targets (agent against tcpdump -B 64 MiB)")
        w("")
        w("| scenario | agent | completeness ≥ tcpdump | ratio within 0.03 | CPU/pkt ≤ 1.5× |")
        w("|---|---|---|---|---|")

        def chk(cond):
            return "—" if cond is None else ("yes" if cond else "**no**")
        for scen in scenarios:
            for variant in ("agent", "agent-noanalyze"):
                a = agg.get((scen, variant))
                tdp = agg.get((scen, "tcpdump"))
                if not a or not tdp:
                    continue
                comp_ok = None if a["comp"] is None or tdp["comp"] is None else \
                    a["comp"] >= tdp["comp"] - 1e-9
                ratio_ok = None if a["ratio"] is None or tdp["ratio"] is None else \
                    a["ratio"] >= tdp["ratio"] - 0.03
                cpu_ok = None if a["cpp"] is None or tdp["cpp"] is None else \
                    a["cpp"] <= 1.5 * tdp["cpp"]
                w("| %s | %s | %s (%s vs %s) | %s (%s vs %s) | %s (%s vs %s) |" % (
                    scen, variant, chk(comp_ok), _pct(a["comp"]), _pct(tdp["comp"]),
                    chk(ratio_ok), _fmt(a["ratio"], ".3f"), _fmt(tdp["ratio"], ".3f"),
                    chk(cpu_ok), _fmt(a["cpp"], ".2f"), _fmt(tdp["cpp"], ".2f")))
        for (cond, rd), x in latency.items():
            if rd != "tshark":
                continue
            p99 = x.get("p99_ms")
            w("")
            w("Latency p99 ≤ 50 ms to `tshark -r -`, %s: %s (p99 %s ms, %s of %s probes seen)." % (
                cond, "—" if p99 is None else ("yes" if p99 <= 50 and x["seen"] == x["probes"]
                                                else "**no**"),
                _fmt(p99, ".1f"), x.get("seen"), x.get("probes")))
        w("")
    return "\n".join(lines) + "\n"


def write_section(path, section):
    """Replaces the "## capture" section of RESULTS.md, keeping other benchmarks' sections."""
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    pattern = re.compile(r"^## capture\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda m: section.rstrip("\n") + "\n\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)


def _pct(v):
    return "—" if v is None else "%.2f%%" % (100 * v)
