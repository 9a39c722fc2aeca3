# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a uWSGI node ready? One request in the uwsgi protocol through its own socket; and a command
written to its master FIFO, followed until the master made the FIFO anew.

Standard library only: the module runs on the node's host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import socket
import stat
import struct
import time

_STATUS = re.compile(br'^HTTP/\d(?:\.\d)?\s+(\d{3})(?:\s|$)')


class NodeReadyError(Exception):
    """A failure the module reports as it is (the message names the node and the value)."""


def parse_address(address):
    """``HOST:PORT`` (``[V6]:PORT``) -> (family, sockaddr); a path (with a ``/``, no port) -> AF_UNIX."""
    if not isinstance(address, str) or not address:
        raise NodeReadyError('address must be HOST:PORT or a UNIX socket path, got %r' % (address,))
    if '/' in address or ':' not in address:
        if '/' not in address:
            raise NodeReadyError('address %r is neither HOST:PORT nor a UNIX socket path' % address)
        return socket.AF_UNIX, address
    host, _sep, port = address.rpartition(':')
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NodeReadyError('address %r is not HOST:PORT (a port from 1 to 65535)' % address)
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    return family, (host, int(port))


def _pair(name, value):
    name, value = name.encode('utf-8'), value.encode('utf-8')
    if len(name) > 65535 or len(value) > 65535:
        raise NodeReadyError('uwsgi variable %s is longer than 65535 bytes' % name.decode('utf-8', 'replace'))
    return struct.pack('<H', len(name)) + name + struct.pack('<H', len(value)) + value


def build_request(host, uri='/', method='GET', server_port='80'):
    """One uwsgi-protocol request (modifier1 0: a WSGI/HTTP request, no body)."""
    path, _sep, query = uri.partition('?')
    variables = [('REQUEST_METHOD', method), ('REQUEST_URI', uri), ('PATH_INFO', path),
                 ('QUERY_STRING', query), ('SERVER_NAME', host.split(':')[0]), ('SERVER_PORT', str(server_port)),
                 ('SERVER_PROTOCOL', 'HTTP/1.1'), ('HTTP_HOST', host)]
    body = b''.join(_pair(name, value) for name, value in variables)
    if len(body) > 65535:
        raise NodeReadyError('the request is longer than the uwsgi protocol allows (65535 bytes)')
    return struct.pack('<BHB', 0, len(body), 0) + body


def probe_once(address, request, timeout):
    """Send ``request`` to ``address`` and read the status line: (status, line) or raise OSError/NodeReadyError."""
    family, sockaddr = parse_address(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(sockaddr)
        sock.sendall(request)
        data = b''
        while b'\n' not in data and len(data) < 8192:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    line = data.split(b'\n', 1)[0].rstrip(b'\r')
    match = _STATUS.match(line)
    if not match:
        if not data:
            raise NodeReadyError('the connection was closed without an answer')
        raise NodeReadyError('the answer does not start with an HTTP status line: %r' % line[:80])
    return int(match.group(1)), line.decode('latin-1')


def accepted(status, status_codes):
    if status_codes:
        return status in status_codes
    return 100 <= status < 500


def wait_ready(address, request, status_codes, timeout, wait_timeout, interval, clock=time.time,
               sleep=time.sleep):
    """Probe until an accepted status line arrives. Returns (status, line, attempts, waited)."""
    start = clock()
    attempts = 0
    last = None
    while True:
        attempts += 1
        try:
            status, line = probe_once(address, request, timeout)
            if accepted(status, status_codes):
                return status, line, attempts, clock() - start
            last = 'it answered %r' % line
        except (OSError, NodeReadyError) as exc:
            last = str(exc)
        if clock() - start + interval > wait_timeout:
            error = NodeReadyError('node at %s is not ready after %.1f s (%d attempts): %s'
                                   % (address, clock() - start, attempts, last))
            error.attempts = attempts
            raise error
        sleep(interval)


def fifo_identity(path):
    """(device, inode) of the FIFO at ``path``, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise NodeReadyError('cannot read master FIFO %s: %s' % (path, exc))
    if not stat.S_ISFIFO(st.st_mode):
        raise NodeReadyError('%s is not a FIFO (the node\'s master-fifo)' % path)
    return st.st_dev, st.st_ino


class FifoCommand(object):
    """One command written to a master FIFO, and the wait for the FIFO the master makes anew.

    The old FIFO is held open with O_PATH (neither a reader nor a writer: the master still sees the end
    of the write) so that its inode number cannot be given to the new FIFO: a new (device, inode) at the
    path then proves that the master read the command and made its FIFO again. Writing to a FIFO changes
    its ctime, so the change time cannot tell.
    """

    def __init__(self, path):
        self.path = path
        self.pin = None
        self.before = None

    def write(self, command):
        if fifo_identity(self.path) is None:
            raise NodeReadyError('master FIFO %s does not exist: is the node running?' % self.path)
        flags = getattr(os, 'O_PATH', os.O_RDONLY | os.O_NONBLOCK)
        try:
            self.pin = os.open(self.path, flags)
            st = os.fstat(self.pin)
            self.before = (st.st_dev, st.st_ino)
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            self.close()
            if exc.errno == errno.ENXIO:
                raise NodeReadyError('nothing reads master FIFO %s: the node is not running' % self.path)
            raise NodeReadyError('cannot open master FIFO %s: %s' % (self.path, exc))
        try:
            os.write(fd, command.encode('ascii'))
        finally:
            os.close(fd)

    def wait(self, wait_timeout, interval, clock=time.time, sleep=time.sleep):
        """Wait until a FIFO other than the one written to exists at the path; the seconds waited."""
        start = clock()
        try:
            while True:
                now = fifo_identity(self.path)
                if now is not None and now != self.before:
                    return clock() - start
                if clock() - start + interval > wait_timeout:
                    raise NodeReadyError('master FIFO %s was not made anew within %.1f s: the node did not %s'
                                         % (self.path, clock() - start, 'come back' if now is None else 'react'))
                sleep(interval)
        finally:
            self.close()

    def close(self):
        if self.pin is not None:
            os.close(self.pin)
            self.pin = None
