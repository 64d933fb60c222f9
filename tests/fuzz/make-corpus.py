#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the seed corpora of the fuzz targets.

  make-corpus.py CAPTURE.pcapng OUTDIR

CAPTURE is a capture of the analyzer oracle suite (Ethernet, HTTP and TLS
between two namespaces; run tests/analyzer/test-analyzer-oracle.py with
PDS_ORACLE_KEEP=1 to keep one). Seeds: corpus/http (hand-written messages,
good and hostile), corpus/tls (the TLS payloads of the capture), corpus/reasm
(whole connections of the capture as frames, in order and reordered).
"""
import os
import struct
import sys


def steps(chunks):
    """chunks: (dir, bytes) -> fuzz-http/fuzz-tls step encoding."""
    out = bytearray()
    for d, data in chunks:
        for i in range(0, len(data), 64):
            piece = data[i:i + 64]
            out.append(((len(piece) - 1) << 2) | d)
            out += piece
    return bytes(out)


HTTP = {
    "get": [(0, b"GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"),
            (1, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")],
    "chunked": [(0, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
                (1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5;x=y\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n")],
    "pipeline": [(0, b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"POST /3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"),
                 (1, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
                     b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
                     b"HTTP/1.1 204 No Content\r\n\r\n")],
    "continue": [(0, b"PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
                 (1, b"HTTP/1.1 100 Continue\r\n\r\n"), (0, b"abc"),
                 (1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")],
    "upgrade": [(0, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
                (1, b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi")],
    "close": [(0, b"GET / HTTP/1.0\r\n\r\n"), (1, b"HTTP/1.0 200 OK\r\n\r\nuntil close")],
    "bad-chunk": [(0, b"GET / HTTP/1.1\r\n\r\n"),
                  (1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n")],
    "injection": [(0, b"GET / HTTP/1.1\r\nX: a\rSet-Cookie: b\r\nContent-Length: 1\r\n"
                      b"Content-Length: 2\r\n\r\nab")],
    "bare-lf": [(0, b"GET / HTTP/1.1\nHost: h\n\n"), (1, b"HTTP/1.1 304 Not Modified\n\n")],
}


def read_frames(path):
    data = open(path, "rb").read()
    off = 0
    while off + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 6:
            caplen = struct.unpack_from("<I", data, off + 20)[0]
            yield data[off + 28:off + 28 + caplen]
        off += blen


def tcp_of(frame):
    if len(frame) < 54 or struct.unpack_from(">H", frame, 12)[0] != 0x0800 or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    tot = struct.unpack_from(">H", frame, 16)[0]
    tcp = 14 + ihl
    sport, dport = struct.unpack_from(">HH", frame, tcp)
    doff = (frame[tcp + 12] >> 4) * 4
    return sport, dport, frame[tcp + doff:14 + tot]


def main():
    capture, outdir = sys.argv[1], sys.argv[2]
    for sub in ("http", "tls", "reasm"):
        os.makedirs(os.path.join(outdir, sub), exist_ok=True)
    for name, chunks in HTTP.items():
        open(os.path.join(outdir, "http", name), "wb").write(steps(chunks))

    conns = {}
    for frame in read_frames(capture):
        t = tcp_of(frame)
        if t is None:
            continue
        key = tuple(sorted((t[0], t[1])))
        conns.setdefault(key, []).append((frame, t))
    for n, (key, frames) in enumerate(sorted(conns.items())):
        client = frames[0][1][0]
        payload = [(0 if t[0] == client else 1, t[2]) for _, t in frames if t[2]]
        if payload and payload[0][1][:1] == b"\x16":
            open(os.path.join(outdir, "tls", "conn-%d" % n), "wb").write(steps(payload))
        enc = b"".join(struct.pack(">HB", len(f), 0) + f for f, _ in frames)
        if len(enc) <= 16384:
            open(os.path.join(outdir, "reasm", "conn-%d" % n), "wb").write(enc)
            swapped = [f for f, _ in frames]
            for i in range(3, len(swapped) - 1, 3):
                swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            enc = b"".join(struct.pack(">HB", len(f), 0) + f for f in swapped)
            open(os.path.join(outdir, "reasm", "conn-%d-reordered" % n), "wb").write(enc)


if __name__ == "__main__":
    main()
