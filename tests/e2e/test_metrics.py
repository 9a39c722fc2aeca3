# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router metrics end to end, on the bundled default: site.yml deploys the exporter vassal
(router-metrics.exporter.topology.ini) beside the routers; a real Prometheus server (Debian's
/usr/bin/prometheus, its own configuration and storage in a temporary directory, listening on
127.0.0.1 only, scraping every second) scrapes it; its HTTP API answers the queries.

In order: the planned node counts per key; counters that follow the requests; a node stopped with
SIGSTOP on every process of its vassal (it neither announces nor unsubscribes: a frozen host, seen
only through the router's subscription tolerance) shown missing within the tolerance; the node back
after SIGCONT. Every time measured is printed (pytest -s).

The bundled inventory runs with its ports shifted by PORT_OFFSET and its prefix in a temporary
directory; the module's finalizer stops Prometheus, resumes the node and tears the topology down.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import socket
import statistics
import subprocess
import time

import pytest

from urllib.parse import urlencode
from urllib.request import ProxyHandler, build_opener

import e2e_support as e2e

PORT_OFFSET = 500
PROMETHEUS = '/usr/bin/prometheus'
PROMTOOL = '/usr/bin/promtool'
SCRAPE_INTERVAL = 1
ROUTERS = ('edge-http', 'edge-https')
STOPPED = 'app2'
# Margin over the router's tolerance for the missing node to show in Prometheus: uWSGI counts whole
# seconds (now - last_check > tolerance), one scrape interval, and a loaded machine.
MARGIN = 1 + SCRAPE_INTERVAL + 3
# Loopback only, never through a proxy the environment may name.
_OPENER = build_opener(ProxyHandler({}))


def _free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _get(url, timeout=10):
    with _OPENER.open(url, timeout=timeout) as answer:
        return answer.status, dict(answer.headers), answer.read().decode('utf-8')


class Prometheus(object):
    """A Prometheus server of the test's own: 127.0.0.1, temporary storage, one scrape job."""

    def __init__(self, directory, target):
        self.port = _free_port()
        self.base = 'http://127.0.0.1:%d' % self.port
        config = os.path.join(str(directory), 'prometheus.yml')
        with open(config, 'w') as handle:
            json.dump({'global': {'scrape_interval': '%ds' % SCRAPE_INTERVAL, 'scrape_timeout': '%ds' % SCRAPE_INTERVAL,
                                  'evaluation_interval': '%ds' % SCRAPE_INTERVAL},
                       'scrape_configs': [{'job_name': 'uwsgi-router', 'static_configs': [{'targets': [target]}]}]},
                      handle)
        self.log = open(os.path.join(str(directory), 'prometheus.log'), 'w')
        self.proc = subprocess.Popen(
            [PROMETHEUS, '--config.file=' + config, '--storage.tsdb.path=' + os.path.join(str(directory), 'data'),
             '--web.listen-address=127.0.0.1:%d' % self.port, '--log.level=warn'],
            stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self):
        try:
            return _get(self.base + '/-/ready', timeout=2)[0] == 200
        except OSError:
            return False

    def query(self, expression):
        """The instant vector ``expression`` evaluates to, as {(router, key[, node]): value}."""
        _status, _headers, body = _get('%s/api/v1/query?%s' % (self.base, urlencode({'query': expression})))
        answer = json.loads(body)
        assert answer['status'] == 'success', answer
        out = {}
        for item in answer['data']['result']:
            labels = item['metric']
            name = tuple(labels[k] for k in ('router', 'key', 'node') if k in labels)
            out[name] = float(item['value'][1])
        return out

    def log_tail(self, lines=20):
        self.log.flush()
        with open(self.log.name) as handle:
            return ''.join(handle.readlines()[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope='module')
def topo(tmp_path_factory):
    for tool in (PROMETHEUS, PROMTOOL):
        if not os.access(tool, os.X_OK):
            pytest.fail('%s is missing: it comes with Debian\'s prometheus package (make apt, scripts/apt-deps.sh)'
                        % tool)
    base = tmp_path_factory.mktemp('metrics')
    inventory = e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)
    routers = e2e.instances(inventory, 'router')
    for router in routers:
        # One process per router, so that counts per router are exact (replicas: the unit tests).
        router.pop('replicas', None)
    state = {'prefix': base / 'prefix', 'inventory': inventory,
             # The plan's default: the lowest stats port of the host's routers + 1000.
             'metrics_port': min(r['stats_port'] for r in routers) + 1000,
             'tolerance': dict((r['name'], r['tolerance']) for r in routers),
             'pools': {}, 'prometheus': None, 'stopped': []}
    for node in e2e.instances(inventory, 'node'):
        for sub in node['subscriptions']:
            state['pools'].setdefault((sub['router'], sub['key']), []).append('127.0.0.1:%d' % node['port'])
    state['inventory_path'] = e2e.write_inventory(inventory, base / 'inventory.yml')
    state['env'] = e2e.clean_env(prefix=state['prefix'])
    e2e.require_free_ports(inventory)
    if e2e.busy_ports([state['metrics_port']]):
        pytest.fail('port %d on 127.0.0.1 is in use; the test needs it free' % state['metrics_port'])
    run = e2e.playbook('site.yml', state['inventory_path'], state['env'])
    assert run.returncode == 0, run.tail(120)
    state['prometheus'] = Prometheus(base, '127.0.0.1:%d' % state['metrics_port'])
    yield state
    state['prometheus'].stop()
    for pid in state['stopped']:
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    e2e.tear_down(state['prefix'], state['inventory_path'], state['env'])


def _exporter(topo):
    return _get('http://127.0.0.1:%d/metrics' % topo['metrics_port'])


def _planned_counts(topo, without=None):
    return dict((pool, float(len([n for n in nodes if n != without]))) for pool, nodes in topo['pools'].items())


def test_the_exporter_vassal_serves_valid_metrics(topo):
    vassal = topo['prefix'] / 'vassals' / 'router-metrics.exporter.topology.ini'
    assert vassal.exists()
    assert 'http-socket = 127.0.0.1:%d' % topo['metrics_port'] in vassal.read_text()
    assert e2e.wait_until(lambda: e2e.busy_ports([topo['metrics_port']]), 30), 'the exporter never listened'
    status, headers, body = _exporter(topo)
    assert status == 200
    assert headers['Content-Type'] == 'text/plain; version=0.0.4; charset=utf-8'
    proc = subprocess.run([PROMTOOL, 'check', 'metrics'], input=body, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, ''), proc.stdout
    for router in ROUTERS:
        assert 'uwsgi_router_up{router="%s"} 1\n' % router in body
    # The figure: how long one scrape of the exporter takes (it reads both routers' stats servers).
    times = []
    for dummy in range(20):
        start = time.monotonic()
        _exporter(topo)
        times.append(time.monotonic() - start)
    print('exporter: %d bytes, %d samples; GET /metrics median %.1f ms, max %.1f ms over %d scrapes'
          % (len(body), len([line for line in body.splitlines() if not line.startswith('#')]),
             statistics.median(times) * 1000, max(times) * 1000, len(times)))


def test_prometheus_reports_the_planned_node_counts_per_key(topo):
    prometheus = topo['prometheus']
    assert e2e.wait_until(prometheus.ready, 60), 'Prometheus never got ready: %s' % prometheus.log_tail()
    planned = _planned_counts(topo)
    assert e2e.wait_until(lambda: prometheus.query('uwsgi_router_nodes') == planned, 60), \
        (prometheus.query('uwsgi_router_nodes'), planned)
    assert prometheus.query('uwsgi_router_nodes_expected') == planned
    assert prometheus.query('uwsgi_router_nodes < uwsgi_router_nodes_expected') == {}
    assert prometheus.query('uwsgi_router_up') == dict(((router,), 1.0) for router in ROUTERS)
    version = prometheus.query('count by (version) (uwsgi_router_build_info)')
    assert list(version.values()) == [2.0], version
    durations = prometheus.query('scrape_duration_seconds{job="uwsgi-router"}')
    print('Prometheus: planned counts %s; scrape_duration_seconds %s'
          % (json.dumps(dict(('/'.join(k), v) for k, v in sorted(planned.items()))),
             ', '.join('%.1f ms' % (v * 1000) for v in durations.values())))


def test_counters_follow_the_requests(topo):
    prometheus = topo['prometheus']
    http = e2e.instance(topo['inventory'], 'router', 'edge-http')['port']
    query = 'sum(uwsgi_router_node_requests_total{router="edge-http",key="app.test"})'
    before = prometheus.query(query)[()]
    assert e2e.bodies(http, 'app.test', 10) == {'app1': 5, 'app2': 5}
    assert e2e.wait_until(lambda: prometheus.query(query)[()] == before + 10, 10), (before, prometheus.query(query))
    assert e2e.wait_until(
        lambda: prometheus.query('uwsgi_router_key_lookups_total{router="edge-http",key="app.test"}')[
            ('edge-http', 'app.test')] >= 10, 10)


def test_a_stopped_node_shows_missing_within_the_tolerance_and_back_after(topo):
    prometheus = topo['prometheus']
    node = e2e.instance(topo['inventory'], 'node', STOPPED)
    address = '127.0.0.1:%d' % node['port']
    tolerance = max(topo['tolerance'].values())
    planned, without = _planned_counts(topo), _planned_counts(topo, without=address)
    assert e2e.wait_until(lambda: prometheus.query('uwsgi_router_nodes') == planned, 30)
    pids = e2e.vassal_pids(topo['prefix'], STOPPED + '.node.topology.ini')
    assert len(pids) >= 2, pids
    stopped = time.time()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
        topo['stopped'].append(pid)
    # The alert an operator writes: fewer live nodes than planned, per router and key.
    alert = 'uwsgi_router_nodes < uwsgi_router_nodes_expected'
    seen = e2e.wait_until(lambda: prometheus.query(alert), tolerance + MARGIN, interval=0.2)
    missing_after = time.time() - stopped
    assert seen, 'the stopped node was not missing %d s after the stop (tolerance %d s)' % (
        tolerance + MARGIN, tolerance)
    assert e2e.wait_until(lambda: prometheus.query('uwsgi_router_nodes') == without, 2 * SCRAPE_INTERVAL + 2), \
        prometheus.query('uwsgi_router_nodes')
    assert sorted(prometheus.query(alert)) == sorted(k for k in planned if planned[k] != without[k])
    live = prometheus.query('uwsgi_router_node_live{node="%s"}' % address)
    assert live == dict(((router, 'app.test', address), 0.0) for router in ROUTERS), live
    ages = prometheus.query('uwsgi_router_node_last_announce_age_seconds{node="%s"}' % address)
    assert all(age > tolerance for age in ages.values()), ages
    print('%s stopped (SIGSTOP on %d processes): missing in Prometheus %.1f s after the stop (tolerance %d s, '
          'announce interval 2 s, scrape interval %d s); last announce ages %s'
          % (STOPPED, len(pids), missing_after, tolerance, SCRAPE_INTERVAL,
             ', '.join('%s %.1f s' % (k[0], v) for k, v in sorted(ages.items()))))

    resumed = time.time()
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
    del topo['stopped'][:]
    assert e2e.wait_until(lambda: prometheus.query('uwsgi_router_nodes') == planned, 30), \
        prometheus.query('uwsgi_router_nodes')
    assert prometheus.query(alert) == {}
    print('%s resumed (SIGCONT): every key back to its planned count in Prometheus %.1f s later'
          % (STOPPED, time.time() - resumed))
