# SPDX-License-Identifier: LGPL-2.1-or-later
"""RFC 6455 framing and the Kubernetes channel protocol for port-forward.

Port-forward over WebSocket follows pkg/kubelet/cri/streaming/portforward/
websocket.go: subprotocols "v4.channel.k8s.io" (binary frames) and
"v4.base64.channel.k8s.io" (text frames, channel as an ASCII digit, payload
base64), per requested port a data channel 2i and an error channel 2i+1, and
the server first writes the port as 2 bytes little-endian on both. Framing of
channels: staging/src/k8s.io/apiserver/pkg/util/wsstream/conn.go.
"""

import base64
import hashlib
import socket
import struct
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
PROTOCOLS = ("v4.channel.k8s.io", "v4.base64.channel.k8s.io")


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class WsError(Exception):
    pass


class WebSocket:
    """Server side of one connection (frames to the client are unmasked)."""

    def __init__(self, sock, rfile):
        self.sock = sock
        self.rfile = rfile
        self.wlock = threading.Lock()
        self.closed = False

    def _read(self, n):
        data = self.rfile.read(n)
        if data is None or len(data) < n:
            raise WsError("connection closed")
        return data

    def recv(self):
        """(opcode, payload) of one complete message; control frames are
        answered here (ping -> pong) and returned too."""
        msg, mop = b"", None
        while True:
            b0, b1 = self._read(2)
            fin, op = b0 & 0x80, b0 & 0x0F
            if b0 & 0x70:
                raise WsError("reserved bits set")
            if not b1 & 0x80:
                # RFC 6455 5.1: a server MUST close on an unmasked client frame.
                raise WsError("client frame not masked")
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4)
            payload = bytearray(self._read(n))
            for i in range(n):
                payload[i] ^= mask[i & 3]
            payload = bytes(payload)
            if op >= 8:
                if op == OP_PING:
                    self.send(OP_PONG, payload)
                return op, payload
            if op != OP_CONT:
                mop = op
            msg += payload
            if fin:
                return mop, msg

    def send(self, op, payload):
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | op, n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | op, 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | op, 127, n)
        with self.wlock:
            if self.closed and op != OP_CLOSE:
                return
            self.sock.sendall(hdr + payload)

    def close(self, code=1000):
        with self.wlock:
            if self.closed:
                return
            self.closed = True
            try:
                self.sock.sendall(struct.pack("!BBH", 0x80 | OP_CLOSE, 2, code))
            except OSError:
                pass


class ChannelConn:
    """wsstream.Conn: messages = channel byte + payload (binary) or
    ASCII channel digit + base64 payload (base64 protocol)."""

    def __init__(self, ws, b64):
        self.ws = ws
        self.b64 = b64

    def write(self, channel, data):
        if self.b64:
            self.ws.send(OP_TEXT, bytes([ord("0") + channel]) + base64.b64encode(data))
        else:
            self.ws.send(OP_BIN, bytes([channel]) + data)

    def read(self):
        """(channel, data) or None at close."""
        while True:
            op, payload = self.ws.recv()
            if op == OP_CLOSE:
                return None
            if op in (OP_PING, OP_PONG) or not payload:
                continue
            if self.b64:
                return payload[0] - ord("0"), base64.b64decode(payload[1:])
            return payload[0], payload[1:]


def pump_portforward(conn, port_socks, log):
    """Copies between the channels and the pod-side sockets until either side
    ends. port_socks: list of (port, socket or error string)."""
    done = threading.Event()
    for i, (port, s) in enumerate(port_socks):
        pb = struct.pack("<H", port)
        conn.write(2 * i, pb)
        conn.write(2 * i + 1, pb)
        if isinstance(s, str):
            conn.write(2 * i + 1, s.encode())

    live = {2 * i: s for i, (port, s) in enumerate(port_socks) if not isinstance(s, str)}
    if not live:
        conn.ws.close()
        return

    def from_pod(ch, s):
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                conn.write(ch, data)
        except OSError:
            pass
        finally:
            live.pop(ch, None)
            if not live:
                done.set()
                conn.ws.close()

    threads = [threading.Thread(target=from_pod, args=(ch, s), daemon=True)
               for ch, s in live.items()]
    for t in threads:
        t.start()
    try:
        while not done.is_set():
            m = conn.read()
            if m is None:
                break
            ch, data = m
            s = live.get(ch)
            if s is None:
                continue   # error channels and unknown channels are write-only
            s.sendall(data)
    except (WsError, OSError, ValueError) as e:
        log("portforward: client side ended: %s" % e)
    finally:
        for ch, s in list(live.items()):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(timeout=2)
        for port, s in port_socks:
            if not isinstance(s, str):
                s.close()
        conn.ws.close()
