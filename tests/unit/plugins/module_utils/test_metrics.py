# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the router metrics: figures from stats documents, the Prometheus exposition (checked
by Debian's promtool, which must be installed: scripts/apt-deps.sh installs it), and the exporter's
WSGI application against stats servers the test serves itself on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import errors, metrics, stats

NOW = 1700000100.4
APP = ['10.0.0.21:3031', '10.0.0.22:3031', '10.0.0.23:3031']


def node(name, last_check=1700000099, death_mark=0, **fields):
    out = {'name': name, 'modifier1': 0, 'modifier2': 0, 'last_check': last_check, 'pid': 0, 'uid': 0, 'gid': 0,
           'requests': 5, 'last_requests': 1, 'tx': 700, 'rx': 300, 'cores': 1, 'load': 0, 'weight': 2, 'wrr': 0,
           'ref': 1, 'failcnt': 0, 'death_mark': death_mark}
    out.update(fields)
    return out


def document(pools, version='2.0.31', active_sessions=3):
    return {'version': version, 'pid': 77, 'uid': 0, 'gid': 0, 'cwd': '/', 'active_sessions': active_sessions,
            'http': ['127.0.0.1:18080', '127.0.0.1:12626'],
            'subscriptions': [{'key': key, 'hash': 1, 'hits': 40, 'sni_enabled': 0, 'nodes': nodes}
                              for key, nodes in pools],
            'cheap': 0}


def entry(name='edge', stats_address='127.0.0.1:19191', tolerance=10, expect=None):
    return {'router': name, 'type': 'http', 'stats': stats_address, 'tolerance': tolerance,
            'expect': {'app.test': list(APP)} if expect is None else expect}


def fake_fetch(documents):
    """A stats.fetch that answers from {address: document} and refuses other addresses."""
    def fetch(address, timeout):
        if address not in documents:
            raise stats.StatsError(address, 'connection refused (is the router running, with its stats server on '
                                            'this address?)', retryable=True)
        return documents[address]
    return fetch


def by_key(figures, key):
    return [k for k in figures['keys'] if k['key'] == key][0]


def member(key_figures, name):
    return [m for m in key_figures['members'] if m['node'] == name][0]


def sample_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith('#')]


def value(text, name, **labels):
    """The value of the one sample of ``name`` with exactly ``labels`` (None when there is none)."""
    wanted = '%s{%s}' % (name, ','.join('%s="%s"' % (k, v) for k, v in labels.items()))
    found = [line.rsplit(' ', 1)[1] for line in sample_lines(text) if line.rsplit(' ', 1)[0] == wanted]
    assert len(found) <= 1, found
    return found[0] if found else None


# ---------------------------------------------------------------- figures


def test_a_node_is_live_within_the_tolerance_and_without_a_death_mark():
    data = document([('app.test', [
        node(APP[0], last_check=1700000090),                  # 10 s ago: uWSGI keeps it (now - last > 10 is dead)
        node(APP[1], last_check=1700000089),                  # 11 s ago: past the tolerance, not yet marked
        node(APP[2], last_check=1700000099, death_mark=1),    # marked dead by the router
    ])])
    figures = metrics.router_figures(entry(), data, NOW)
    app = by_key(figures, 'app.test')
    assert app['nodes'] == 1 and app['expected'] == 3
    assert app['live'] == [APP[0]]
    assert app['missing'] == [APP[1], APP[2]]
    assert [m['live'] for m in app['members']] == [True, False, False]
    assert member(app, APP[1])['death_mark'] == 0
    assert member(app, APP[2])['death_mark'] == 1
    assert member(app, APP[0])['last_announce_age'] == 10.4


def test_planned_nodes_the_router_does_not_know_are_missing_with_no_figures():
    data = document([('app.test', [node(APP[0])])])
    app = by_key(metrics.router_figures(entry(), data, NOW), 'app.test')
    assert [m['node'] for m in app['members']] == APP
    absent = member(app, APP[2])
    assert absent['present'] is False and absent['planned'] is True and absent['live'] is False
    assert absent['requests'] is None and absent['last_announce_age'] is None
    assert app['missing'] == APP[1:]


