# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/stats.py: parsing uWSGI's router stats, reading them over
TCP (127.0.0.1 only) and UNIX sockets created here, and waiting for pools."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import socket
import tempfile
import threading

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import stats

# What a 2.0.31 http router wrote (captured) when it shared its instance with a fastrouter:
# the comma after the last http socket is followed by "]" (corerouter.c writes it because a
# fastrouter socket comes next in the gateway list).
HTTP_SHARED = (
    '{\n\t"version":"2.0.31",\n\t"pid":25007,\n\t"uid":0,\n\t"gid":0,\n\t"cwd":"/tmp/rtest",\n'
    '\t"active_sessions":0,\n\t"http":[\n"127.0.0.1:52626",\n"127.0.0.1:58080",\n\n\t],\n'
    '\t"subscriptions":[\n\t\t{\n\t\t\t"key":"app.example:58080",\n\t\t\t"hash":22727,\n\t\t\t"hits":0,\n'
    '\t\t\t"sni_enabled":0,\n\t\t\t"nodes":[\n\t\t\t\t{\n\t\t\t\t\t"name":"127.0.0.1:53031",\n'
    '\t\t\t\t\t"modifier1":0,\n\t\t\t\t\t"modifier2":0,\n\t\t\t\t\t"last_check":1795432470,\n'
    '\t\t\t\t\t"pid":0,\n\t\t\t\t\t"uid":0,\n\t\t\t\t\t"gid":0,\n\t\t\t\t\t"requests":0,\n'
    '\t\t\t\t\t"last_requests":0,\n\t\t\t\t\t"tx":0,\n\t\t\t\t\t"rx":0,\n\t\t\t\t\t"cores":1,\n'
    '\t\t\t\t\t"load":0,\n\t\t\t\t\t"weight":1,\n\t\t\t\t\t"wrr":0,\n\t\t\t\t\t"ref":0,\n'
    '\t\t\t\t\t"failcnt":0,\n\t\t\t\t\t"death_mark":0\n\t\t\t\t}\n\t\t\t]\n\t\t}\n\t],\n\t"cheap":0\n}'
)


def _node(name, death_mark=0, requests=0, **extra):
    node = {'name': name, 'modifier1': 0, 'modifier2': 0, 'last_check': 1700000000, 'pid': 0, 'uid': 0,
            'gid': 0, 'requests': requests, 'last_requests': 0, 'tx': 0, 'rx': 0, 'cores': 1, 'load': 0,
            'weight': 1, 'wrr': 0, 'ref': 0, 'failcnt': 0, 'death_mark': death_mark}
    node.update(extra)
    return node


def _doc(router='fastrouter', sockets=('127.0.0.1:3017', '127.0.0.1:2626'), subscriptions=None,
         static_nodes=None, ssl=True):
    """A stats document in the shape corerouter.c writes (valid JSON, uWSGI's layout)."""
    doc = {'version': '2.0.21-debian', 'pid': 4321, 'uid': 33, 'gid': 33, 'cwd': '/', 'active_sessions': 0,
           router: list(sockets)}
    if static_nodes is not None:
        doc['static_nodes'] = static_nodes
    if subscriptions is not None:
        slots = []
        for key, nodes in subscriptions:
            slot = {'key': key, 'hash': 7, 'hits': 3}
            if ssl:
                slot['sni_enabled'] = 0
            slot['nodes'] = nodes
            slots.append(slot)
        doc['subscriptions'] = slots
    doc['cheap'] = 0
    return json.dumps(doc, indent='\t')


# --- parse_stats -----------------------------------------------------------------------------

def test_parses_the_stray_comma_of_a_shared_instance():
    data = stats.parse_stats(HTTP_SHARED)
    assert data['http'] == ['127.0.0.1:52626', '127.0.0.1:58080']
    assert data['subscriptions'][0]['nodes'][0]['death_mark'] == 0


def test_valid_json_is_taken_as_it_is():
    text = _doc(subscriptions=[('a.example', [_node('10.0.0.1:3031')])])
    assert stats.parse_stats(text) == json.loads(text)


