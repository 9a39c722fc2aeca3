# -*- coding: utf-8 -*-
"""Scenario failover: weights, a node crash under load, the subscription tolerance, restarts.

The tests run in file order and share the scenario's state: each leaves the topology whole
again (every node back in the pools) except where it says otherwise. What the router knows
comes from its stats server (topology_testlib.router_pools), what a client sees from curl in
the client container. Every count and time measured is printed.

"Killed with SIGKILL" is ``docker kill --signal KILL`` on the node's container: a host crash,
every process of it SIGKILLed at once and its address gone from the network, and the node
stays dead until ``docker start``. The other reading, SIGKILL on the vassal's own processes,
is tested too (test_sigkill_on_the_vassal_alone): the Emperor respawns the vassal at once,
which hides the failover (see the header of molecule.yml).
"""

import json
import re
import shlex
import subprocess
import tempfile
import threading
import time

import pytest

import topology_testlib as lib

ROUTER = 'failover-router'
NODES = {'failover-node1': 'app1', 'failover-node2': 'app2', 'failover-node3': 'app3'}
CLIENT = 'failover-client'
APP, API = 'app.test', 'api.test'
EMPEROR = lib.EMPEROR_UNIT

# The crash under load: K loops, each at most LOAD_COUNT requests and LOAD_SECONDS seconds.
LOAD_LOOPS = [APP, APP, APP, API]
LOAD_COUNT = 250
LOAD_SECONDS = 14
LOAD_REQUEST_TIMEOUT = 10
# The kill comes once the load has answered this many requests (after docker exec has started).
KILL_AFTER_REQUESTS = 40
# A failed request must have started before the kill returned + this (clock reads, process start).
KILL_MARGIN = 0.5
# Margins over the bounds (a loaded 2-core machine).
TOLERANCE_MARGIN = 3.0
TOLERANCE_ONLY_WAIT = 1.5
ANNOUNCE_MARGIN = 2.0

# Every test picks its hosts itself (testinfra would otherwise run each test once per host).
testinfra_hosts = [ROUTER]


# ---------------------------------------------------------------- helpers