def test_keys_on_either_side_only():
    """A key the plan names that the router lacks counts 0 live nodes; a key the router has that the
    plan does not name has no expected count, its nodes are reported all the same."""
    data = document([('other.test', [node('10.0.0.9:3031')])])
    figures = metrics.router_figures(entry(), data, NOW)
    assert [k['key'] for k in figures['keys']] == ['app.test', 'other.test']
    app, other = figures['keys']
    assert (app['nodes'], app['expected'], app['lookups']) == (0, 3, None)
    assert (other['nodes'], other['expected'], other['lookups'], other['missing']) == (1, None, 40, [])
    assert member(other, '10.0.0.9:3031')['planned'] is False


def test_node_counters_keep_uwsgis_values_and_directions():
    data = document([('app.test', [node(APP[0], requests=12, tx=7000, rx=3000, failcnt=2, ref=4, weight=3)])])
    got = member(by_key(metrics.router_figures(entry(), data, NOW), 'app.test'), APP[0])
    assert (got['requests'], got['transmit_bytes'], got['receive_bytes']) == (12, 7000, 3000)
    assert (got['failures'], got['in_flight'], got['weight']) == (2, 4, 3)


def test_a_down_router_has_no_pools_but_keeps_its_plan():
    figures = metrics.read_router(entry(), NOW, fetch=fake_fetch({}))
    assert figures['up'] is False
    assert 'connection refused' in figures['error']
    assert figures['keys'] == [{'key': 'app.test', 'nodes': None, 'expected': 3, 'lookups': None, 'live': [],
                                'missing': None, 'members': []}]


def test_a_node_listed_twice_is_counted_once():
    data = document([('app.test', [node(APP[0])]), ('app.test', [node(APP[0]), node(APP[1])])])
    app = by_key(metrics.router_figures(entry(), data, NOW), 'app.test')
    assert app['nodes'] == 2 and app['lookups'] == 80
    assert [m['node'] for m in app['members']] == APP


def test_fields_uwsgi_did_not_write_are_left_out():
    data = document([('app.test', [{'name': APP[0], 'death_mark': 0}])])
    data['active_sessions'] = 'x'
    figures = metrics.router_figures(entry(), data, NOW)
    got = member(by_key(figures, 'app.test'), APP[0])
    assert got['live'] is False and got['last_announce_age'] is None and got['requests'] is None
    assert figures['active_sessions'] is None
    text = metrics.render([figures])
    assert value(text, 'uwsgi_router_node_requests_total', router='edge', key='app.test', node=APP[0]) is None
    assert value(text, 'uwsgi_router_node_live', router='edge', key='app.test', node=APP[0]) == '0'
    assert value(text, 'uwsgi_router_active_sessions', router='edge') is None


@pytest.mark.parametrize('routers, message', [
    ({}, 'routers: must be a list'),
    ([{'stats': '127.0.0.1:1'}], "routers[0].router: must be the router's name"),
    ([{'router': 'a'}], 'routers[0].stats: router a'),
    ([{'router': 'a', 'stats': 'x', 'tolerance': '9'}], 'routers[0].tolerance'),
    ([{'router': 'a', 'stats': 'x', 'expect': {'k': 'n'}}], 'routers[0].expect'),
    ([{'router': 'a', 'stats': 'x'}, {'router': 'a', 'stats': 'y'}], "routers[1].router: 'a' is listed twice"),
])
def test_bad_router_entries_are_refused_by_name(routers, message):
    with pytest.raises(metrics.ConfigError) as caught:
        metrics.check_routers(routers)
    assert message in str(caught.value)


def test_tolerance_defaults_to_uwsgis():
    assert metrics.check_routers([{'router': 'a', 'stats': 'x'}])[0]['tolerance'] == 17


# ---------------------------------------------------------------- the exposition


def _figures():
    """Two replicas of one instance and a second router that is down; one node gone silent, one planned
    node unknown to the router, a key with characters the format escapes."""
    first = document([('app.test', [node(APP[0]), node(APP[1], last_check=1700000080)]),
                      ('api.test', [node('10.0.0.31:3031', requests=9)])])
    second = document([('app.test', [node(APP[0]), node(APP[1])]), ('a"b\\c', [node('10.0.0.41:3031')])],
                      active_sessions=0)
    routers = [entry('edge', '127.0.0.1:19191', expect={'app.test': APP, 'api.test': ['10.0.0.31:3031']}),
               entry('edge.r1', '127.0.0.1:19192', expect={'app.test': APP, 'api.test': ['10.0.0.31:3031']}),
               entry('core', '127.0.0.1:19300', tolerance=17, expect={'app.test': ['10.0.0.5:8000']})]
    return metrics.collect(routers, NOW, fetch=fake_fetch({'127.0.0.1:19191': first, '127.0.0.1:19192': second}))