@pytest.mark.parametrize('text, expected', [
    ('{"http":["a",\n]}', {'http': ['a']}),
    ('{"http":["a",\n],\n"cheap":0,\n}', {'http': ['a'], 'cheap': 0}),
    ('{"x":[{"k":1},\n,\n{"k":2}]}', {'x': [{'k': 1}, {'k': 2}]}),       # comma before a chained slot
    ('{"x":[\n,{"k":1}]}', {'x': [{'k': 1}]}),                             # leading comma
    ('{"x":[{"k":1},\n\n\t]}', {'x': [{'k': 1}]}),
    ('{"x":",]"}', {'x': ',]'}),                                           # commas in strings stay
])
def test_repairs_stray_commas_and_nothing_else(text, expected):
    assert stats.parse_stats(text) == expected


def test_unescaped_control_characters_and_backslashes_in_strings():
    # uWSGI writes strings raw (stats.c): a cwd with a tab, a key with a newline and a backslash.
    text = '{"cwd":"/srv/a\tb","http":["x",],"subscriptions":[{"key":"a\nb\\c","hits":0,"nodes":[]}]}'
    data = stats.parse_stats(text)
    assert data['cwd'] == '/srv/a\tb'
    assert data['subscriptions'][0]['key'] == 'a\nb\\c'


def test_raw_quote_inside_a_string():
    data = stats.parse_stats('{"cwd":"/srv/my "app"","http":[]}')
    assert data['cwd'] == '/srv/my "app"'


def test_valid_escapes_are_kept():
    data = stats.parse_stats('{"cwd":"a\\"b\\u0041\\\\","http":[],}')
    assert data['cwd'] == 'a"bA\\'


def test_minified_output():
    text = '{"version":"2.0.31","pid":1,"http":["127.0.0.1:80",],"cheap":0}'
    assert stats.parse_stats(text)['http'] == ['127.0.0.1:80']


def test_stats_http_headers_are_dropped():
    text = 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"http":[]}'
    assert stats.parse_stats(text) == {'http': []}


@pytest.mark.parametrize('text, fragment', [
    ('', 'without sending anything'),
    ('   \n', 'without sending anything'),
    ('<html>nope</html>', 'not JSON'),
    ('{"http": [1, 2', 'not JSON'),
    ('[1, 2]', 'not an object'),
])
def test_bad_answers_are_named(text, fragment):
    with pytest.raises(stats.StatsError) as caught:
        stats.parse_stats(text, '127.0.0.1:9191')
    assert fragment in str(caught.value)
    assert '127.0.0.1:9191' in str(caught.value)
    assert not caught.value.retryable


def test_repair_is_the_identity_on_valid_json():
    text = _doc(subscriptions=[('a"b', [_node('x')])], static_nodes=[{'name': 'n', 'hits': 0, 'grace': 0}])
    assert stats.repair_json(text) == text


# --- router_name, pools, summary -------------------------------------------------------------

@pytest.mark.parametrize('router', stats.ROUTER_KEYS)
def test_router_name(router):
    assert stats.router_name(json.loads(_doc(router=router))) == router


@pytest.mark.parametrize('doc, fragment', [
    ({'version': '2.0', 'peers': []}, 'tuntap'),
    ({'version': '2.0', 'workers': []}, 'instance stats server'),
    ({'version': '2.0'}, 'names none of the routers'),
    ({'http': 'not a list'}, 'names none of the routers'),
])
def test_not_a_router(doc, fragment):
    with pytest.raises(stats.StatsError) as caught:
        stats.router_name(doc, '/run/x.sock')
    assert fragment in str(caught.value)
    assert not caught.value.retryable


def test_pools_keep_uwsgi_field_names():
    data = json.loads(_doc(subscriptions=[
        ('a.example', [_node('10.0.0.1:3031', requests=5, ref=2, failcnt=1), _node('10.0.0.2:3031', death_mark=1)]),
        ('b.example:8443', []),
    ]))
    result = stats.pools(data)
    assert [p['key'] for p in result] == ['a.example', 'b.example:8443']
    first = result[0]
    assert first['hits'] == 3 and first['sni_enabled'] is False
    assert first['nodes'][0] == {'name': '10.0.0.1:3031', 'weight': 1, 'requests': 5, 'death_mark': 0,
                                 'failcnt': 1, 'ref': 2, 'last_check': 1700000000, 'modifier1': 0,
                                 'pid': 0, 'uid': 0, 'gid': 0}
    assert first['nodes'][1]['death_mark'] == 1
    assert result[1]['nodes'] == []


