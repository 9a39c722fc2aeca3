# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/router_reload.py: leaving the address, refilling pools, waiting (real sockets on loopback)."""

from __future__ import absolute_import, division, print_function

import base64
import os
import socket

import pytest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible_collections.uwsgi.topology.plugins.module_utils import packet, router_reload
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError


def _listener(port=0, reuse=True):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(('127.0.0.1', port))
    sock.listen(16)
    return sock


def _stats(pid=10, active=0, pools=None):
    return {'pid': pid, 'active_sessions': active, 'subscriptions': [
        {'key': key, 'nodes': [{'name': a, 'death_mark': 0} for a in addresses]}
        for key, addresses in sorted((pools or {}).items())]}


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


# --- the kernel side: which socket is the replica's, and shutting it down -------------------------

def test_listening_inodes_finds_the_sockets_on_a_port_and_only_those():
    first = _listener()
    port = first.getsockname()[1]
    second = _listener(port)
    other = _listener()
    try:
        inodes = router_reload.listening_inodes(port)
        assert len(inodes) == 2
        mine = router_reload.socket_fds(os.getpid(), inodes)
        assert sorted(mine) == sorted([first.fileno(), second.fileno()])
        assert other.fileno() not in mine
    finally:
        for sock in (first, second, other):
            sock.close()


def test_udp_inodes_name_the_bound_subscription_server():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(('127.0.0.1', 0))
    try:
        port = udp.getsockname()[1]
        assert len(router_reload.listening_inodes(port, udp=True)) == 1
        assert router_reload.listening_inodes(port) == set()
    finally:
        udp.close()


def test_a_shut_listener_leaves_the_reuseport_group_and_its_sibling_takes_every_connection():
    leaving = _listener()
    port = leaving.getsockname()[1]
    staying = _listener(port)
    try:
        # Both are this process's (through pidfd_getfd on itself): both shut down, neither listens any more.
        assert router_reload.shut_listeners(os.getpid(), [port]) == 2
        assert router_reload.listening_inodes(port) == set()
    finally:
        leaving.close()
        staying.close()
    # One of two shut down: its sibling takes every new connection.
    leaving = _listener()
    port = leaving.getsockname()[1]
    staying = _listener(port)
    try:
        leaving.shutdown(socket.SHUT_RDWR)
        staying.settimeout(2)
        for _n in range(20):
            client = socket.create_connection(('127.0.0.1', port), timeout=2)
            conn, _addr = staying.accept()  # every one reaches the sibling: none is refused or lost
            conn.close()
            client.close()
    finally:
        leaving.close()
        staying.close()


def test_shutting_nothing_down_when_the_process_holds_no_listener_on_the_port():
    assert router_reload.shut_listeners(os.getpid(), [1]) == 0


# --- the steps, with a fake stats server -------------------------------------------------------

def test_leave_waits_for_the_sessions_in_flight_then_reports_the_time(monkeypatch):
    clock = Clock()
    seen = iter([_stats(active=2), _stats(active=1), _stats(active=0)])
    monkeypatch.setattr(router_reload, 'shut_listeners', lambda pid, ports: 1)
    replica = router_reload.Replica('edge', '127.0.0.1:9191', ['127.0.0.1:8080'], clock=clock, sleep=clock.sleep,
                                    read=lambda address: next(seen))
    seconds, left = replica.leave(_stats(active=3), timeout=5, interval=0.5)
    assert (seconds, left) == (1.0, 0)


