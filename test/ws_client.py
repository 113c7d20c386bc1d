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
Modes for the limits (test/t/024_ws_limits.pl):
  many:N      opens N connections, prints "open N", waits (at most SECONDS)
              until the server closes them all, then closes them all at
              once and prints "closed K" (K got a close frame);
  closewait   reads until the server's close frame, answers it 0.3 s
              later with a close frame (as a client library does), then
              waits for the end of the connection: "close <code hex> eof
              <ms>" (from its answer) or "close <code hex> no eof";
  closemute   the same without answering the close frame (eof <ms> from
              the close frame);
  pingflood   sends 125-byte pings for SECONDS without reading anything
              (a small receive buffer): "dropped after <s> s, <MB> MB sent"
              if the server ends the connection, else "open after ...";
  pingread    sends pings as fast as it can for SECONDS while a thread
              reads the pongs: "pongs <count> <close code hex or ->".

With WS_CA set to a CA certificate file (PEM), it connects over TLS
(wss://), checking the server's certificate against that CA.
"""
import socket, base64, os, ssl, struct, sys, time
def connect(port, path, version='13', rcvbuf=0, headers=()):
    s = socket.create_connection(('127.0.0.1', port))
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if os.environ.get('WS_CA'):
        ctx = ssl.create_default_context(cafile=os.environ['WS_CA'])
        s = ctx.wrap_socket(s, server_hostname='127.0.0.1')
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n%s\r\n" % (path, key, version, ''.join(h + '\r\n' for h in headers))).encode())
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
        frames, buf = split_frames(buf)
        for f in frames:
            out.append(f)
            if f[0] == 8 or f[0] == until: return out
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
def split_frames(buf):
    """the whole server frames at the start of buf, and what is left"""
    out = []
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
    return out, buf
def many(port, path, n, seconds, headers):
    import select
    conns = []
    for i in range(n):
        s, head, rest = connect(port, path, headers=headers)
        if not head.startswith('HTTP/1.1 101'):
            print('refused', head.splitlines()[0] if head else 'no reply'); sys.exit(0)
        s.setblocking(False)
        conns.append([s, rest, False])
    print('open %d' % n); sys.stdout.flush()
    end = time.time() + seconds
    while time.time() < end and not all(c[2] for c in conns):
        ready, _, _ = select.select([c[0] for c in conns if not c[2]], [], [], 0.5)
        for c in conns:
            if c[0] not in ready: continue
            try:
                d = c[0].recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                d = b''
            frames, c[1] = split_frames(c[1] + d)
            if any(op == 8 for op, p in frames):
                c[2] = True
            elif not d:
                c[2] = 'eof'
    got = sum(1 for c in conns if c[2] is True)
    for c in conns:
        c[0].close()
    print('closed %d' % got); sys.stdout.flush()
def closewait(s, rest, seconds, answer=True):
    frames = read_frames(s, rest, seconds, until=8)
    close = [p for op, p in frames if op == 8]
    if not close:
        print('no close'); return
    code = close[0][:2].hex()
    t = time.time()
    if answer:
        # the answer comes a little later, as over a slower link
        time.sleep(0.3)
        t = time.time()
        try:
            s.sendall(frame(8, close[0][:2]))
        except OSError:
            pass
    s.settimeout(seconds)
    try:
        while True:
            d = s.recv(4096)
            if not d: break
    except socket.timeout:
        print('close %s no eof' % code); return
    except (OSError, ssl.SSLError):
        pass
    print('close %s eof %d' % (code, (time.time() - t) * 1000))
def pingflood(s, seconds):
    blob = b''.join(frame(9, b'x' * 125) for i in range(512))
    s.settimeout(1); sent = 0; t = time.time()
    while time.time() < t + seconds:
        try:
            n = s.send(blob)
        except socket.timeout:
            continue
        except (OSError, ssl.SSLError):
            print('dropped after %.1f s, %d MB sent' % (time.time() - t, sent >> 20)); return
        sent += n
        if n < len(blob):
            # the rest of a frame, so that the stream stays in frames
            try:
                s.sendall(blob[n:]); sent += len(blob) - n
            except (OSError, ssl.SSLError):
                print('dropped after %.1f s, %d MB sent' % (time.time() - t, sent >> 20)); return
    print('open after %.1f s, %d MB sent' % (time.time() - t, sent >> 20))
def pingread(s, rest, seconds):
    import threading
    got = {'pongs': 0, 'close': '-'}
    def reader():
        # all it receives is 18-byte pongs, until a close frame (0x88, a
        # byte no pong holds): counted by the byte, to keep up
        got_bytes = len(rest)
        while True:
            try:
                d = s.recv(1 << 20)
            except (OSError, ssl.SSLError):
                break
            if not d: break
            i = d.find(b'\x88')
            if i >= 0:
                got['close'] = d[i+2:i+4].hex()
                got_bytes += i
                break
            got_bytes += len(d)
        got['pongs'] = got_bytes // 18
    th = threading.Thread(target=reader, daemon=True); th.start()
    blob = b''.join(frame(9, b'p' * 16) for i in range(4096))
    t = time.time()
    while time.time() < t + seconds:
        try:
            s.sendall(blob)
        except (OSError, ssl.SSLError):
            break
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    th.join(5)
    print('pongs %d %s' % (got['pongs'], got['close']))
if __name__ == '__main__':
    port = int(sys.argv[1]); path = sys.argv[2]; mode = sys.argv[3] if len(sys.argv) > 3 else 'read'
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 3
    if mode.startswith('many:'):
        many(port, path, int(mode[5:]), seconds, sys.argv[5:]); sys.exit(0)
    s, head, rest = connect(port, path, '12' if mode == 'version12' else '13',
                            4096 if mode == 'pingflood' else 0, sys.argv[5:])
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
    elif mode == 'closewait':
        closewait(s, rest, seconds); sys.exit(0)
    elif mode == 'closemute':
        closewait(s, rest, seconds, False); sys.exit(0)
    elif mode == 'pingflood':
        pingflood(s, seconds); sys.exit(0)
    elif mode == 'pingread':
        pingread(s, rest, seconds); sys.exit(0)
    for op, p in read_frames(s, rest, float(sys.argv[4]) if len(sys.argv) > 4 else 3):
        print(op, p[:2].hex() if op == 8 else p.decode(errors='replace'))
