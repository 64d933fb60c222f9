# SPDX-License-Identifier: LGPL-2.1-or-later
"""The fake's node: network namespaces as pods, processes as containers.

One "node" network namespace holds a bridge (10.244.0.1/24); each pod is a
network namespace with a veth into that bridge and an address from
10.244.0.0/24, like a CNI bridge plugin on a kind node. Every name starts with
a prefix that carries the server's pid so cleanup finds exactly what this
server made, even after a crash (sweep()).
"""

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
SUBNET = "10.244.0."
GATEWAY = SUBNET + "1"

_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def netns_pids(name):
    r = _ip("netns", "pids", name, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def sweep(prefix):
    """Kill every process in, and delete, each netns whose name starts with prefix."""
    r = _ip("netns", "list", check=False)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.split()]
    names = [n for n in names if n.startswith(prefix)]
    for n in names:
        for pid in netns_pids(n):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for n in names:
        _ip("netns", "del", n, check=False)
    return names


def connect_in_netns(netns, host, port, timeout=5.0):
    """A TCP socket connected from inside /run/netns/<netns> (None = here).

    setns(2) moves only the calling thread, so a short-lived thread enters
    the namespace, connects, and hands the socket back; a socket keeps the
    namespace it was created in."""
    if netns is None:
        return socket.create_connection((host, port), timeout=timeout)
    result = {}

    def run():
        try:
            fd = os.open("/run/netns/" + netns, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, "setns(%s): %s" % (netns, os.strerror(e)))
            finally:
                os.close(fd)
            result["sock"] = socket.create_connection((host, port), timeout=timeout)
        except Exception as e:  # handed to the caller below
            result["err"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join()
    if "err" in result:
        raise result["err"]
    return result["sock"]


class Node:
    """Bridge netns + per-pod netns; use_netns=False keeps everything here
    (pods then only get addresses and processes run in the current netns)."""

    def __init__(self, prefix, use_netns=True, log=print):
        self.prefix = prefix
        self.use_netns = use_netns
        self.node_ns = prefix + "node"
        self.log = log
        self.lock = threading.Lock()
        self.used = set()
        self.reserved = {}   # ip -> owner key (service reservations)
        self.seq = 0
        self.pods = {}       # key -> netns name
        if use_netns:
            _ip("netns", "add", self.node_ns)
            _ip("-n", self.node_ns, "link", "set", "lo", "up")
            _ip("-n", self.node_ns, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.node_ns, "addr", "add", GATEWAY + "/24", "dev", "br0")
            _ip("-n", self.node_ns, "link", "set", "br0", "up")

    def allocate_ip(self, reserve_for=None):
        with self.lock:
            for i in range(2, 255):
                ip = SUBNET + str(i)
                if ip not in self.used and ip not in self.reserved:
                    if reserve_for:
                        self.reserved[ip] = reserve_for
                    else:
                        self.used.add(ip)
                    return ip
        raise RuntimeError("10.244.0.0/24 is exhausted")

    def claim_reserved(self, ip):
        """Moves a reserved address to a pod; False when it is not reserved."""
        with self.lock:
            if ip not in self.reserved or ip in self.used:
                return False
            self.reserved.pop(ip)
            self.used.add(ip)
            return True

    def reserve(self, ip, owner):
        with self.lock:
            if ip not in self.used:
                self.reserved[ip] = owner

    def unreserve(self, ip, owner):
        with self.lock:
            if self.reserved.get(ip) == owner:
                del self.reserved[ip]

    def release_ip(self, ip):
        with self.lock:
            self.used.discard(ip)
            self.reserved.pop(ip, None)

    def add_pod(self, key, ip):
        """Creates the pod's netns with eth0 = ip; returns its name."""
        with self.lock:
            self.seq += 1
            n = self.seq
        ns = "%sp%d" % (self.prefix, n)
        if self.use_netns:
            _ip("netns", "add", ns)
            _ip("-n", self.node_ns, "link", "add", "vp%d" % n, "type", "veth",
                "peer", "name", "eth0", "netns", ns)
            _ip("-n", self.node_ns, "link", "set", "vp%d" % n, "master", "br0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "route", "add", "default", "via", GATEWAY)
        with self.lock:
            self.pods[key] = ns
        return ns

    def remove_pod(self, key):
        with self.lock:
            ns = self.pods.pop(key, None)
        if ns and self.use_netns:
            for pid in netns_pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _ip("netns", "del", ns, check=False)

    def netns_of(self, key):
        with self.lock:
            ns = self.pods.get(key)
        return ns if self.use_netns else None

    def spawn(self, key, argv, env, cwd, logpath):
        """Starts argv inside the pod's netns, in its own process group."""
        ns = self.netns_of(key)
        cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
        logf = open(logpath, "ab")
        try:
            p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            logf.close()
        return p

    def tcp_open(self, key, port):
        """True when something listens on port inside the pod (tcpSocket probe)."""
        try:
            s = connect_in_netns(self.netns_of(key), "127.0.0.1", port, timeout=1.0)
            s.close()
            return True
        except OSError:
            return False

    def shutdown(self):
        with self.lock:
            keys = list(self.pods)
        for k in keys:
            self.remove_pod(k)
        if self.use_netns:
            sweep(self.prefix)


def kill_group(p, grace=2.0):
    """SIGTERM the process group, SIGKILL after grace; returns the exit status."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    return p.returncode