def test_leave_refuses_to_reload_with_requests_still_in_flight(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(router_reload, 'shut_listeners', lambda pid, ports: 1)
    replica = router_reload.Replica('edge', '127.0.0.1:9191', ['127.0.0.1:8080'], clock=clock, sleep=clock.sleep,
                                    read=lambda address: _stats(active=4))
    with pytest.raises(TopologyError, match='4 requests still in flight 3 s after it left'):
        replica.leave(_stats(active=4), timeout=3, interval=1)


def test_leave_says_why_when_it_cannot_reach_the_socket(monkeypatch):
    def denied(pid, ports):
        raise OSError(1, 'Operation not permitted')
    monkeypatch.setattr(router_reload, 'shut_listeners', denied)
    replica = router_reload.Replica('edge', 's', ['127.0.0.1:8080'], read=lambda a: None)
    with pytest.raises(TopologyError, match='pidfd_getfd on pid 10.*Linux 5.6'):
        replica.leave(_stats(), timeout=1)
    monkeypatch.setattr(router_reload, 'shut_listeners', lambda pid, ports: 0)
    with pytest.raises(TopologyError, match='holds no socket listening on 8080'):
        replica.leave(_stats(), timeout=1)
    with pytest.raises(TopologyError, match='no gateway process'):
        replica.leave({'active_sessions': 0}, timeout=1)


def test_wait_new_wants_another_process_and_names_the_stats_server_on_timeout():
    clock = Clock()
    answers = iter([None, _stats(pid=10), _stats(pid=11)])
    replica = router_reload.Replica('edge', '127.0.0.1:9191', [], clock=clock, sleep=clock.sleep,
                                    read=lambda a: next(answers))
    assert replica.wait_new(10, timeout=5)['pid'] == 11
    replica = router_reload.Replica('edge', '127.0.0.1:9191', [], clock=clock, sleep=clock.sleep,
                                    read=lambda a: _stats(pid=10))
    with pytest.raises(TopologyError, match='stats server 127.0.0.1:9191 within 2 s'):
        replica.wait_new(10, timeout=2, interval=1)


def test_wait_pools_names_what_is_missing():
    clock = Clock()
    replica = router_reload.Replica('edge', 's', [], clock=clock, sleep=clock.sleep,
                                    read=lambda a: _stats(pools={'app.test': ['127.0.0.1:3031']}))
    assert replica.wait_pools([('app.test', '127.0.0.1:3031')], 1) == {'app.test': {'127.0.0.1:3031'}}
    with pytest.raises(TopologyError, match='missing api.test 127.0.0.1:3033'):
        replica.wait_pools([('app.test', '127.0.0.1:3031'), ('api.test', '127.0.0.1:3033')], 1, interval=1)


def test_pools_leave_out_death_marked_nodes():
    stats = _stats(pools={'app.test': ['a', 'b']})
    stats['subscriptions'][0]['nodes'][1]['death_mark'] = 1
    assert router_reload.pools(stats) == {'app.test': {'a'}}
    assert router_reload.pools(None) == {}


# --- refilling ---------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())


def _announce(key, address, signing=True):
    entry = {'server': '127.0.0.1:2626', 'key': key, 'address': address}
    if signing:
        entry['signing'] = ['SHA256', '/node/keys/%s.pem' % key]
    return {'entry': entry, 'signing': '/store/%s.pem' % key if signing else None}


def test_refill_packets_are_signed_on_the_controller_with_the_stores_key(key_pem):
    key, pem = key_pem
    read = []
    packets = router_reload.refill_packets(
        [_announce('app.test', '127.0.0.1:3031'), _announce('app.test', '127.0.0.1:3032')],
        lambda path: read.append(path) or pem, now=1000)
    assert read == ['/store/app.test.pem']  # one signer per key file
    assert [(p['key'], p['address']) for p in packets] == [
        ('app.test', '127.0.0.1:3031'), ('app.test', '127.0.0.1:3032')]
    data = base64.b64decode(packets[0]['data'])
    cmd, pairs = packet.decode(data)
    values = dict(pairs)
    assert cmd == packet.SUBSCRIBE and values['unix'] == b'999'  # a second back
    key.public_key().verify(values['sign'], packet.signed_part(data), padding.PKCS1v15(), hashes.SHA256())


def test_refill_packets_unsigned_and_refused_without_a_key():
    packets = router_reload.refill_packets([_announce('app.test', '127.0.0.1:3031', signing=False)],
                                           lambda path: None, now=5)
    assert 'sign' not in dict(packet.decode(base64.b64decode(packets[0]['data']))[1])
    bad = _announce('app.test', '127.0.0.1:3031')
    bad['signing'] = None
    with pytest.raises(TopologyError, match=r'rolling.announces\[0\].*signed but the plan names no key'):
        router_reload.refill_packets([bad], lambda path: None)


def test_refill_order_sends_only_what_the_replica_held_each_keys_first_node_first():
    packets = [{'key': k, 'address': a, 'data': ''} for k, a in (
        ('app.test', 'a1'), ('app.test', 'a2'), ('app.test', 'a3'), ('api.test', 'p1'), ('api.test', 'drained'))]
    held = {'app.test': {'a1', 'a2', 'a3'}, 'api.test': {'p1'}}
    assert [(p['key'], p['address']) for p in router_reload.refill_order(packets, held)] == [
        ('app.test', 'a1'), ('api.test', 'p1'), ('app.test', 'a2'), ('app.test', 'a3')]
    assert router_reload.refill_order(packets, None) == []