def _docker(*args, **kwargs):
    """Run the docker client on the controller (the scenario's own containers only)."""
    return subprocess.run(['docker'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=True, timeout=kwargs.get('timeout', 120))


def _wrr_shares(weights):
    """What uWSGI 2.0's wrr gives each node per cycle: weight // smallest weight
    (core/subscription.c, uwsgi_subscription_algo_wrr)."""
    smallest = min(weights.values())
    return dict((name, weight // smallest) for name, weight in weights.items())


def _expected_counts(weights, cycles):
    shares = _wrr_shares(weights)
    return dict((name, share * cycles) for name, share in shares.items())


def _count(bodies):
    counts = {}
    for body in bodies:
        counts[body] = counts.get(body, 0) + 1
    return counts


def _load_script(url, deadline):
    """Bash for the client: one background loop per LOAD_LOOPS entry, each at most LOAD_COUNT
    requests, none started after ``deadline`` (epoch s), a pause of 50 ms between requests.
    One line per request: loop key start end status body."""
    loops = []
    for index, key in enumerate(LOAD_LOOPS):
        loops.append('run %d %s &' % (index, shlex.quote(key)))
    return (
        'run() { '
        'for ((i = 0; i < %(count)d; i++)); do '
        'start=$EPOCHREALTIME; '
        '[ "${start%%.*}" -ge %(deadline)d ] && break; '
        'out=$(curl -s --max-time %(timeout)d -w "\\n%%{http_code}" -H "Host: $2" %(url)s); '
        'end=$EPOCHREALTIME; '
        'code=${out##*$\'\\n\'}; body=${out%%$\'\\n\'*}; body=${body//[^A-Za-z0-9._-]/_}; body=${body:0:40}; '
        'printf "%%s %%s %%s %%s %%s %%s\\n" "$1" "$2" "$start" "$end" "$code" "${body:--}"; '
        'sleep 0.05; '
        'done; }; '
        '%(loops)s wait'
    ) % {'count': LOAD_COUNT, 'deadline': deadline, 'timeout': LOAD_REQUEST_TIMEOUT, 'url': shlex.quote(url),
         'loops': ' '.join(loops)}


def _parse_load(stdout):
    requests = []
    for line in stdout.splitlines():
        fields = line.split(' ')
        if len(fields) != 6:
            raise AssertionError('unexpected load output line %r' % line)
        requests.append({'loop': int(fields[0]), 'key': fields[1], 'start': float(fields[2]),
                         'end': float(fields[3]), 'status': int(fields[4]), 'body': fields[5]})
    return requests


def _wait_systemd(name, timeout=90):
    """Wait until systemd in container ``name`` is up (running or degraded)."""
    deadline = time.time() + timeout
    state = ''
    while time.time() < deadline:
        proc = subprocess.run(['docker', 'exec', name, 'systemctl', 'is-system-running'], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False, timeout=30)
        state = proc.stdout.strip()
        if state in ('running', 'degraded'):
            return
        time.sleep(0.5)
    raise AssertionError('systemd in %s did not come up within %d s (%s)' % (name, timeout, state))


def _router_log(scenario, since):
    """What the router's vassal logged (the Emperor's journal on the router host) since epoch ``since``."""
    return lib.emperor_journal(scenario.router, since).splitlines()


def _run_load(url, kill):
    """Run the load from the client container; call ``kill()`` once KILL_AFTER_REQUESTS requests
    are answered. Returns (requests, seconds the load took)."""
    lines = []
    started = time.time()
    deadline = int(started + LOAD_SECONDS)
    with tempfile.TemporaryFile(mode='w+') as errors:
        with subprocess.Popen(['docker', 'exec', CLIENT, 'bash', '-c', _load_script(url, deadline)],
                              stdout=subprocess.PIPE, stderr=errors, universal_newlines=True) as load:
            reader = threading.Thread(target=lambda: lines.extend(load.stdout))
            reader.start()
            try:
                while len(lines) < KILL_AFTER_REQUESTS and load.poll() is None and time.time() < deadline:
                    time.sleep(0.05)
                assert len(lines) >= KILL_AFTER_REQUESTS, ('the load never got going', lines)
                kill()
                load.wait(timeout=LOAD_SECONDS + LOAD_REQUEST_TIMEOUT + 30)
            finally:
                if load.poll() is None:
                    load.kill()
                reader.join(timeout=30)
        errors.seek(0)
        assert load.returncode == 0, (load.returncode, errors.read())
    return _parse_load(''.join(lines)), time.time() - started


# Runs on the router's host: restart the Emperor, then read the stats server every 0.1 s until
# every pool holds its nodes again. Prints one JSON document with the times (epoch s).
_RESTART_PROBE = r'''
import json, socket, subprocess, sys, time
address, expected, unit = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
host, port = address.rsplit(':', 1)

def read():
    try:
        sock = socket.create_connection((host, int(port)), timeout=2)
    except OSError:
        return None
    chunks = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        sock.close()
    try:
        return json.loads(b''.join(chunks).decode('utf-8', 'replace'))
    except ValueError:
        return None

def live(data):
    pools = {}
    for slot in (data or {}).get('subscriptions') or []:
        pools[slot['key']] = sorted(n['name'] for n in slot['nodes'] if not n['death_mark'])
    return pools

before = read()
out = {'old_pid': (before or {}).get('pid'), 'restart_started': time.time()}
subprocess.run(['systemctl', 'restart', unit], check=True)
out['restart_returned'] = time.time()
deadline = time.time() + 60
seen = {}
while time.time() < deadline:
    data = read()
    now = time.time()
    if data is not None and data.get('pid') != out['old_pid']:
        out.setdefault('stats_up', now)
        out['new_pid'] = data.get('pid')
        pools = live(data)
        for key, nodes in expected.items():
            if key not in seen and pools.get(key) == sorted(nodes):
                seen[key] = now
        if len(seen) == len(expected):
            break
    time.sleep(0.1)
out['pool_full'] = seen
print(json.dumps(out))
'''


# Runs on the router's host: GET the router metrics exporter's /metrics (loopback, no proxy).
_METRICS_PROBE = r'''
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
sys.stdout.write(opener.open(sys.argv[1], timeout=10).read().decode('utf-8'))
'''
_SAMPLE = re.compile(r'^(uwsgi_router_(?:nodes|nodes_expected|node_live))\{([^}]*)\} (\S+)$', re.M)


def _exporter(scenario):
    """What the router metrics exporter on the router host says: {(metric, router, key[, node]): value}
    for uwsgi_router_nodes, uwsgi_router_nodes_expected and uwsgi_router_node_live."""
    text = _docker('exec', ROUTER, 'python3', '-c', _METRICS_PROBE, scenario.metrics).stdout
    out = {}
    for name, labels, value in _SAMPLE.findall(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        out[(name,) + tuple(labels[k] for k in ('router', 'key', 'node') if k in labels)] = float(value)
    return out


def _assert_exporter_misses(scenario, victim_address):
    """The exporter counts ``victim_address`` out of every pool it was planned in, and names it."""
    samples = _exporter(scenario)
    for key, nodes in sorted(scenario.pools.items()):
        if victim_address not in nodes:
            continue
        planned = len(nodes)
        got = (samples.get(('uwsgi_router_nodes_expected', 'edge', key)), samples.get(('uwsgi_router_nodes', 'edge', key)),
               samples.get(('uwsgi_router_node_live', 'edge', key, victim_address)))
        print('exporter, %s: %s expected, %s live, %s live: %s' % (key, got[0], got[1], victim_address, got[2]))
        assert got == (planned, planned - 1, 0), (key, got, samples)


# ---------------------------------------------------------------- fixtures


class Scenario(object):
    """The scenario's hosts and settings, from Molecule's inventory."""

    def __init__(self):
        router_vars = lib.host_vars(ROUTER)
        instances = router_vars['uwsgi_router_instances']
        assert len(instances) == 1, instances
        self.router = lib.host(ROUTER)
        self.client = lib.host(CLIENT)
        self.address = router_vars['uwsgi_topology_advertise_address']
        self.port = instances[0]['port']
        self.stats = '127.0.0.1:%d' % instances[0]['stats_port']
        # The router metrics exporter the plan puts on the router host (default port: stats port + 1000).
        self.metrics = 'http://127.0.0.1:%d/metrics' % (instances[0]['stats_port'] + 1000)
        self.tolerance = instances[0]['tolerance']
        self.announce_interval = router_vars['uwsgi_topology_announce_interval']
        # Per key {'ip:port': weight}, {'ip:port': node name (the answers' body)}, {host: 'ip:port'}.
        self.pools, self.names, self.hosts = {}, {}, {}
        for host_name in sorted(NODES):
            variables = lib.host_vars(host_name)
            for node in variables['uwsgi_node_instances']:
                address = '%s:%d' % (variables['uwsgi_topology_advertise_address'], node['port'])
                self.names[address] = node['name']
                self.hosts[host_name] = address
                for sub in node['subscriptions']:
                    self.pools.setdefault(sub['key'], {})[address] = sub['weight']

    def requests(self, key, count, timeout=5):
        """``count`` sequential requests with ``key`` as Host from the client container."""
        return lib.http_requests(self.client, self.address, self.port, key, count=count, timeout=timeout)

    def read_pools(self, wait=False, wait_timeout=30):
        """The router's pools; with ``wait``, once every node of the inventory is back in them."""
        if wait:
            return lib.router_pools(self.router, self.stats, wait_for=self.all_nodes(), wait_timeout=wait_timeout)
        return lib.router_pools(self.router, self.stats)

    def all_nodes(self, without=()):
        """{key: sorted node addresses} of the inventory, minus the addresses ``without``."""
        return dict((key, sorted(a for a in nodes if a not in without)) for key, nodes in self.pools.items())

    def weights(self, key, without=()):
        """{node name: weight} of the nodes of ``key`` (minus the addresses ``without``)."""
        return dict((self.names[a], w) for a, w in self.pools[key].items() if a not in without)


@pytest.fixture(scope='module')
def scenario():
    return Scenario()


@pytest.fixture(scope='module')
def crash():
    """What test_sigkill_node_under_load measured, for the tests after it."""
    return {}


def _check_split(scenario, key, cycles, without=()):
    """Send whole wrr cycles of requests with ``key`` and check the split against the weights,
    on the client's side (bodies) and on the router's (its request counters)."""
    weights = scenario.weights(key, without)
    period = sum(_wrr_shares(weights).values())
    # One cycle first: after a pool change the wrr counters may be in the middle of a cycle.
    warmup = scenario.requests(key, period)
    assert [a[0] for a in warmup] == [200] * period, warmup
    before = scenario.read_pools()[key]
    answers = scenario.requests(key, period * cycles)
    after = scenario.read_pools()[key]
    assert [a[0] for a in answers] == [200] * len(answers), answers
    counts = _count(a[1] for a in answers)
    expected = _expected_counts(weights, cycles)
    router_counts = {}
    for node in after['nodes']:
        old = [n['requests'] for n in before['nodes'] if n['name'] == node['name']]
        router_counts[scenario.names.get(node['name'], node['name'])] = node['requests'] - (old[0] if old else 0)
    print('%s: %d requests, weights %s, expected %s, client counted %s, router counted %s'
          % (key, len(answers), json.dumps(weights, sort_keys=True), json.dumps(expected, sort_keys=True),
             json.dumps(counts, sort_keys=True), json.dumps(router_counts, sort_keys=True)))
    assert sorted(counts) == sorted(expected), (counts, expected)
    for name, want in expected.items():
        # Tolerance: +-1 request per node (wrr is deterministic; whole cycles are exact).
        assert abs(counts[name] - want) <= 1, (key, name, counts, expected)
        assert router_counts.get(name) == counts[name], (key, name, router_counts, counts)


def _node_states(pools):
    return json.dumps(dict((key, [(n['name'], n['death_mark']) for n in pool['nodes']]) for key, pool in sorted(pools.items())))


# ---------------------------------------------------------------- tests


def test_emperor_runs_under_systemd_on_every_host():
    for name in [ROUTER] + sorted(NODES):
        service = lib.host(name).service(EMPEROR)
        assert service.is_running, name
        assert service.is_enabled, name


def test_pools_hold_every_node_with_its_weight(scenario):
    pools = scenario.read_pools(wait=True)
    assert sorted(pools) == sorted(scenario.pools), pools
    for key, weights in scenario.pools.items():
        nodes = dict((node['name'], node) for node in pools[key]['nodes'])
        assert sorted(nodes) == sorted(weights), (key, nodes)
        for address, weight in weights.items():
            assert nodes[address]['death_mark'] == 0, (key, nodes[address])
            assert nodes[address]['weight'] == weight, (key, nodes[address])
        print('%s: %s' % (key, ', '.join('%s weight %d' % (a, n['weight']) for a, n in sorted(nodes.items()))))


@pytest.mark.parametrize('key', [APP, API])
def test_requests_split_in_the_weight_ratio(scenario, key):
    scenario.read_pools(wait=True)
    _check_split(scenario, key, 20)


def test_check_mode_converge_changes_nothing(scenario):
    """A --check --diff converge changes nothing; the pools keep every node with its weight."""
    lib.check_converge_changes_nothing([ROUTER] + sorted(NODES))
    pools = scenario.read_pools(wait=True)
    for key, weights in scenario.pools.items():
        assert dict((n['name'], n['weight']) for n in pools[key]['nodes']) == weights, (key, pools[key])


def test_sigkill_node_under_load(scenario, crash):
    """Kill failover-node3 (weight 4, in both pools) while K loops send requests."""
    victim = 'failover-node3'
    victim_name = NODES[victim]
    scenario.read_pools(wait=True)
    url = 'http://%s:%d/' % (scenario.address, scenario.port)

    def kill():
        crash['kill_start'] = time.time()
        _docker('kill', '--signal', 'KILL', victim)
        crash['kill_end'] = time.time()

    crash['victim'] = victim
    requests, took = _run_load(url, kill)
    pools = scenario.read_pools()
    log = [line for line in _router_log(scenario, crash['kill_start']) if scenario.hosts[victim] in line]
    _report_load(requests, took, crash, pools, log)

    _assert_load_bounds(requests, crash, victim_name, back=False)
    # What the router knows: it found the node dead on a connect (refused, or no answer within
    # the connect timeout), marked it and retried another node; it is not live in any pool.
    assert any('marking %s as failed' % scenario.hosts[victim] in line for line in log), log
    for key in pools:
        assert scenario.hosts[victim] not in lib.live_nodes(pools[key]), (key, pools[key])


def _assert_load_bounds(requests, marks, victim_name, back):
    """The issue's bounds on a load a node was killed under: at most the load's concurrency
    failed, every failure in flight at the kill instant, none after it. ``back``: the victim
    may answer again after the kill (the Emperor respawned it)."""
    kill_start, kill_end = marks['kill_start'], marks['kill_end']
    failed = [r for r in requests if r['status'] != 200]
    before = [r for r in requests if r['end'] < kill_start]
    after = [r for r in requests if r['start'] > kill_end + KILL_MARGIN]
    # The kill hit a node that was serving, in a load that kept going after it.
    assert any(r['body'] == victim_name and r['status'] == 200 for r in before), 'no request reached %s before the kill' % victim_name
    assert len(after) >= 2 * len(LOAD_LOOPS), 'the load ended too soon after the kill: %d requests after it' % len(after)
    assert set(r['key'] for r in after) == set(LOAD_LOOPS), after
    assert len(failed) <= len(LOAD_LOOPS), failed
    for r in failed:
        assert r['start'] <= kill_end + KILL_MARGIN, ('a request started after the kill failed', r, kill_end)
        assert r['end'] >= kill_start, ('a request failed before the kill', r, kill_start)
    assert all(r['status'] == 200 for r in after), [r for r in after if r['status'] != 200]
    if not back:
        assert victim_name not in [r['body'] for r in after], after


def _report_load(requests, took, crash, pools, log):
    """Print what the load saw around the kill: sent, failed, when; and what the router says."""
    kill_start, kill_end = crash['kill_start'], crash['kill_end']
    failed = [r for r in requests if r['status'] != 200]
    print('load: %d loops (%s), %d requests sent in %.1f s, %d failed; %s killed %.2f s after the first request '
          '(the kill took %.2f s)'
          % (len(LOAD_LOOPS), ', '.join(LOAD_LOOPS), len(requests), took, len(failed), crash['victim'],
             kill_start - min(r['start'] for r in requests), kill_end - kill_start))
    for r in failed:
        print('  failed: loop %d %s status %03d, started %+.3f s, ended %+.3f s from the kill'
              % (r['loop'], r['key'], r['status'], r['start'] - kill_start, r['end'] - kill_start))
    groups = (
        ('ended before the kill', [r for r in requests if r['end'] < kill_start]),
        ('in flight at the kill or started within %.1f s after it' % KILL_MARGIN,
         [r for r in requests if r['end'] >= kill_start and r['start'] <= kill_end + KILL_MARGIN]),
        ('started later', [r for r in requests if r['start'] > kill_end + KILL_MARGIN]),
    )
    for label, group in groups:
        print('  %s: %d sent, %d failed, answered by %s, slowest %.2f s'
              % (label, len(group), len([r for r in group if r['status'] != 200]),
                 json.dumps(_count(r['body'] for r in group if r['status'] == 200), sort_keys=True),
                 max([r['end'] - r['start'] for r in group] or [0])))
    for key in sorted(pools):
        print('  router after the load, %s: %s' % (key, json.dumps(
            [dict((f, n[f]) for f in ('name', 'death_mark', 'failcnt', 'ref', 'requests')) for n in pools[key]['nodes']])))
    print('  router log about %s since the kill:\n    %s' % (crash['victim'], '\n    '.join(log)))


def test_killed_node_leaves_the_pools_within_the_tolerance(scenario, crash):
    assert crash, 'needs test_sigkill_node_under_load'
    victim_address = scenario.hosts[crash['victim']]
    wait = crash['kill_end'] + scenario.tolerance + TOLERANCE_MARGIN - time.time()
    if wait > 0:
        time.sleep(wait)
    # uWSGI 2.0 drops a dead node when a request looks its key up: requests with every key.
    for key in sorted(scenario.pools):
        answers = scenario.requests(key, 3)
        assert [a[0] for a in answers] == [200] * 3, (key, answers)
        assert NODES[crash['victim']] not in [a[1] for a in answers], (key, answers)
    pools = scenario.read_pools()
    print('%.1f s after the kill (tolerance %d s): %s' % (time.time() - crash['kill_end'], scenario.tolerance, _node_states(pools)))
    for key in scenario.pools:
        assert victim_address not in [n['name'] for n in pools[key]['nodes']], (key, pools[key])
    # The metrics reflect it: one live node fewer than planned in each of its keys, the killed one not live.
    _assert_exporter_misses(scenario, victim_address)
    # The pools that remain still split in the weight ratio.
    _check_split(scenario, APP, 10, without=[victim_address])
    _check_split(scenario, API, 10, without=[victim_address])


def test_restarted_node_comes_back(scenario, crash):
    assert crash, 'needs test_sigkill_node_under_load'
    started = time.time()
    _docker('start', crash['victim'])
    _wait_systemd(crash['victim'])
    booted = time.time()
    pools = scenario.read_pools(wait=True, wait_timeout=90)
    print('%s: docker start, systemd up after %.1f s, back in every pool after %.1f s'
          % (crash['victim'], booted - started, time.time() - started))
    for key, weights in scenario.pools.items():
        nodes = lib.live_nodes(pools[key])
        assert dict((a, n['weight']) for a, n in nodes.items()) == weights, (key, pools[key])
    _check_split(scenario, APP, 5)


def test_sigkill_on_the_vassal_alone(scenario):
    """The other reading of "killed with SIGKILL": SIGKILL on the node vassal's own processes
    (its master and workers) on failover-node2, under the same load. The Emperor sees its vassal
    die and respawns it at once, so the node is back long before the tolerance; the bounds on
    the failed requests are the same."""
    victim = 'failover-node2'
    pattern = '%s.node.topology.ini' % NODES[victim]
    scenario.read_pools(wait=True)
    old = _docker('exec', victim, 'pgrep', '-f', pattern).stdout.split()
    assert len(old) >= 2, ('the vassal\'s master and workers', old)
    marks = {'victim': victim}

    def kill():
        marks['kill_start'] = time.time()
        _docker('exec', victim, 'kill', '-KILL', *old)
        marks['kill_end'] = time.time()

    requests, took = _run_load('http://%s:%d/' % (scenario.address, scenario.port), kill)
    pools = scenario.read_pools(wait=True, wait_timeout=30)
    back = time.time() - marks['kill_end']
    new = _docker('exec', victim, 'pgrep', '-f', pattern).stdout.split()
    log = [line for line in _router_log(scenario, marks['kill_start']) if scenario.hosts[victim] in line]
    _report_load(requests, took, marks, pools, log)
    print('  SIGKILL on pids %s; respawned by the Emperor as %s; in every pool again %.1f s after the kill (read at the end of the load)'
          % (' '.join(old), ' '.join(new), back))
    _assert_load_bounds(requests, marks, NODES[victim], back=True)
    assert new and not set(new) & set(old), (old, new)
    for key, weights in scenario.pools.items():
        assert dict((a, n['weight']) for a, n in lib.live_nodes(pools[key]).items()) == weights, (key, pools[key])


def test_tolerance_alone_removes_a_silent_node(scenario):
    """failover-node1 (app.test only) crashes with no traffic: no connect ever fails, only the
    missing announces tell the router; the first request after the tolerance finds it gone."""
    victim = 'failover-node1'
    victim_address = scenario.hosts[victim]
    scenario.read_pools(wait=True)
    _docker('kill', '--signal', 'KILL', victim)
    killed = time.time()
    try:
        print('right after the kill, no request yet: %s' % _node_states(scenario.read_pools()))
        time.sleep(max(0, killed + scenario.tolerance + TOLERANCE_ONLY_WAIT - time.time()))
        failcnt = dict((n['name'], n['failcnt']) for n in scenario.read_pools()[APP]['nodes'])
        # No request has looked the key up yet, so the router's stats may still list the node unmarked:
        # the exporter counts it out all the same (its last announce is older than the tolerance).
        _assert_exporter_misses(scenario, victim_address)
        sent = time.time()
        answers = scenario.requests(APP, 6)
        took = time.time() - sent
        pools = scenario.read_pools()
        print('%.1f s after the kill (tolerance %d s): failcnt before the requests %s; 6 requests in %.2f s: %s; pools %s'
              % (sent - killed, scenario.tolerance, json.dumps(failcnt, sort_keys=True), took, answers, _node_states(pools)))
        log = [line for line in _router_log(scenario, killed) if victim_address in line]
        print('router log about %s since the kill:\n    %s' % (victim_address, '\n    '.join(log)))
        assert [a[0] for a in answers] == [200] * 6, answers
        assert NODES[victim] not in [a[1] for a in answers], answers
        assert victim_address not in [n['name'] for n in pools[APP]['nodes']], pools[APP]
        # The router dropped it for the missing announces, not for a failed connect.
        assert any('marking %s as failed (no announce received' % victim_address in line for line in log), log
        assert not any('unable to connect' in line for line in log), log
        _check_split(scenario, APP, 5, without=[victim_address])
    finally:
        _docker('start', victim)
        _wait_systemd(victim)
    scenario.read_pools(wait=True, wait_timeout=90)


def test_router_restart_restores_every_pool_within_one_announce_interval(scenario):
    scenario.read_pools(wait=True)
    expected = scenario.all_nodes()
    proc = _docker('exec', ROUTER, 'python3', '-c', _RESTART_PROBE, scenario.stats, json.dumps(expected), EMPEROR, timeout=180)
    times = json.loads(proc.stdout.strip().splitlines()[-1])
    print('router restart: %s' % json.dumps(times, sort_keys=True))
    assert times.get('stats_up'), ('the new router never answered on its stats server', times)
    assert times['new_pid'] != times['old_pid'], times
    assert sorted(times['pool_full']) == sorted(expected), ('pools not restored within 60 s', times)
    bound = scenario.announce_interval + ANNOUNCE_MARGIN
    for key, when in sorted(times['pool_full'].items()):
        print('  %s: every node back %.2f s after the new router answered, %.2f s after systemctl restart returned '
              '(announce interval %d s, bound %.1f s)'
              % (key, when - times['stats_up'], when - times['restart_returned'], scenario.announce_interval, bound))
        assert when - times['stats_up'] <= bound, (key, times)
    # What the router knows and what a client sees after the restart.
    pools = scenario.read_pools()
    for key, weights in scenario.pools.items():
        assert dict((a, n['weight']) for a, n in lib.live_nodes(pools[key]).items()) == weights, (key, pools[key])
    _check_split(scenario, APP, 5)
    _check_split(scenario, API, 5)