def test_pools_without_ssl_have_no_sni_enabled_and_tolerate_odd_entries():
    data = json.loads(_doc(subscriptions=[('a', [_node('n')])], ssl=False))
    data['subscriptions'].append('junk')
    data['subscriptions'][0]['nodes'].append(7)
    (pool,) = stats.pools(data)
    assert 'sni_enabled' not in pool
    assert [n['name'] for n in pool['nodes']] == ['n']
    assert stats.pools({'http': []}) == []


def test_summary():
    data = stats.parse_stats(_doc(router='rawrouter', static_nodes=[{'name': '10.0.0.9:3031', 'hits': 1, 'grace': 0}]))
    assert stats.summary(data) == {
        'router': 'rawrouter',
        'sockets': ['127.0.0.1:3017', '127.0.0.1:2626'],
        'pools': [],
        'static_nodes': [{'name': '10.0.0.9:3031', 'hits': 1, 'grace': 0}],
    }


# --- addresses -------------------------------------------------------------------------------

@pytest.mark.parametrize('address, expected', [
    ('127.0.0.1:9191', (socket.AF_INET, ('127.0.0.1', 9191))),
    (':9191', (socket.AF_INET, ('127.0.0.1', 9191))),
    ('0.0.0.0:9191', (socket.AF_INET, ('127.0.0.1', 9191))),
    ('[::1]:9191', (socket.AF_INET, ('::1', 9191))),
    ('[::]:9191', (socket.AF_INET, ('::1', 9191))),
    ('localhost:9191', (socket.AF_INET, ('localhost', 9191))),
    ('/run/uwsgi/stats.sock', (socket.AF_UNIX, '/run/uwsgi/stats.sock')),
    ('@router-stats', (socket.AF_UNIX, '\0router-stats')),
])
def test_parse_address(address, expected):
    assert stats.parse_address(address) == expected


@pytest.mark.parametrize('address', ['', '  ', '127.0.0.1:', '127.0.0.1:http', '127.0.0.1:0', '127.0.0.1:70000', None])
def test_bad_addresses(address):
    with pytest.raises(stats.StatsError) as caught:
        stats.parse_address(address)
    assert not caught.value.retryable


# --- reading from local servers ----------------------------------------------------------------

