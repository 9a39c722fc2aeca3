# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.drain module.

Fake routers (a UDP subscription server that checks real signatures and a stats server whose
pools change as the packets arrive, as uWSGI 2.0's do) and a fake node master (a real FIFO it
reads one command at a time and creates anew after each writer, announcing every few tenths of a
second unless S blocked it), all on 127.0.0.1.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import select
import socket
import threading
import time

import pytest

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible_collections.uwsgi.topology.plugins.module_utils import packet
from ansible_collections.uwsgi.topology.plugins.modules import drain

NODE = '127.0.0.1:13031'
OTHER = '127.0.0.1:13032'


@pytest.fixture(scope='module')
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope='module')
def rogue_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def keyfile(tmp_path, rsa_key):
    path = str(tmp_path / 'app.test.pem')
    with open(path, 'wb') as handle:
        handle.write(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    os.chmod(path, 0o600)
    return path


class FakeRouter(object):
    """A router's subscription server and stats server, with uWSGI 2.0's pool rules.

    A subscribe adds the node or clears its death mark; a signed unsubscribe death-marks it and
    frees it when no request is in flight (``ref`` 0), else it stays listed until a lookup after
    its requests completed (plugins/corerouter/cr_common.c:150-172, core/subscription.c:279).
    """

    def __init__(self, public_key):
        self.public_key = public_key
        self.lock = threading.Lock()
        self.pools = {}
        self.received = []
        self.refused = 0
        self.stop = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(('127.0.0.1', 0))
        self.udp.settimeout(0.05)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(('127.0.0.1', 0))
        self.tcp.listen(16)
        self.tcp.settimeout(0.05)
        self.server = '127.0.0.1:%d' % self.udp.getsockname()[1]
        self.stats = '127.0.0.1:%d' % self.tcp.getsockname()[1]
        self.threads = [threading.Thread(target=self._serve_udp), threading.Thread(target=self._serve_tcp)]
        for thread in self.threads:
            thread.daemon = True
            thread.start()

    def add(self, key, address, ref=0, last_check=None, death_mark=0):
        with self.lock:
            self._add(key, address, ref, last_check, death_mark)

    def _add(self, key, address, ref=0, last_check=None, death_mark=0):
        self.pools.setdefault(key, []).append({
            'name': address, 'modifier1': 0, 'modifier2': 0, 'requests': 0, 'last_requests': 0, 'tx': 0,
            'rx': 0, 'cores': 1, 'load': 0, 'weight': 1, 'wrr': 0, 'ref': ref, 'failcnt': 0,
            'death_mark': death_mark, 'last_check': int(time.time()) if last_check is None else last_check,
            'pid': 0, 'uid': 0, 'gid': 0})

    def node(self, key, address):
        with self.lock:
            for node in self.pools.get(key, []):
                if node['name'] == address:
                    return dict(node)
        return None

    def release(self, key, address):
        """A request in flight on the node completed (the router lowers ``ref``)."""
        with self.lock:
            for node in self.pools.get(key, []):
                if node['name'] == address:
                    node['ref'] -= 1

    def commands(self, address=NODE):
        with self.lock:
            return [cmd for cmd, _key, addr in self.received if addr == address]

    def _remove(self, key, node):
        self.pools[key].remove(node)
        if not self.pools[key]:
            del self.pools[key]

    def _handle(self, data):
        cmd, pairs = packet.decode(data)
        values = dict(pairs)
        try:
            self.public_key.verify(values['sign'], packet.signed_part(data), padding.PKCS1v15(), hashes.SHA256())
        except (KeyError, InvalidSignature):
            self.refused += 1
            return
        key, address = values['key'].decode(), values['address'].decode()
        with self.lock:
            self.received.append((cmd, key, address))
            found = [n for n in self.pools.get(key, []) if n['name'] == address]
            if cmd == packet.SUBSCRIBE:
                if found:
                    found[0].update(death_mark=0, last_check=int(time.time()))
                else:
                    self._add(key, address)
            elif found:
                found[0]['death_mark'] = 1
                found[0]['failcnt'] += 1
                if found[0]['ref'] == 0:
                    self._remove(key, found[0])

    def _serve_udp(self):
        while not self.stop.is_set():
            try:
                data = self.udp.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self._handle(data)

    def _document(self):
        with self.lock:
            # A lookup frees the death-marked nodes whose requests completed (core/subscription.c:279).
            for key in list(self.pools):
                for node in [n for n in self.pools[key] if n['death_mark'] and n['ref'] == 0]:
                    self._remove(key, node)
            subscriptions = [{'key': key, 'hash': 0, 'hits': 0, 'sni_enabled': 0, 'nodes': [dict(n) for n in nodes]}
                             for key, nodes in sorted(self.pools.items())]
        return {'version': '2.0.31', 'pid': 1, 'uid': 0, 'gid': 0, 'cwd': '/', 'active_sessions': 0,
                'http': ['127.0.0.1:18080', self.server], 'subscriptions': subscriptions, 'cheap': 0}

    def _serve_tcp(self):
        while not self.stop.is_set():
            try:
                conn, _peer = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                # uWSGI's slip: a comma before the closing bracket of the socket list.
                conn.sendall(json.dumps(self._document()).replace('"], "subscriptions"', '",], "subscriptions"')
                             .encode())
            finally:
                conn.close()

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(2)
        self.udp.close()
        self.tcp.close()


class FakeMaster(object):
    """A node's master: its FIFO (one command per read, created anew after each writer, core/fifo.c:125-141)
    and its announces, every ``interval`` seconds unless blocked (core/subscription.c:1089)."""

    def __init__(self, path, entries, key, interval=0.2, blocked=False):
        self.path = path
        self.announces = [packet.announcement(e, 'test') for e in entries]
        self.signer = lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        self.interval = interval
        self.start_blocked = blocked
        self.blocked = blocked
        self.commands = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self._create()
        self.last = 0.0
        self.thread = threading.Thread(target=self._run)
        self.thread.daemon = True
        self.thread.start()

    def _create(self):
        if os.path.lexists(self.path):
            os.unlink(self.path)
        os.mkfifo(self.path, 0o600)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)

    def reload(self):
        """As a master reload: a new FIFO, the announces as at start, announced at once (core/master.c:813)."""
        with self.lock:
            os.close(self.fd)
            self._create()
            self.blocked = self.start_blocked
            self.last = 0.0

    def announce(self):
        for announce in self.announces:
            packet.send(announce.server, packet.encode(announce, packet.SUBSCRIBE, self.signer,
                                                       unix=int(time.time())))

    def _run(self):
        while not self.stop.is_set():
            with self.lock:
                readable, _w, _x = select.select([self.fd], [], [], 0.02)
                if readable:
                    data = os.read(self.fd, 1)
                    if data:
                        self.commands.append(data)
                        if data == b'S':
                            self.blocked = not self.blocked
                    else:
                        os.close(self.fd)
                        self._create()
                if self.interval and not self.blocked and time.time() - self.last >= self.interval:
                    self.last = time.time()
                    self.announce()
            time.sleep(0.005)

    def close(self):
        if not self.stop.is_set():
            self.stop.set()
            self.thread.join(2)
            os.close(self.fd)


