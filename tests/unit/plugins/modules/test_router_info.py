# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.router_info module, run in-process against stats servers
served by the test itself (127.0.0.1 and UNIX sockets it creates)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import socket
import tempfile
import threading

import pytest

from ansible_collections.uwsgi.topology.plugins.modules import router_info

# An http router sharing its instance with a fastrouter, as uWSGI 2.0 writes it: note the
# comma before "]" in the socket list and the raw tab in cwd.
SHARED = (
    '{\n\t"version":"2.0.21-debian",\n\t"pid":77,\n\t"uid":33,\n\t"gid":33,\n\t"cwd":"/srv/a\tb",\n'
    '\t"active_sessions":0,\n\t"http":[\n"0.0.0.0:80",\n"127.0.0.1:2626",\n\n\t],\n'
    '\t"subscriptions":[\n\t\t{\n\t\t\t"key":"app.example.com",\n\t\t\t"hash":1,\n\t\t\t"hits":4,\n'
    '\t\t\t"sni_enabled":1,\n\t\t\t"nodes":[\n'
    '\t\t\t\t{\n\t\t\t\t\t"name":"10.0.0.21:3031",\n\t\t\t\t\t"modifier1":0,\n\t\t\t\t\t"modifier2":0,\n'
    '\t\t\t\t\t"last_check":1700000000,\n\t\t\t\t\t"pid":0,\n\t\t\t\t\t"uid":0,\n\t\t\t\t\t"gid":0,\n'
    '\t\t\t\t\t"requests":4,\n\t\t\t\t\t"last_requests":0,\n\t\t\t\t\t"tx":10,\n\t\t\t\t\t"rx":20,\n'
    '\t\t\t\t\t"cores":2,\n\t\t\t\t\t"load":0,\n\t\t\t\t\t"weight":2,\n\t\t\t\t\t"wrr":0,\n\t\t\t\t\t"ref":0,\n'
    '\t\t\t\t\t"failcnt":0,\n\t\t\t\t\t"death_mark":0\n\t\t\t\t},\n'
    '\t\t\t\t{\n\t\t\t\t\t"name":"10.0.0.22:3031",\n\t\t\t\t\t"modifier1":0,\n\t\t\t\t\t"modifier2":0,\n'
    '\t\t\t\t\t"last_check":1699999000,\n\t\t\t\t\t"pid":0,\n\t\t\t\t\t"uid":0,\n\t\t\t\t\t"gid":0,\n'
    '\t\t\t\t\t"requests":0,\n\t\t\t\t\t"last_requests":0,\n\t\t\t\t\t"tx":0,\n\t\t\t\t\t"rx":0,\n'
    '\t\t\t\t\t"cores":1,\n\t\t\t\t\t"load":0,\n\t\t\t\t\t"weight":1,\n\t\t\t\t\t"wrr":0,\n\t\t\t\t\t"ref":0,\n'
    '\t\t\t\t\t"failcnt":3,\n\t\t\t\t\t"death_mark":1\n\t\t\t\t}\n'
    '\t\t\t]\n\t\t}\n\t],\n\t"cheap":0\n}'
)


