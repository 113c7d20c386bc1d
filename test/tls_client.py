#!/usr/bin/env python3
"""tls_client.py: an HTTPS client that sees the TLS records, for the tests;
Python's standard library only.

    tls_client.py MODE PORT CA ...

MODE records PORT CA N PATH
    A HEAD of PATH (a reply of a header alone, which libmicrohttpd sends
    without corking the socket: the cork comes with a later reply), then
    N GET requests of PATH, one after the other on one keep-alive
    connection, each reply read whole before the next request.  TLS runs
    over memory buffers (ssl.MemoryBIO), so the bytes from the socket are
    seen before they are decrypted: it counts the application-data
    records (content type 23) each reply came in.  Prints
    "records R1 R2 ... RN" and "slowest <ms>" (request sent to reply whole).
    Replies after the first only: TLS 1.3 sends its session tickets as
    application data records right after the handshake.

MODE unread PORT CA N PATH PID
    N GET requests of PATH written at once (pipelined) on one connection
    with a small receive buffer, then nothing read for 2 s, while the
    worker (PID) answers into a socket that does not drain.  Meanwhile
    it measures how much the worker's memory grew (VmRSS) and how long
    a GET /health on another connection took.  Then it reads the replies.
    Prints "grew <kB>", "other <ms> <status>", and "replies <count>
    <count of 200> <bytes of bodies>".

MODE first PORT CA N PATH
    N new connections, one after the other, each with Nagle's algorithm
    on (as Python's http.client and wrk have it): the handshake, then one
    GET of PATH, timed from the request written to the reply whole.  A
    TLS 1.3 client writes its Finished and then the request; Nagle holds
    the request until the Finished is acknowledged.  Prints "first
    <median ms> <max ms>".

MODE stall PORT CA SECONDS PATH
    A handshake whose second flight (the client's Finished) is sent only
    after SECONDS, then one GET of PATH.  Prints "stall <status>".

MODE stuck PORT CA N PATH SECONDS
    N GET requests of PATH written at once on a connection with a small
    receive buffer, then nothing read for SECONDS; then it reads until the
    connection ends (at most 10 s more).  Prints "replies <whole replies
    read> eof" or "replies <count> open".
"""
import socket
import ssl
import sys
import time


def context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    return ctx


def request(path, method="GET"):
    return ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            % (method, path)).encode()


def reply_end(buf, head_only=False):
    """Length of the first whole reply in buf (with Content-Length), or 0."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return 0
    if head_only:
        return head_end + 4
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    end = head_end + 4 + length
    return end if len(buf) >= end else 0


class Records:
    """TLS over a socket through memory buffers, counting the records.
    With stall, the client's Finished is held back that many seconds."""

    def __init__(self, port, ca, stall=0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.tls = context(ca).wrap_bio(self.inc, self.out,
                                        server_hostname="127.0.0.1")
        self.raw = b""          # bytes from the socket not yet parsed
        self.app_records = 0    # application-data records seen
        self.flush_out()
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush_out()
                self.feed()
        # the server's flight is in; the client's Finished goes now
        time.sleep(stall)
        self.flush_out()

    def flush_out(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def feed(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.raw += data
        # whole record headers: type (1), version (2), length (2)
        while len(self.raw) >= 5:
            size = 5 + int.from_bytes(self.raw[3:5], "big")
            if len(self.raw) < size:
                break
            if self.raw[0] == 23:
                self.app_records += 1
            self.raw = self.raw[size:]
        self.inc.write(data)

    def get(self, path, method="GET"):
        self.tls.write(request(path, method))
        self.flush_out()
        buf = b""
        while not reply_end(buf, method == "HEAD"):
            try:
                buf += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.feed()
        return buf


def mode_records(port, ca, n, path):
    conn = Records(port, ca)
    conn.get(path, "HEAD")
    counts = []
    slowest = 0.0
    for _ in range(n):
        before = conn.app_records
        started = time.monotonic()
        conn.get(path)
        slowest = max(slowest, time.monotonic() - started)
        counts.append(conn.app_records - before)
    print("records " + " ".join(str(c) for c in counts))
    print("slowest %d" % (slowest * 1000))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mode_unread(port, ca, n, path, pid):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    conn = context(ca).wrap_socket(raw, server_hostname="127.0.0.1")
    before = rss_kb(pid)
    conn.sendall(request(path) * n)
    peak = before
    deadline = time.monotonic() + 2
    other = None
    while time.monotonic() < deadline:
        peak = max(peak, rss_kb(pid))
        if other is None:
            started = time.monotonic()
            c = context(ca).wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=10),
                server_hostname="127.0.0.1")
            c.sendall(request("/health"))
            head = c.recv(4096)
            other = "%d %s" % ((time.monotonic() - started) * 1000,
                               head.split(b" ")[1].decode())
            c.close()
        time.sleep(0.05)
    print("grew %d" % (peak - before))
    print("other " + other)
    conn.settimeout(30)
    buf = b""
    got = ok = body = 0
    while got < n:
        end = reply_end(buf)
        if end:
            got += 1
            ok += buf.startswith(b"HTTP/1.1 200 ")
            body += end - (buf.find(b"\r\n\r\n") + 4)
            buf = buf[end:]
            continue
        data = conn.recv(65536)
        if not data:
            break
        buf += data
    print("replies %d %d %d" % (got, ok, body))


def mode_stuck(port, ca, n, path, seconds):
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    conn = context(ca).wrap_socket(raw, server_hostname="127.0.0.1")
    conn.sendall(request(path) * n)
    time.sleep(seconds)
    conn.settimeout(10)
    buf = b""
    got = 0
    end = "open"
    try:
        while True:
            whole = reply_end(buf)
            if whole:
                got += 1
                buf = buf[whole:]
                continue
            data = conn.recv(65536)
            if not data:
                end = "eof"
                break
            buf += data
    except (OSError, ssl.SSLError) as e:
        end = "eof" if not isinstance(e, socket.timeout) else "open"
    print("replies %d %s" % (got, end))


def mode_first(port, ca, n, path):
    times = []
    for _ in range(n):
        # Nagle's algorithm on: Python's default for a socket
        conn = Records(port, ca)
        start = time.monotonic()
        conn.get(path)
        times.append((time.monotonic() - start) * 1000)
        conn.sock.close()
    times.sort()
    print("first %.1f %.1f" % (times[len(times) // 2], times[-1]))


def mode_stall(port, ca, seconds, path):
    reply = Records(port, ca, stall=seconds).get(path)
    print("stall " + reply.split(b" ", 2)[1].decode())


def main():
    mode, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "records":
        mode_records(port, ca, int(sys.argv[4]), sys.argv[5])
    elif mode == "first":
        mode_first(port, ca, int(sys.argv[4]), sys.argv[5])
    elif mode == "stall":
        mode_stall(port, ca, float(sys.argv[4]), sys.argv[5])
    elif mode == "stuck":
        mode_stuck(port, ca, int(sys.argv[4]), sys.argv[5],
                   float(sys.argv[6]))
    elif mode == "unread":
        mode_unread(port, ca, int(sys.argv[4]), sys.argv[5],
                    int(sys.argv[6]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