class Topology(object):
    """Two routers, node app1 (NODE, ours) and app2 (OTHER) for app.test on both, app1's master running."""

    def __init__(self, tmp_path, key, keyfile, announce_interval=0.2, blocked=False):
        self.routers = [FakeRouter(key.public_key()), FakeRouter(key.public_key())]
        self.entries = [{'server': r.server, 'key': 'app.test', 'address': NODE, 'signing': ['SHA256', keyfile]}
                        for r in self.routers]
        for router in self.routers:
            router.add('app.test', NODE)
            router.add('app.test', OTHER)
        self.fifo = str(tmp_path / 'app1.fifo')
        self.state_file = str(tmp_path / 'app1.drain')
        self.master = FakeMaster(self.fifo, self.entries, key, interval=announce_interval, blocked=blocked)
        self.node = {
            'instance': 'app1', 'fifo': self.fifo, 'state_file': self.state_file, 'subscriptions': self.entries,
            'routers': [{'name': 'edge-%d' % i, 'server': r.server, 'stats': r.stats, 'keys': ['app.test'],
                         'tolerance': 17} for i, r in enumerate(self.routers)],
            'start_blocked': blocked, 'announce_interval': 1}

    def args(self, state='drained', **kwargs):
        args = {'node': self.node, 'state': state, 'wait_interval': 0.05, 'wait_timeout': 10}
        args.update(kwargs)
        return args

    def record(self):
        with open(self.state_file) as handle:
            return json.load(handle)

    def close(self):
        self.master.close()
        for router in self.routers:
            router.close()


@pytest.fixture
def topology(tmp_path, rsa_key, keyfile):
    topology = Topology(tmp_path, rsa_key, keyfile)
    time.sleep(0.1)  # the first announce
    yield topology
    topology.close()


def _both(state):
    return {'edge-0': {'app.test': state}, 'edge-1': {'app.test': state}}