def test_exposition_names_types_and_values():
    text = metrics.render(_figures())
    types = dict(re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M))
    assert sorted(types) == sorted(metrics.PREFIX + name for name, _kind, _help in metrics.FAMILIES)
    for name, kind in types.items():
        assert name.startswith('uwsgi_router_')
        assert name.endswith('_total') == (kind == 'counter'), name
    # Each family once, HELP before TYPE before its samples.
    assert len(re.findall(r'^# HELP ', text, re.M)) == len(metrics.FAMILIES)
    assert value(text, 'uwsgi_router_up', router='edge') == '1'
    assert value(text, 'uwsgi_router_up', router='core') == '0'
    assert value(text, 'uwsgi_router_build_info', router='edge', version='2.0.31') == '1'
    assert value(text, 'uwsgi_router_build_info', router='core', version='2.0.31') is None
    assert value(text, 'uwsgi_router_subscription_tolerance_seconds', router='core') == '17'
    assert value(text, 'uwsgi_router_nodes', router='edge', key='app.test') == '1'
    assert value(text, 'uwsgi_router_nodes', router='edge.r1', key='app.test') == '2'
    assert value(text, 'uwsgi_router_nodes_expected', router='edge', key='app.test') == '3'
    assert value(text, 'uwsgi_router_nodes_expected', router='core', key='app.test') == '1'
    assert value(text, 'uwsgi_router_nodes', router='core', key='app.test') is None
    assert value(text, 'uwsgi_router_node_live', router='edge', key='app.test', node=APP[1]) == '0'
    assert value(text, 'uwsgi_router_node_live', router='edge', key='app.test', node=APP[2]) == '0'
    assert value(text, 'uwsgi_router_node_death_mark', router='edge', key='app.test', node=APP[1]) == '0'
    assert value(text, 'uwsgi_router_node_last_announce_age_seconds', router='edge', key='app.test',
                 node=APP[1]) == '20.4'
    assert value(text, 'uwsgi_router_node_requests_total', router='edge', key='api.test',
                 node='10.0.0.31:3031') == '9'
    assert value(text, 'uwsgi_router_node_transmit_bytes_total', router='edge', key='api.test',
                 node='10.0.0.31:3031') == '700'
    assert value(text, 'uwsgi_router_node_receive_bytes_total', router='edge', key='api.test',
                 node='10.0.0.31:3031') == '300'
    assert value(text, 'uwsgi_router_key_lookups_total', router='edge.r1', key='app.test') == '40'
    assert value(text, 'uwsgi_router_active_sessions', router='edge.r1') == '0'
    # Label values are escaped as the format says: backslash, double quote.
    assert value(text, 'uwsgi_router_nodes', router='edge.r1', key='a\\"b\\\\c') == '1'
    # No label beyond router, key, node (and version on build_info).
    for line in sample_lines(text):
        names = set(re.findall(r'([a-z_]+)="', line.split('{', 1)[1]))
        assert names <= {'router', 'key', 'node', 'version'}, line
        assert 'version' not in names or line.startswith('uwsgi_router_build_info{')
    assert text.endswith('\n')


def test_the_same_figures_render_the_same_text():
    assert metrics.render(_figures()) == metrics.render(_figures())


def _promtool():
    path = shutil.which('promtool')
    if path is None:
        pytest.fail('promtool is not installed: it comes with Debian\'s prometheus package (scripts/apt-deps.sh '
                    'installs it; scripts/apt-deps.sh prometheus)')
    return path