class Server(object):
    """Writes the current ``payload`` to each connection and closes it (``None``: close at once)."""

    def __init__(self, payload, unix_path=None):
        self.payload = payload
        self.connections = 0
        family = socket.AF_UNIX if unix_path else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(unix_path or ('127.0.0.1', 0))
        self.address = unix_path or '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            payload = self.payload(self.connections) if callable(self.payload) else self.payload
            try:
                if payload:
                    conn.sendall(payload.encode('utf-8'))
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def serve():
    directory = tempfile.mkdtemp(prefix='uwt-', dir='/tmp')
    servers = []

    def start(payload, unix=False):
        path = os.path.join(directory, 's%d.sock' % len(servers)) if unix else None
        server = Server(payload, path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    shutil.rmtree(directory, ignore_errors=True)


def _free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize('unix', [False, True], ids=['tcp', 'unix'])
@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
def test_reads_pools(run_module, serve, unix, check_mode):
    server = serve(SHARED, unix=unix)
    failed, result, warnings = run_module(router_info.main, {'address': server.address}, check_mode=check_mode)

    assert not failed, result
    assert warnings == []
    assert result['changed'] is False
    assert result['router'] == 'http'
    assert result['sockets'] == ['0.0.0.0:80', '127.0.0.1:2626']
    assert result['static_nodes'] == []
    assert result['waited'] == 0.0
    assert 'missing' not in result
    (pool,) = result['pools']
    assert pool['key'] == 'app.example.com'
    assert pool['hits'] == 4
    assert pool['sni_enabled'] is True
    assert [(n['name'], n['death_mark'], n['weight'], n['failcnt']) for n in pool['nodes']] == [
        ('10.0.0.21:3031', 0, 2, 0), ('10.0.0.22:3031', 1, 1, 3)]
    assert result['raw']['cwd'] == '/srv/a\tb'
    assert result['raw']['subscriptions'][0]['nodes'][0]['tx'] == 10
    json.dumps(result)  # what Ansible will serialize


def test_wait_for_met(run_module, serve):
    # The first two reads show an empty pool table; the node then appears.
    empty = '{"version":"2.0.31","http":["127.0.0.1:8080"],"subscriptions":[\n],"cheap":0}'
    server = serve(lambda n: empty if n < 3 else SHARED)
    failed, result, _warnings = run_module(router_info.main, {
        'address': server.address, 'interval': 0.05, 'wait_timeout': 10,
        'wait_for': [{'key': 'app.example.com', 'nodes': ['10.0.0.21:3031']}],
    })
    assert not failed, result
    assert server.connections == 3
    assert 0 < result['waited'] < 10
    assert result['pools'][0]['key'] == 'app.example.com'


def test_wait_for_exact_false_allows_other_nodes(run_module, serve):
    extra = SHARED.replace('"death_mark":1', '"death_mark":0')
    server = serve(extra)
    args = {'address': server.address, 'wait_timeout': 0, 'wait_for': [{'key': 'app.example.com', 'nodes': ['10.0.0.21:3031']}]}
    failed, result, _warnings = run_module(router_info.main, dict(args, exact=False))
    assert not failed, result
    failed, result, _warnings = run_module(router_info.main, args)
    assert failed
    assert result['missing'][0]['unexpected'] == ['10.0.0.22:3031']


def test_wait_for_timeout_reports_missing(run_module, serve):
    server = serve(SHARED)
    failed, result, _warnings = run_module(router_info.main, {
        'address': server.address, 'interval': 0.05, 'wait_timeout': 0,
        'wait_for': [{'key': 'app.example.com', 'nodes': ['10.0.0.21:3031', '10.0.0.22:3031']},
                     {'key': 'other.example.com', 'nodes': []},
                     {'key': 'new.example.com', 'nodes': ['10.0.0.30:3031']}],
    })
    assert failed
    assert result['msg'].startswith('router stats server %s: the expected pools did not appear' % server.address)
    assert "key 'app.example.com': missing 10.0.0.22:3031 (live: 10.0.0.21:3031)" in result['msg']
    assert "key 'new.example.com': no such pool; missing 10.0.0.30:3031" in result['msg']
    assert result['missing'] == [
        {'key': 'app.example.com', 'present': True, 'expected': ['10.0.0.21:3031', '10.0.0.22:3031'],
         'live': ['10.0.0.21:3031'], 'dead': ['10.0.0.22:3031'], 'missing': ['10.0.0.22:3031'], 'unexpected': []},
        {'key': 'new.example.com', 'present': False, 'expected': ['10.0.0.30:3031'], 'live': [], 'dead': [],
         'missing': ['10.0.0.30:3031'], 'unexpected': []},
    ]
    assert result['router'] == 'http'  # what was seen is returned with the failure
    assert result['pools'][0]['key'] == 'app.example.com'


def test_wait_for_retries_a_router_that_is_not_up(run_module):
    address = '127.0.0.1:%d' % _free_port()
    failed, result, _warnings = run_module(router_info.main, {
        'address': address, 'interval': 0.05, 'wait_timeout': 1,
        'wait_for': [{'key': 'a', 'nodes': ['10.0.0.1:3031']}],
    })
    assert failed
    assert 'could not be read: connection refused' in result['msg']
    assert result['waited'] >= 1
    assert result['missing'][0]['present'] is False
    assert 'router' not in result


def test_connection_refused(run_module):
    address = '127.0.0.1:%d' % _free_port()
    failed, result, _warnings = run_module(router_info.main, {'address': address, 'timeout': 1})
    assert failed
    assert result['msg'].startswith('router stats server %s: connection refused' % address)
    assert result['changed'] is False


def test_missing_unix_socket(run_module):
    failed, result, _warnings = run_module(router_info.main, {'address': '/nonexistent/dir/stats.sock'})
    assert failed
    assert result['msg'] == ('router stats server /nonexistent/dir/stats.sock: no such socket file '
                             '(is the router running, with its stats server on this path?)')


def test_empty_answer(run_module, serve):
    server = serve(None)
    failed, result, _warnings = run_module(router_info.main, {'address': server.address})
    assert failed
    assert 'closed the connection without sending anything' in result['msg']


def test_instance_stats_server_is_refused_without_waiting(run_module, serve):
    server = serve('{"version":"2.0.31","workers":[]}')
    failed, result, _warnings = run_module(router_info.main, {
        'address': server.address, 'wait_timeout': 30, 'wait_for': [{'key': 'a', 'nodes': []}]})
    assert failed
    assert 'instance stats server' in result['msg']
    assert server.connections == 1


@pytest.mark.parametrize('args, fragment', [
    ({'timeout': 0}, 'timeout must be a positive number'),
    ({'interval': -1}, 'interval must be a positive number'),
    ({'wait_timeout': -1}, 'wait_timeout must be 0 or more'),
    ({'address': '127.0.0.1:notaport'}, 'the port must be a number'),
    ({'wait_for': [{'nodes': []}]}, 'key'),
])
def test_bad_parameters(run_module, args, fragment):
    full = {'address': '127.0.0.1:9'}
    full.update(args)
    failed, result, _warnings = run_module(router_info.main, full)
    assert failed
    assert fragment in result['msg']