def test_drain_takes_the_node_out_of_every_pool_at_once_and_keeps_it_out(run_module, topology):
    start = time.monotonic()
    failed, result, warnings = run_module(drain.main, topology.args())
    took = time.monotonic() - start
    assert not failed, result
    assert result['changed'] is True and warnings == []
    assert result['before'] == _both('present') and result['after'] == _both('absent')
    assert result['drained_keys'] == ['app.test']
    assert result['announces'] == {'before': 'sent', 'after': 'blocked', 'source': 'observed'}
    # Gone from both routers within a second, not after their 17 s tolerance.
    assert took < 3 and result['waited'] < 2
    for router in topology.routers:
        assert router.node('app.test', NODE) is None and router.node('app.test', OTHER) is not None
        assert packet.UNSUBSCRIBE in router.commands()
    assert topology.master.commands == [b'S'] and topology.master.blocked
    record = topology.record()
    assert record['blocked'] is True and record['keys'] == ['app.test'] and record['instance'] == 'app1'
    # The master announces every 0.2 s unless blocked: it stays out.
    time.sleep(0.6)
    assert all(r.node('app.test', NODE) is None for r in topology.routers)


def test_draining_twice_changes_nothing_and_writes_no_second_s(run_module, topology):
    assert run_module(drain.main, topology.args())[1]['changed'] is True
    sent = [len(r.commands()) for r in topology.routers]
    failed, result, _warnings = run_module(drain.main, topology.args())
    assert not failed and result['changed'] is False
    assert result['before'] == result['after'] == _both('absent')
    assert result['announces'] == {'before': 'blocked', 'after': 'blocked', 'source': 'recorded'}
    assert topology.master.commands == [b'S'] and result['sent'] == []
    assert [len(r.commands()) for r in topology.routers] == sent


def test_drain_waits_for_the_requests_in_flight(run_module, topology):
    router = topology.routers[0]
    with router.lock:
        router.pools['app.test'][0]['ref'] = 2
    completed = []

    def complete():
        completed.append((time.monotonic(), router.node('app.test', NODE)))
        router.release('app.test', NODE)
        router.release('app.test', NODE)
    timer = threading.Timer(1.0, complete)
    timer.start()
    try:
        failed, result, _warnings = run_module(drain.main, topology.args())
        returned = time.monotonic()
    finally:
        timer.join()
    assert not failed, result
    # Until they completed the router kept the node, death-marked (no new request), and the module waited.
    assert completed and completed[0][1]['death_mark'] == 1 and completed[0][1]['ref'] == 2
    assert returned >= completed[0][0] and result['waited'] > 0.3
    assert result['after'] == _both('absent') and router.node('app.test', NODE) is None


def test_drain_timeout_says_what_is_left_and_the_node_stays_drained(run_module, topology):
    router = topology.routers[1]
    with router.lock:
        router.pools['app.test'][0]['ref'] = 1
    failed, result, _warnings = run_module(drain.main, topology.args(wait_timeout=1))
    assert failed
    assert result['msg'].startswith('wait_timeout: node app1 (127.0.0.1:13031) is not out of every router\'s pool after ')
    assert 'edge-1: app.test draining' in result['msg'] and 'edge-0' not in result['msg'].split(': ', 2)[2]
    assert result['after'] == {'edge-0': {'app.test': 'absent'}, 'edge-1': {'app.test': 'draining'}}
    assert topology.record()['blocked'] is True and topology.master.blocked


def test_unsubscribe_a_router_refuses_is_reported_present(run_module, tmp_path, rsa_key, rogue_key, keyfile):
    topology = Topology(tmp_path, rsa_key, keyfile)
    topology.routers[1].public_key = rogue_key.public_key()  # this router checks another key
    try:
        failed, result, _warnings = run_module(drain.main, topology.args(wait_timeout=2))
    finally:
        topology.close()
    assert failed and 'edge-1: app.test present' in result['msg'] and 'wrong signing key?' in result['msg']
    assert topology.routers[1].refused > 1  # sent again while waiting


def test_undrain_resumes_announces_and_subscribes_at_once(run_module, topology):
    run_module(drain.main, topology.args())
    failed, result, _warnings = run_module(drain.main, topology.args('active'))
    assert not failed, result
    assert result['changed'] is True and result['drained_keys'] == []
    assert result['before'] == _both('absent') and result['after'] == _both('present')
    assert result['announces'] == {'before': 'blocked', 'after': 'sent', 'source': 'recorded'}
    assert topology.master.commands == [b'S', b'S'] and not topology.master.blocked
    assert topology.record()['blocked'] is False
    assert result['waited'] < 1
    again = run_module(drain.main, topology.args('active'))[1]
    assert again['changed'] is False and topology.master.commands == [b'S', b'S']


