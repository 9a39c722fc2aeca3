# -*- coding: utf-8 -*-
"""Clients of the routers scenario, run inside the scenario's containers.

The verifier sends this file's source to a container (``python3 -c SOURCE MODE ARGS``) and
reads one JSON document from its output. Every exchange is bounded: a fixed count, a time
limit per connection.

    uwsgi HOST PORT KEY COUNT [CAFILE]  COUNT requests in the uwsgi protocol (one connection
                                        each), SERVER_NAME and HTTP_HOST = KEY; with CAFILE
                                        inside TLS with SNI = KEY, verified against CAFILE
    pty HOST PORT MODE ROWS COLS        a forkpty router session: MODE raw (bytes as they
                                        are) or uwsgi (framed; ROWS/COLS sent as window
                                        packets); runs a few commands and exits
    ping DST COUNT [WAIT]               COUNT ICMP echo requests (raw socket), 1 s each; with
                                        WAIT, first up to WAIT s until one is answered
    stats HOST PORT                     the document a stats server sends
"""

import json
import os
import socket
import ssl
import struct
import sys
import time

TIMEOUT = 5.0


def uwsgi_packet(variables, modifier1=0, modifier2=0):
    """A uwsgi request: 4-byte header (modifier1, u16le size, modifier2) and the variables."""
    body = b''
    for name, value in variables:
        name, value = name.encode('latin-1'), value.encode('latin-1')
        body += struct.pack('<H', len(name)) + name + struct.pack('<H', len(value)) + value
    return struct.pack('<BHB', modifier1, len(body), modifier2) + body


def read_all(sock, deadline):
    """Everything the peer sends until it closes, or until the deadline."""
    chunks = []
    while True:
        remaining = deadline - time.time()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b''.join(chunks)


def parse_http(raw):
    """``(status, headers, body)`` of an HTTP response; status 0 when there is none."""
    head, _sep, body = raw.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ')
    if len(parts) < 2 or not parts[0].startswith('HTTP/') or not parts[1].isdigit():
        return 0, {}, raw.decode('latin-1')
    headers = {}
    for line in lines[1:]:
        name, _sep, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, body.decode('latin-1')


def _subject_cn(cert):
    for rdn in cert.get('subject', ()):
        for name, value in rdn:
            if name == 'commonName':
                return value
    return None


def uwsgi_requests(host, port, key, count, cafile=None):
    """``count`` requests with ``key``; each answer as status, headers, body (and certificate)."""
    answers = []
    for _i in range(count):
        deadline = time.time() + TIMEOUT
        answer = {'status': 0, 'headers': {}, 'body': '', 'error': None}
        try:
            sock = socket.create_connection((host, port), timeout=TIMEOUT)
            if cafile:
                context = ssl.create_default_context(cafile=cafile)
                sock = context.wrap_socket(sock, server_hostname=key)
                answer['certificate_cn'] = _subject_cn(sock.getpeercert())
            sock.sendall(uwsgi_packet([
                ('REQUEST_METHOD', 'GET'), ('REQUEST_URI', '/'), ('PATH_INFO', '/'), ('QUERY_STRING', ''),
                ('SERVER_PROTOCOL', 'HTTP/1.0'), ('SERVER_NAME', key), ('SERVER_PORT', str(port)),
                ('HTTP_HOST', key), ('REMOTE_ADDR', '127.0.0.1'), ('REMOTE_PORT', '1'),
            ]))
            raw = read_all(sock, deadline)
            sock.close()
            answer['status'], answer['headers'], answer['body'] = parse_http(raw)
        except (OSError, ssl.SSLError) as error:
            answer['error'] = '%s: %s' % (type(error).__name__, error)
        answers.append(answer)
    return answers


def pty_session(host, port, mode, rows, cols):
    """Run a few commands in a forkpty router session and return what the terminal showed."""
    commands = b'stty size; uname -n; tty; echo TOKEN-$((6*7)); exit\n'
    deadline = time.time() + TIMEOUT
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    if mode == 'uwsgi':
        # modifier2 100 and 101: window rows and columns, carried in the size field.
        sock.sendall(struct.pack('<BHB', 0, rows, 100) + struct.pack('<BHB', 0, cols, 101))
        time.sleep(0.3)
        sock.sendall(struct.pack('<BHB', 0, len(commands), 0) + commands)
    else:
        sock.sendall(commands)
    output = read_all(sock, deadline)
    sock.close()
    return {'output': output.decode('utf-8', 'replace'), 'closed': time.time() < deadline}


def _checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    total += total >> 16
    return ~total & 0xffff


def ping(destination, count, wait=0):
    """ICMP echo requests to ``destination``; how many were answered (after ``wait`` s at
    most until the first answer, when ``wait`` is given)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xffff
    started = time.time()
    while wait and time.time() - started < wait and not _echo(sock, destination, ident, 0xffff):
        time.sleep(0.5)
    waited = time.time() - started
    received = sum(1 for seq in range(count) if _echo(sock, destination, ident, seq))
    sock.close()
    result = {'sent': count, 'received': received}
    if wait:
        result['waited'] = round(waited, 1)
    return result


def _echo(sock, destination, ident, seq):
    """One echo request; whether its reply came within 1 s."""
    payload = b'uwsgi.topology tuntap %d' % seq
    header = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    sock.sendto(struct.pack('!BBHHH', 8, 0, _checksum(header + payload), ident, seq) + payload, (destination, 0))
    deadline = time.time() + 1.0
    while time.time() < deadline:
        sock.settimeout(max(deadline - time.time(), 0.01))
        try:
            data, address = sock.recvfrom(2048)
        except socket.timeout:
            return False
        offset = (data[0] & 0x0f) * 4
        kind, _code, _sum, r_ident, r_seq = struct.unpack('!BBHHH', data[offset:offset + 8])
        if address[0] == destination and kind == 0 and r_ident == ident and r_seq == seq:
            return True
    return False


def stats(host, port):
    """The whole document of a stats server (it writes and closes)."""
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    text = read_all(sock, time.time() + TIMEOUT).decode('utf-8', 'replace')
    sock.close()
    return {'text': text}


def main(argv):
    mode = argv[0]
    if mode == 'uwsgi':
        result = uwsgi_requests(argv[1], int(argv[2]), argv[3], int(argv[4]), argv[5] if len(argv) > 5 else None)
    elif mode == 'pty':
        result = pty_session(argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5]))
    elif mode == 'ping':
        result = ping(argv[1], int(argv[2]), float(argv[3]) if len(argv) > 3 else 0)
    elif mode == 'stats':
        result = stats(argv[1], int(argv[2]))
    else:
        raise SystemExit('unknown mode %r' % mode)
    sys.stdout.write(json.dumps(result) + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
