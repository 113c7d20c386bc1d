#!/usr/bin/env python3
"""ws_client.py: a minimal WebSocket client (RFC 6455) for the tests,
Python's standard library only.

    ws_client.py PORT PATH MODE SECONDS [HEADER...]

Connects, upgrades, does MODE, then prints the status line and every
frame received within SECONDS: "<opcode> <payload>" (text as is, a
close frame's code as 4 hex digits).  MODE: read (send nothing), ping,
close (a close frame, 1000), unmasked (a text frame without a mask),
text (a masked text frame), big (a masked 100 kB text frame),
badclose (a close frame with code 1005, which may not be sent),
pingtime (five pings, one at a time: prints "rtt <ms>", the slowest pong).

With WS_CA set to a CA certificate file (PEM), it connects over TLS
(wss://), checking the server's certificate against that CA.
"""
import socket, base64, os, ssl, struct, sys, time
def connect(port, path, version='13'):
    s = socket.create_connection(('127.0.0.1', port))
    if os.environ.get('WS_CA'):
        ctx = ssl.create_default_context(cafile=os.environ['WS_CA'])
        s = ctx.wrap_socket(s, server_hostname='127.0.0.1')
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n\r\n" % (path, key, version)).encode())
    buf = b''
    while b'\r\n\r\n' not in buf:
        d = s.recv(4096)
        if not d: break
        buf += d
    head, _, rest = buf.partition(b'\r\n\r\n')
    return s, head.decode(), rest
def frame(op, payload, mask=True):
    b = bytes([0x80 | op]); n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126: b += bytes([mbit | n])
    elif n < 65536: b += bytes([mbit | 126]) + struct.pack('>H', n)
    else: b += bytes([mbit | 127]) + struct.pack('>Q', n)
    if mask:
        k = os.urandom(4); b += k
        payload = bytes(c ^ k[i % 4] for i, c in enumerate(payload))
    return b + payload
def read_frames(s, rest, timeout, until=None):
    s.settimeout(timeout); buf = rest; out = []
    end = time.time() + timeout
    while time.time() < end:
        while len(buf) >= 2:
            op = buf[0] & 0x0f; n = buf[1] & 0x7f; i = 2
            if n == 126:
                if len(buf) < 4: break
                n = struct.unpack('>H', buf[2:4])[0]; i = 4
            elif n == 127:
                if len(buf) < 10: break
                n = struct.unpack('>Q', buf[2:10])[0]; i = 10
            if len(buf) < i + n: break
            out.append((op, buf[i:i+n])); buf = buf[i+n:]
            if op == 8 or op == until: return out
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            out.append(('reset', b''))
            break
        except ssl.SSLError:
            out.append(('eof', b''))
            break
        if not d: out.append(('eof', b'')); break
        buf += d
    return out
if __name__ == '__main__':
    port = int(sys.argv[1]); path = sys.argv[2]; mode = sys.argv[3] if len(sys.argv) > 3 else 'read'
    s, head, rest = connect(port, path, '12' if mode == 'version12' else '13')
    print(head.splitlines()[0] if head else 'no reply')
    if not head.startswith('HTTP/1.1 101'):
        print(rest.decode(errors='replace'))
        sys.exit(0)
    if mode == 'unmasked':
        s.sendall(frame(1, b'hello', mask=False))
    elif mode == 'close':
        s.sendall(frame(8, struct.pack('>H', 1000) + b'bye'))
    elif mode == 'ping':
        s.sendall(frame(9, b'abc'))
    elif mode == 'text':
        s.sendall(frame(1, b'hello'))
    elif mode == 'big':
        try:
            s.sendall(frame(1, b'x' * 100000))
        except (BrokenPipeError, ConnectionResetError):
            pass
    elif mode == 'badclose':
        s.sendall(frame(8, struct.pack('>H', 1005)))
    elif mode == 'pingtime':
        read_frames(s, rest, 0.3)   # the first state, if any
        slowest = 0
        for i in range(5):
            t = time.time()
            s.sendall(frame(9, b'p%d' % i))
            got = [p for op, p in read_frames(s, b'', 3, until=10) if op == 10]
            if got != [b'p%d' % i]:
                print('no pong'); sys.exit(0)
            slowest = max(slowest, time.time() - t)
        print('rtt %d' % (slowest * 1000))
        sys.exit(0)
    for op, p in read_frames(s, rest, float(sys.argv[4]) if len(sys.argv) > 4 else 3):
        print(op, p[:2].hex() if op == 8 else p.decode(errors='replace'))