def test_refuses_to_take_out_the_last_live_node_unless_forced(run_module, topology):
    for router in topology.routers:
        with router.lock:
            # app2 stopped announcing 30 s ago: beyond the tolerance, not live any more.
            router.pools['app.test'][1]['last_check'] -= 30
    failed, result, _warnings = run_module(drain.main, topology.args())
    assert failed
    assert result['msg'].startswith('state: drained would take node app1 (127.0.0.1:13031) out of its pools, and it '
                                    'is the last live node of: edge-0 key \'app.test\'; edge-1 key \'app.test\'')
    assert topology.master.commands == [] and all(packet.UNSUBSCRIBE not in r.commands() for r in topology.routers)
    assert not os.path.exists(topology.state_file)
    failed, result, _warnings = run_module(drain.main, topology.args(force=True))
    assert not failed and result['after'] == _both('absent')


def test_check_mode_reads_and_sends_nothing(run_module, topology):
    failed, result, _warnings = run_module(drain.main, topology.args(), check_mode=True, diff=True)
    assert not failed and result['changed'] is True
    assert result['after'] == _both('absent') and result['sent'] == []
    assert result['diff'] == {
        'before': 'announces: sent\nedge-0 app.test: present\nedge-1 app.test: present\n',
        'after': 'announces: blocked\nedge-0 app.test: absent\nedge-1 app.test: absent\n'}
    assert topology.master.commands == [] and not os.path.exists(topology.state_file)
    assert all(packet.UNSUBSCRIBE not in r.commands() for r in topology.routers)
    assert all(r.node('app.test', NODE) for r in topology.routers)


def test_a_strict_subset_of_the_keys_is_refused(run_module, topology, keyfile):
    topology.node['subscriptions'] = topology.node['subscriptions'] + [
        {'server': topology.routers[0].server, 'key': 'api.test', 'address': NODE, 'signing': ['SHA256', keyfile]}]
    failed, result, _warnings = run_module(drain.main, topology.args(keys=['api.test']))
    assert failed and result['msg'].startswith("keys: names api.test, a part of node app1's keys (api.test, app.test). "
                                               "uWSGI 2.0 can only block all of a node's announces")
    assert topology.master.commands == []


def test_a_reloaded_node_announces_again_and_active_only_confirms_it(run_module, topology):
    run_module(drain.main, topology.args())
    topology.master.reload()  # a new FIFO, announces as at start: sent
    time.sleep(0.3)
    failed, result, _warnings = run_module(drain.main, topology.args('active'))
    assert not failed, result
    assert result['announces'] == {'before': 'sent', 'after': 'sent', 'source': 'observed'}
    assert result['changed'] is False and topology.master.commands == [b'S']


def test_a_node_silent_since_its_fifo_changed_is_taken_as_blocked(run_module, topology):
    run_module(drain.main, topology.args())
    # Someone opened the FIFO for writing (another command): the master makes its FIFO anew.
    os.close(os.open(topology.fifo, os.O_WRONLY | os.O_NONBLOCK))
    time.sleep(0.1)
    start = time.monotonic()
    failed, result, _warnings = run_module(drain.main, topology.args('active'))
    assert not failed, result
    # Silent for more than its announce interval (1 s) + 2 s since: blocked, so S resumes it.
    assert result['announces']['source'] == 'observed' and result['announces']['before'] == 'blocked'
    assert topology.master.commands[-1] == b'S' and not topology.master.blocked
    assert 2.5 < time.monotonic() - start < 6


def test_without_stats_the_packets_are_sent_three_times_and_it_warns(run_module, topology):
    for router in topology.node['routers']:
        router['stats'] = None
    failed, result, warnings = run_module(drain.main, topology.args())
    assert not failed, result
    assert result['after'] == _both('unknown') and result['changed'] is True
    assert any('no stats address' in w for w in warnings)
    time.sleep(0.2)  # the last datagrams reach the routers
    assert all(r.commands().count(packet.UNSUBSCRIBE) == 3 for r in topology.routers)
    assert all(r.node('app.test', NODE) is None for r in topology.routers)
    # Without a record matching the FIFO and without stats, it assumes the start state: the record now matches.
    assert result['announces']['source'] == 'assumed' and topology.master.commands == [b'S']


def test_a_node_that_is_not_running_is_named(run_module, topology):
    topology.master.close()
    failed, result, _warnings = run_module(drain.main, topology.args())
    assert failed and result['msg'].startswith('node.fifo: no process reads %s' % topology.fifo)