class StatsServer(object):
    """Serves ``payload`` to every connection on 127.0.0.1 or a UNIX socket, then closes it.

    ``mode``: ``serve`` (write and close), ``silent`` (accept, never write), or
    ``slow`` (write half, then hang).
    """

    def __init__(self, payload, unix_path=None, mode='serve'):
        self.payload = payload.encode('utf-8') if isinstance(payload, str) else payload
        self.mode = mode
        self.connections = 0
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            self.address = unix_path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(('127.0.0.1', 0))
            self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self._stop = threading.Event()
        self._held = []
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
            if self.mode == 'silent':
                self._held.append(conn)
                continue
            if self.mode == 'slow':
                conn.sendall(self.payload[:len(self.payload) // 2])
                self._held.append(conn)
                continue
            try:
                conn.sendall(self.payload)
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def short_dir():
    # UNIX socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix='uwt-', dir='/tmp')
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def serve(short_dir):
    servers = []

    def start(payload, unix=False, mode='serve'):
        path = os.path.join(short_dir, 'stats%d.sock' % len(servers)) if unix else None
        server = StatsServer(payload, path, mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_read_over_tcp(serve):
    server = serve(HTTP_SHARED)
    assert stats.read_stats(server.address, 2) == HTTP_SHARED
    data = stats.fetch(server.address, 2)
    assert stats.summary(data, server.address)['sockets'] == ['127.0.0.1:52626', '127.0.0.1:58080']


def test_read_over_unix(serve):
    server = serve(_doc(subscriptions=[('a.example', [_node('10.0.0.1:3031')])]), unix=True)
    data = stats.fetch(server.address, 2)
    assert stats.router_name(data) == 'fastrouter'
    assert stats.pools(data)[0]['nodes'][0]['name'] == '10.0.0.1:3031'


def test_read_a_large_answer(serve):
    nodes = [_node('10.0.%d.%d:3031' % (i // 250, i % 250)) for i in range(3000)]
    server = serve(_doc(subscriptions=[('big', nodes)]))
    assert len(stats.pools(stats.fetch(server.address, 5))[0]['nodes']) == 3000


def test_not_a_router_is_not_retryable(serve):
    server = serve('{"version":"2.0.31","workers":[]}')
    with pytest.raises(stats.StatsError) as caught:
        stats.fetch(server.address, 2)
    assert 'instance stats server' in str(caught.value)
    assert not caught.value.retryable


def _free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_names_the_address():
    address = '127.0.0.1:%d' % _free_port()
    with pytest.raises(stats.StatsError) as caught:
        stats.read_stats(address, 2)
    assert str(caught.value).startswith('router stats server %s: connection refused' % address)
    assert caught.value.retryable


def test_missing_unix_socket(short_dir):
    path = os.path.join(short_dir, 'none.sock')
    with pytest.raises(stats.StatsError) as caught:
        stats.read_stats(path, 2)
    assert path in str(caught.value) and 'no such socket file' in str(caught.value)
    assert caught.value.retryable


@pytest.mark.parametrize('mode, fragment', [('silent', 'no answer within'), ('slow', 'no complete answer within')])
def test_timeout_bounds_the_whole_read(serve, mode, fragment):
    server = serve(HTTP_SHARED, mode=mode)
    with pytest.raises(stats.StatsError) as caught:
        stats.read_stats(server.address, 0.3)
    assert fragment in str(caught.value)
    assert server.address in str(caught.value)
    assert caught.value.retryable


# --- waiting ---------------------------------------------------------------------------------

class Clock(object):
    """A fake clock that sleep() advances; no real waiting in these tests."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _reader(docs):
    """read() returning the documents in order (the last one forever); exceptions are raised."""
    docs = list(docs)

    def read():
        item = docs.pop(0) if len(docs) > 1 else docs[0]
        if isinstance(item, Exception):
            raise item
        return json.loads(item)
    return read


A = ('a.example', [_node('10.0.0.1:3031'), _node('10.0.0.2:3031')])


@pytest.mark.parametrize('expected, exact, met', [
    (['10.0.0.1:3031', '10.0.0.2:3031'], True, True),
    (['10.0.0.2:3031', '10.0.0.1:3031', '10.0.0.1:3031'], True, True),
    (['10.0.0.1:3031'], True, False),
    (['10.0.0.1:3031'], False, True),
    (['10.0.0.1:3031', '10.0.0.3:3031'], False, False),
    ([], False, True),
    ([], True, False),
])
def test_check_pools(expected, exact, met):
    current = stats.pools(json.loads(_doc(subscriptions=[A])))
    unmet = stats.check_pools(current, [{'key': 'a.example', 'nodes': expected}], exact)
    assert (unmet == []) is met


def test_check_pools_counts_only_live_nodes_and_reports_details():
    current = stats.pools(json.loads(_doc(subscriptions=[
        ('a.example', [_node('10.0.0.1:3031'), _node('10.0.0.2:3031', death_mark=1), _node('10.0.0.4:3031')])])))
    unmet = stats.check_pools(current, [{'key': 'a.example', 'nodes': ['10.0.0.1:3031', '10.0.0.2:3031']},
                                        {'key': 'nope', 'nodes': []},
                                        {'key': 'gone', 'nodes': ['10.0.0.1:3031']}])
    assert unmet == [
        {'key': 'a.example', 'present': True, 'expected': ['10.0.0.1:3031', '10.0.0.2:3031'],
         'live': ['10.0.0.1:3031', '10.0.0.4:3031'], 'dead': ['10.0.0.2:3031'],
         'missing': ['10.0.0.2:3031'], 'unexpected': ['10.0.0.4:3031']},
        {'key': 'gone', 'present': False, 'expected': ['10.0.0.1:3031'], 'live': [], 'dead': [],
         'missing': ['10.0.0.1:3031'], 'unexpected': []},
    ]


def test_wait_succeeds_once_the_node_appears():
    clock = Clock()
    read = _reader([_doc(subscriptions=[]), _doc(subscriptions=[('a.example', [_node('10.0.0.1:3031')])])])
    data, waited = stats.wait(read, [{'key': 'a.example', 'nodes': ['10.0.0.1:3031']}],
                              wait_timeout=10, interval=0.5, clock=clock, sleep=clock.sleep)
    assert waited == 0.5
    assert clock.sleeps == [0.5]
    assert data['subscriptions'][0]['key'] == 'a.example'


def test_wait_retries_connection_errors():
    clock = Clock()
    refused = stats.StatsError('127.0.0.1:1', 'connection refused', retryable=True)
    read = _reader([refused, refused, _doc(subscriptions=[A])])
    _data, waited = stats.wait(read, [{'key': 'a.example', 'nodes': ['10.0.0.1:3031', '10.0.0.2:3031']}],
                               wait_timeout=10, interval=1, clock=clock, sleep=clock.sleep)
    assert waited == 2


def test_wait_raises_a_non_retryable_error_at_once():
    clock = Clock()
    read = _reader([stats.StatsError('x', 'not JSON')])
    with pytest.raises(stats.StatsError):
        stats.wait(read, [{'key': 'a', 'nodes': []}], clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_wait_timeout_says_what_is_missing():
    clock = Clock()
    read = _reader([_doc(subscriptions=[('a.example', [_node('10.0.0.1:3031'), _node('10.0.0.9:3031')])])])
    with pytest.raises(stats.WaitTimeout) as caught:
        stats.wait(read, [{'key': 'a.example', 'nodes': ['10.0.0.1:3031', '10.0.0.2:3031']}],
                   wait_timeout=3, interval=1, address='127.0.0.1:9191', clock=clock, sleep=clock.sleep)
    exc = caught.value
    assert exc.waited == 3
    assert clock.sleeps == [1, 1, 1]
    assert exc.unmet[0]['missing'] == ['10.0.0.2:3031']
    assert exc.unmet[0]['unexpected'] == ['10.0.0.9:3031']
    assert exc.data['cheap'] == 0
    message = str(exc)
    assert message.startswith('router stats server 127.0.0.1:9191: the expected pools did not appear within 3.0 s')
    assert "key 'a.example': missing 10.0.0.2:3031; unexpected 10.0.0.9:3031 (live: 10.0.0.1:3031, 10.0.0.9:3031)" in message


def test_wait_timeout_without_any_read():
    clock = Clock()
    read = _reader([stats.StatsError('127.0.0.1:1', 'connection refused', retryable=True)])
    with pytest.raises(stats.WaitTimeout) as caught:
        stats.wait(read, [{'key': 'a', 'nodes': ['n']}], wait_timeout=2, interval=0.75,
                   address='127.0.0.1:1', clock=clock, sleep=clock.sleep)
    exc = caught.value
    assert clock.sleeps == [0.75, 0.75, 0.5]  # the last sleep stops at the deadline
    assert exc.data is None
    assert exc.unmet == [{'key': 'a', 'present': False, 'expected': ['n'], 'live': [], 'dead': [],
                          'missing': ['n'], 'unexpected': []}]
    assert 'could not be read: connection refused' in str(exc)


def test_wait_zero_timeout_reads_once():
    clock = Clock()
    read = _reader([_doc(subscriptions=[])])
    with pytest.raises(stats.WaitTimeout):
        stats.wait(read, [{'key': 'a', 'nodes': ['n']}], wait_timeout=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_wait_against_a_live_server(serve):
    server = serve(_doc(subscriptions=[A]))
    data, waited = stats.wait(lambda: stats.fetch(server.address, 2),
                              [{'key': 'a.example', 'nodes': ['10.0.0.2:3031']}], exact=False,
                              wait_timeout=5, interval=0.1)
    assert waited < 5
    assert server.connections == 1
    assert stats.router_name(data) == 'fastrouter'
