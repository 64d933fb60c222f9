#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Servers for the analyzer oracle suite: they listen on port 0 and print the port.

  oracle-servers.py http ADDR [PORT]           HTTP/1.1 with the cases the suite needs
  oracle-servers.py tls ADDR CERT KEY [--max-tls12] [--p256-only] [--port=N]
                                               TLS with ALPN h2/http1.1, a tiny HTTP answer
PORT defaults to 0 (any); the benchmark uses 80 and 443 in its own namespace.
"""
import http.server
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, 100-continue

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, extra=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/small":
            self.send_body(200, b"small body\n")
        elif path.startswith("/large"):
            size = int(self.path.split("?")[1]) if "?" in self.path else 1000000
            self.send_body(200, bytes((i * 31) & 0xFF for i in range(size)))
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command != "HEAD":
                for part in (b"first part ", b"second " * 300, b"last"):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
        elif path == "/nocontent":
            self.send_response(204)
            self.end_headers()
        elif path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.send_header("ETag", '"v1"')
                self.end_headers()
            else:
                self.send_body(200, b"tagged\n", [("ETag", '"v1"')])
        elif path == "/close":
            # A body delimited by the end of the connection (no length, no chunks).
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/reset":
            # Closing with a zero linger sends RST at once; the socketserver would
            # shut down the write side first (FIN), so close the descriptor here.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
            self.close_connection = True
        else:
            self.send_body(404, b"no such page\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self.send_body(201, b"got %d bytes\n" % len(data))

    do_PUT = do_POST


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


def serve_http(addr, port):
    cls = Server6 if ":" in addr else Server
    srv = cls((addr, port), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


def serve_tls(addr, cert, key, max12, p256, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    if max12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if p256:
        # Clients send an X25519 key share first: this forces a HelloRetryRequest.
        ctx.set_ecdh_curve("prime256v1")
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((addr, port))
    sock.listen(16)
    print(sock.getsockname()[1], flush=True)

    def one(conn):
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
            tls.settimeout(5)
            try:
                tls.recv(4096)
            except (socket.timeout, ssl.SSLError, OSError):
                pass
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            tls.close()
        except (ssl.SSLError, OSError):
            conn.close()

    while True:
        conn, _ = sock.accept()
        threading.Thread(target=one, args=(conn,), daemon=True).start()


def main():
    if sys.argv[1] == "http":
        serve_http(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    else:
        port = [int(a.split("=")[1]) for a in sys.argv if a.startswith("--port=")]
        serve_tls(sys.argv[2], sys.argv[3], sys.argv[4], "--max-tls12" in sys.argv,
                  "--p256-only" in sys.argv, port[0] if port else 0)


if __name__ == "__main__":
    main()