def _promtool_check(text):
    proc = subprocess.run([_promtool(), 'check', 'metrics'], input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
    return proc.returncode, proc.stdout


def test_promtool_accepts_the_exposition():
    text = metrics.render(_figures())
    assert len(sample_lines(text)) > 40
    returncode, output = _promtool_check(text)
    assert (returncode, output.strip()) == (0, ''), output


def test_promtool_accepts_an_exposition_without_routers():
    returncode, output = _promtool_check(metrics.render([]))
    assert (returncode, output.strip()) == (0, ''), output


@pytest.mark.parametrize('bad, complaint', [
    ('# HELP uwsgi_router_node_requests counted\n# TYPE uwsgi_router_node_requests counter\n'
     'uwsgi_router_node_requests{router="edge"} 1\n', '_total'),
    ('# HELP uwsgi_router_up up\n# TYPE uwsgi_router_up gauge\nuwsgi_router_up{router="edge} 1\n', ''),
])
def test_promtool_refuses_what_the_naming_rules_forbid(bad, complaint):
    """The check above can fail: promtool refuses a counter without _total and a broken line."""
    returncode, output = _promtool_check(bad)
    assert returncode != 0, output
    assert complaint in output


# ---------------------------------------------------------------- the exporter


class StatsServer(object):
    """Writes ``payload`` (JSON text) to each connection and closes it, as a router's stats server does."""

    def __init__(self, payload):
        self.payload = payload
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
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
            try:
                conn.sendall(self.payload.encode('utf-8'))
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def stats_server():
    servers = []

    def start(payload):
        server = StatsServer(payload)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def call(environ):
    seen = {}

    def start_response(status, headers):
        seen['status'] = status
        seen['headers'] = dict(headers)

    body = b''.join(metrics.application(environ, start_response))
    return seen['status'], seen['headers'], body.decode('utf-8')


def test_exporter_serves_every_router_with_its_stats_and_a_down_one(stats_server, monkeypatch):
    # uWSGI's slip: a comma before "]" in the socket list (stats.repair_json mends it).
    data = document([('app.test', [node(APP[0], last_check=int(time.time()))])])
    text = json.dumps(data).replace('"127.0.0.1:12626"]', '"127.0.0.1:12626",]')
    server = stats_server(text)
    config = {'routers': [entry('edge', server.address),
                          entry('gone', '127.0.0.1:%d' % _closed_port(), expect={'app.test': [APP[0]]})],
              'timeout': 1}
    monkeypatch.setenv(metrics.CONFIG_ENV, json.dumps(config))
    status, headers, body = call({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/metrics'})
    assert status == '200 OK'
    assert headers['Content-Type'] == 'text/plain; version=0.0.4; charset=utf-8'
    assert int(headers['Content-Length']) == len(body.encode('utf-8'))
    assert value(body, 'uwsgi_router_up', router='edge') == '1'
    assert value(body, 'uwsgi_router_up', router='gone') == '0'
    assert value(body, 'uwsgi_router_nodes', router='edge', key='app.test') == '1'
    assert value(body, 'uwsgi_router_nodes_expected', router='gone', key='app.test') == '1'
    assert _promtool_check(body)[0] == 0

    status, headers, head = call({'REQUEST_METHOD': 'HEAD', 'PATH_INFO': '/metrics'})
    assert (status, head) == ('200 OK', '')


@pytest.mark.parametrize('environ, status', [
    ({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/'}, '200 OK'),
    ({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/other'}, '404 Not Found'),
    ({'REQUEST_METHOD': 'POST', 'PATH_INFO': '/metrics'}, '405 Method Not Allowed'),
])
def test_exporter_other_requests(environ, status, monkeypatch):
    monkeypatch.setenv(metrics.CONFIG_ENV, json.dumps({'routers': []}))
    assert call(environ)[0] == status


@pytest.mark.parametrize('config, message', [
    (None, 'TOPOLOGY_METRICS_CONFIG is not set'),
    ('{', 'is not JSON'),
    ('[]', 'must be a JSON object'),
    ('{"routers": [], "timeout": 0}', 'timeout must be a positive number'),
    ('{"routers": [{"router": "a"}]}', 'TOPOLOGY_METRICS_CONFIG: routers[0].stats'),
])
def test_exporter_says_what_is_wrong_with_its_configuration(config, message, monkeypatch):
    if config is None:
        monkeypatch.delenv(metrics.CONFIG_ENV, raising=False)
    else:
        monkeypatch.setenv(metrics.CONFIG_ENV, config)
    status, _headers, body = call({'REQUEST_METHOD': 'GET', 'PATH_INFO': '/metrics'})
    assert status == '500 Internal Server Error'
    assert message in body


def test_the_exporter_imports_nothing_from_ansible():
    """On a router host the exporter runs with errors.py and stats.py beside it, no Ansible."""
    for module in (metrics, stats, errors):
        with open(module.__file__) as handle:
            source = handle.read()
        imports = re.findall(r'^\s*(?:from|import) (\S+)', source, re.M)
        for name in imports:
            assert not name.startswith('ansible.'), (module.__name__, name)
            assert name in ('__future__', 'errno', 'json', 'os', 'socket', 'time') or \
                name.startswith('ansible_collections.uwsgi.topology.plugins.module_utils'), (module.__name__, name)
