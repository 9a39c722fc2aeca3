# -*- coding: utf-8 -*-
"""A rogue subscriber for the scenario secured: copied into a rogue container and run there.

    python3 rogue.py listen PORT LOGFILE SECONDS
        accept TCP connections on PORT for at most SECONDS s and append one line per
        connection (time, peer) to LOGFILE; the file exists (empty) once the port listens, and
        LOGFILE.pid holds the listener's pid.
    python3 rogue.py send SERVER KEY ADDRESS [--sign PEM] [--unix T] [--cmd N] [--count N] [--interval S]
        send COUNT identical subscription datagrams to SERVER (ip:port) announcing ADDRESS for
        KEY, signed with the private key PEM (SHA256, the collection's default digest; PKCS#1 v1.5, openssl's dgst) when given;
        prints the unix value the packets carry.

The packet is uWSGI 2.0's (core/subscription.c uwsgi_send_subscription_from_fd, read by
plugins/corerouter/cr_common.c): a 4-byte header (modifier1 224, u16le body size, modifier2 =
cmd, 0 subscribe, 1 unsubscribe), then uwsgi vars (u16le size, bytes) key, address, modifier1,
modifier2, cores, load, weight, unix; the signature covers every body byte up to and including
the unix pair and is appended as the last pair, sign. Only the standard library and the
openssl command are used: the image has nothing else.
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time


def uwsgi_var(name, value):
    """One uwsgi var: u16le size and bytes of the name, then of the value."""
    name = name.encode('ascii')
    value = value.encode('ascii')
    return struct.pack('<H', len(name)) + name + struct.pack('<H', len(value)) + value


def rsa_sign(pem, data):
    """RSA signature (SHA256, PKCS#1 v1.5) of ``data`` with the private key file ``pem``."""
    with tempfile.NamedTemporaryFile() as stream:
        stream.write(data)
        stream.flush()
        return subprocess.check_output(['openssl', 'dgst', '-sha256', '-sign', pem, stream.name])


def packet(key, address, unix, pem=None, cmd=0):
    """A subscription datagram, signed with ``pem`` when given."""
    body = b''.join(uwsgi_var(name, value) for name, value in (
        ('key', key), ('address', address), ('modifier1', '0'), ('modifier2', '0'),
        ('cores', '1'), ('load', '0'), ('weight', '1'), ('unix', str(unix))))
    if pem:
        signature = rsa_sign(pem, body)
        body += struct.pack('<H', 4) + b'sign' + struct.pack('<H', len(signature)) + signature
    return struct.pack('<BHB', 224, len(body), cmd) + body


def send(args):
    unix = args.unix if args.unix is not None else int(time.time()) + args.cmd
    data = packet(args.key, args.address, unix, args.sign, args.cmd)
    host, port = args.server.rsplit(':', 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(args.count):
            if i:
                time.sleep(args.interval)
            sock.sendto(data, (host, int(port)))
    finally:
        sock.close()
    print(unix)
    return 0


def listen(args):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('0.0.0.0', args.port))
    server.listen(16)
    server.settimeout(1)
    open(args.logfile, 'a').close()
    with open(args.logfile + '.pid', 'w') as pidfile:
        pidfile.write('%d\n' % os.getpid())
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        try:
            conn, peer = server.accept()
        except socket.timeout:
            continue
        with open(args.logfile, 'a') as log:
            log.write('%d %s:%d\n' % (time.time(), peer[0], peer[1]))
        conn.close()
    server.close()
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command')
    p_listen = sub.add_parser('listen')
    p_listen.add_argument('port', type=int)
    p_listen.add_argument('logfile')
    p_listen.add_argument('seconds', type=int)
    p_send = sub.add_parser('send')
    p_send.add_argument('server')
    p_send.add_argument('key')
    p_send.add_argument('address')
    p_send.add_argument('--sign')
    p_send.add_argument('--unix', type=int)
    p_send.add_argument('--cmd', type=int, default=0)
    p_send.add_argument('--count', type=int, default=1)
    p_send.add_argument('--interval', type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.command == 'listen':
        return listen(args)
    if args.command == 'send':
        if not 1 <= args.count <= 20:
            parser.error('--count must be in 1..20 (bounded)')
        return send(args)
    parser.error('listen or send')
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
