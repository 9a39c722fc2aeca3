# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scenario operations: day-2 changes one after another, each under a bounded load (issue 10, "Proof").

For each change: the load generator (../../shared/tests/loadgen.py, copied into the client container)
starts, the change is applied the way an operator applies it (a converge of the changed inventory, the
rolling_restart playbook, the drain module), the change's effect is checked (the routers' stats read on
the router's host, the certificates the router presents, the files on the hosts), the load runs a few
seconds more and stops. Every change is run, whatever the previous one did, and the table of all of
them is printed before anything is asserted: requests started during the change (at least 1000),
failed requests of the whole load by cause (0), the change's duration. Last, a --check converge of the
final inventory changes nothing.

The inventory changes live in a second inventory directory (Molecule's ephemeral directory,
``operations-overlay``: host_vars and group_vars over Molecule's), given to ansible-playbook after
Molecule's own inventory; the key store changes as a user changes it (files deleted, converge).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import traceback

import pytest
import yaml

import loadgen
import topology_testlib as lib

ROUTER = 'operations-router'
NODE_HOSTS = ('operations-node1', 'operations-node2', 'operations-node3')
CLIENT = 'operations-client'
KEYS = ('app.test', 'api.test')
HTTP_ROUTER, HTTPS_ROUTER = 'edge-http', 'edge-https'
PREFIX = '/var/lib/uwsgi-topology'

# The load, per change (see loadgen.py): at least 8 threads, bounded in requests and time.
THREADS = 8
MAX_REQUESTS = 100000
MAX_SECONDS = 600
REQUEST_TIMEOUT = 10
MIN_REQUESTS = 1000          # requests that must start during each change
SETTLE = 3.0                 # seconds the load runs on after a change and its checks
WAIT = 30                    # seconds a change's effect may take to show (pools, certificates)

LOADGEN = '/root/loadgen.py'
CLIENT_CA = '/root/operations-ca.pem'
LOAD_OUT = '/root/load.json'
LOAD_STOP = '/root/load.stop'
LOAD_LOG = '/root/load.log'
PLAYBOOK_LOG = 'operations-playbooks.log'

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO_DIR = os.path.dirname(HERE)
PROJECT_DIR = os.environ.get('MOLECULE_PROJECT_DIRECTORY') or os.path.dirname(os.path.dirname(os.path.dirname(SCENARIO_DIR)))

# The collection's stats parser (uWSGI's stats JSON is not always valid), through the collection link.
sys.path.insert(0, os.path.join(PROJECT_DIR, '.build', 'collections'))
from ansible_collections.uwsgi.topology.plugins.module_utils import stats as uwsgi_stats  # noqa: E402

testinfra_hosts = [ROUTER]


# --------------------------------------------------------------------------
# Containers (docker exec: fast enough to poll; every address is the scenario's own).
# --------------------------------------------------------------------------

def docker(*args, **kwargs):
    return subprocess.run(['docker'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=kwargs.get('timeout', 120), check=False)


def sh(container, script, timeout=120):
    return docker('exec', container, 'sh', '-c', script, timeout=timeout)


def read_file(container, path):
    out = docker('exec', container, 'cat', path)
    assert out.returncode == 0, (container, path, out.stderr)
    return out.stdout


# Runs on the router's host: read each stats server given, print their raw answers as a JSON list.
_STATS_READER = r'''
import json, socket, sys
out = []
for address in sys.argv[1:]:
    host, port = address.rsplit(':', 1)
    chunks = []
    try:
        sock = socket.create_connection((host, int(port)), timeout=3)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        sock.close()
    except OSError as exc:
        out.append({'error': str(exc)})
        continue
    out.append({'text': b''.join(chunks).decode('utf-8', 'replace')})
print(json.dumps(out))
'''


# --------------------------------------------------------------------------
# The inventory: Molecule's, and the verifier's overlay.
# --------------------------------------------------------------------------

class Inventory(object):
    """What the scenario's hosts are planned with: Molecule's inventory, and over it the verifier's
    changes, written as an inventory directory of their own (host_vars, group_vars)."""

    def __init__(self):
        self.directory = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'operations-overlay')
        self.playbook_log = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], PLAYBOOK_LOG)
        with open(self.playbook_log, 'w'):
            pass
        router_vars = lib.host_vars(ROUTER)
        self.router_address = router_vars['uwsgi_topology_advertise_address']
        self.routers = copy.deepcopy(router_vars['uwsgi_router_instances'])
        self.keystore = router_vars['keys_store_dir']
        self.app_version = int(router_vars['operations_app_version'])
        self.addresses = {}
        self.nodes = {}
        for name in NODE_HOSTS:
            variables = lib.host_vars(name)
            self.addresses[name] = variables['uwsgi_topology_advertise_address']
            self.nodes[name] = copy.deepcopy(variables['uwsgi_node_instances'])
        self.base_nodes = copy.deepcopy(self.nodes)
        self.write()

    def write(self):
        shutil.rmtree(self.directory, ignore_errors=True)
        for sub in ('host_vars', 'group_vars'):
            os.makedirs(os.path.join(self.directory, sub))
        hosts = dict((name, None) for name in (ROUTER,) + NODE_HOSTS)
        self._dump('hosts.yml', {'all': {'hosts': hosts}})
        self._dump('group_vars/all.yml', {'operations_app_version': self.app_version})
        self._dump('host_vars/%s.yml' % ROUTER, {'uwsgi_router_instances': self.routers})
        for name in NODE_HOSTS:
            self._dump('host_vars/%s.yml' % name, {'uwsgi_node_instances': self.nodes[name]})

    def _dump(self, path, data):
        with open(os.path.join(self.directory, path), 'w') as handle:
            handle.write('---\n# Written by the operations scenario\'s verifier (tests/test_operations.py).\n')
            yaml.safe_dump(data, handle, default_flow_style=False)

    def args(self):
        return ['--inventory', self.directory]

    def router(self, name):
        return [r for r in self.routers if r['name'] == name][0]

    def node_address(self, host_name, instance):
        return '%s:%d' % (self.addresses[host_name], instance['port'])

    def instance(self, name):
        for host_name, instances in self.nodes.items():
            for item in instances:
                if item['name'] == name:
                    return host_name, item
        raise KeyError(name)

    def expected_pools(self):
        """{key: sorted node addresses} as planned now (every router has every key)."""
        pools = {}
        for host_name, instances in sorted(self.nodes.items()):
            for item in instances:
                for sub in item['subscriptions']:
                    pools.setdefault(sub['key'], set()).add(self.node_address(host_name, item))
        return dict((key, sorted(addresses)) for key, addresses in pools.items())

    def stats_addresses(self):
        """{replica label: stats address} of every router replica, as the router's host reaches them."""
        out = {}
        for router in self.routers:
            host = router.get('stats_address') or '127.0.0.1'
            for index in range(router.get('replicas') or 1):
                label = router['name'] if index == 0 else '%s.r%d' % (router['name'], index)
                out[label] = '%s:%d' % (host, router['stats_port'] + index)
        return out

    def vassal_names(self):
        return sorted(self.stats_addresses())


def read_pools(inventory):
    """{replica: {key: [node dicts]}} read on the router's host."""
    addresses = inventory.stats_addresses()
    labels = sorted(addresses)
    out = docker('exec', ROUTER, 'python3', '-c', _STATS_READER, *[addresses[label] for label in labels])
    assert out.returncode == 0, out.stderr
    result = {}
    for label, answer in zip(labels, json.loads(out.stdout)):
        if 'error' in answer:
            result[label] = None
            continue
        data = uwsgi_stats.parse_stats(answer['text'], addresses[label])
        result[label] = dict((pool['key'], pool['nodes']) for pool in uwsgi_stats.pools(data))
    return result


def live(nodes):
    return sorted(n['name'] for n in nodes or [] if not n['death_mark'])


def wait_pools(inventory, predicate=None, timeout=WAIT, what='every pool holds the planned nodes'):
    """Poll the routers' stats until ``predicate(pools)`` (default: every replica's pools hold exactly
    the planned live nodes) holds. Returns the pools; raises AssertionError with the last ones."""
    expected = inventory.expected_pools()

    def planned(pools):
        return all(replica is not None and all(live(replica.get(key)) == nodes for key, nodes in expected.items())
                   for replica in pools.values())

    predicate = predicate or planned
    deadline = time.time() + timeout
    while True:
        pools = read_pools(inventory)
        if predicate(pools):
            return pools
        if time.time() > deadline:
            raise AssertionError('after %d s, not true: %s; pools %s' % (timeout, what, json.dumps(dict(
                (label, dict((key, [(n['name'], n['weight'], n['death_mark']) for n in nodes])
                             for key, nodes in (replica or {}).items()))
                for label, replica in pools.items()), sort_keys=True)))
        time.sleep(0.5)


def store_fingerprint(inventory, *parts):
    with open(os.path.join(inventory.keystore, *parts)) as handle:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(handle.read())).hexdigest()


def presented(inventory, name):
    router = inventory.router(HTTPS_ROUTER)
    out = docker('exec', CLIENT, 'python3', LOADGEN, 'cert', inventory.router_address, str(router['port']), name)
    assert out.returncode == 0, (name, out.stderr)
    return out.stdout.strip()


def wait_presented(inventory, name, fingerprint, timeout=WAIT):
    deadline = time.time() + timeout
    while True:
        seen = presented(inventory, name)
        if seen == fingerprint:
            return
        if time.time() > deadline:
            raise AssertionError('the router presents %s for %s, not %s' % (seen, name, fingerprint))
        time.sleep(0.5)


# --------------------------------------------------------------------------
# Playbooks.
# --------------------------------------------------------------------------

def playbook(inventory, path, *extra):
    """Run a playbook with Molecule's inventory and the overlay; fail with its output's tail. Every
    output goes to PLAYBOOK_LOG in Molecule's ephemeral directory."""
    rc, output, recap = lib.run_playbook(path, *(inventory.args() + list(extra)))
    with open(inventory.playbook_log, 'a') as handle:
        handle.write('\n==== %s %s (exit %d)\n%s' % (path, ' '.join(extra), rc, output))
    assert rc == 0, '%s failed (exit %d):\n%s' % (os.path.basename(path), rc, output[-5000:])
    return recap


def converge(inventory, hosts=None):
    """The scenario's converge of the inventory as it is now. ``hosts``: the hosts the change touches,
    given to --limit (with localhost, where the plan is made) unless OPERATIONS_FULL_CONVERGE is set:
    a converge of every host under the load takes a minute or more on two cores, one host's a third
    of that. A signing key rotation converges every host (the nodes hand their subscriptions over)."""
    limit = []
    if hosts and not os.environ.get('OPERATIONS_FULL_CONVERGE'):
        limit = ['--limit', ','.join(('localhost',) + tuple(hosts))]
    return playbook(inventory, lib.converge_playbook(), *limit)


# --------------------------------------------------------------------------
# The load.
# --------------------------------------------------------------------------

class Load(object):
    """One bounded run of loadgen.py in the client container."""

    def __init__(self, inventory):
        http = inventory.router(HTTP_ROUTER)
        https = inventory.router(HTTPS_ROUTER)
        address = inventory.router_address
        self.targets = ['http:%s:%d:%s' % (address, http['port'], key) for key in KEYS]
        self.targets += ['https:%s:%d:%s' % (address, https['port'], key) for key in KEYS]
        # The router's own certificate: asked for by the router's name, verified for it.
        self.targets.append('https:%s:%d:%s:%s' % (address, https['port'], KEYS[0], HTTPS_ROUTER))

    def start(self):
        args = ['python3', LOADGEN, 'run', '--threads', str(THREADS), '--max-requests', str(MAX_REQUESTS),
                '--max-seconds', str(MAX_SECONDS), '--timeout', str(REQUEST_TIMEOUT), '--ca', CLIENT_CA,
                '--tally-header', 'X-Operations-Version', '--stop-file', LOAD_STOP, '--out', LOAD_OUT]
        for target in self.targets:
            args += ['--target', target]
        out = sh(CLIENT, 'rm -f %s %s.progress %s; setsid nohup %s >%s 2>&1 </dev/null &'
                 % (LOAD_OUT, LOAD_OUT, LOAD_STOP, ' '.join(shlex.quote(a) for a in args), LOAD_LOG))
        assert out.returncode == 0, out.stderr
        deadline = time.time() + 20
        while self.progress()[1] < 2 * THREADS:
            assert time.time() < deadline, 'the load did not start: %s' % read_file(CLIENT, LOAD_LOG)
            time.sleep(0.2)

    @staticmethod
    def progress():
        """(sent, done, failed) so far."""
        out = docker('exec', CLIENT, 'cat', LOAD_OUT + '.progress')
        if out.returncode != 0 or not out.stdout.strip():
            return 0, 0, 0
        return tuple(int(v) for v in out.stdout.split())

    @staticmethod
    def stop():
        sh(CLIENT, 'touch %s' % LOAD_STOP)
        deadline = time.time() + REQUEST_TIMEOUT + 20
        while docker('exec', CLIENT, 'test', '-e', LOAD_OUT).returncode != 0:
            assert time.time() < deadline, 'the load did not stop: %s' % read_file(CLIENT, LOAD_LOG)
            time.sleep(0.3)
        return json.loads(read_file(CLIENT, LOAD_OUT))


class Window(object):
    """The change's own time: from entering to leaving the ``with`` block."""

    def __init__(self):
        self.start = self.end = None

    def __enter__(self):
        self.start = time.time()
        return self

    def __exit__(self, *exc):
        self.end = time.time()


# --------------------------------------------------------------------------
# The changes. Each applies itself inside ``window``, checks its effect while the load runs, and may
# return a check of the load's records (run after the load stopped).
# --------------------------------------------------------------------------

def change_baseline(inventory, load, window):
    """No change: the load alone, as long as a change needs (the control row)."""
    with window:
        wait_requests(load, load.progress()[0], int(MIN_REQUESTS * 1.1))


def change_weight(inventory, load, window):
    host_name, app1 = inventory.instance('app1')
    for sub in app1['subscriptions']:
        sub['weight'] = 2
    inventory.write()
    with window:
        converge(inventory, [host_name])
    address = inventory.node_address(host_name, app1)
    wait_pools(inventory, lambda pools: all(
        [n['weight'] for n in (replica or {}).get(key, []) if n['name'] == address] == [2]
        for replica in pools.values() for key in KEYS), what='app1 has weight 2 in every pool')


def change_processes(inventory, load, window):
    host_name, app2 = inventory.instance('app2')
    app2['processes'] = 3
    inventory.write()
    with window:
        converge(inventory, [host_name])
    ini = read_file(host_name, '%s/vassals/app2.node.topology.ini' % PREFIX)
    assert 'processes = 3' in ini.splitlines(), ini
    wait_pools(inventory)


def change_code(inventory, load, window):
    inventory.app_version += 1
    inventory.write()
    version = str(inventory.app_version)
    with window:
        playbook(inventory, os.path.join(SCENARIO_DIR, 'ship_app.yml'))
        playbook(inventory, 'uwsgi.topology.rolling_restart')
    wait_pools(inventory)

    def records(result):
        nodes = loadgen.analyse(result, window.start, window.end)['nodes_after']
        seen = dict((node, sorted(tallies)) for node, tallies in nodes.items())
        assert seen == dict((n, [version]) for n in ('app1', 'app2', 'app3')), \
            'after the roll every node must answer with version %s: %s' % (version, seen)
    return records


def change_node_removed(inventory, load, window):
    inventory.nodes['operations-node3'] = []
    inventory.write()
    with window:
        converge(inventory, ['operations-node3'])
    wait_pools(inventory, what='app3 left every pool')

    def records(result):
        nodes = loadgen.analyse(result, window.start, window.end)['nodes_after']
        assert 'app3' not in nodes and nodes, 'requests after the removal reached %s' % sorted(nodes)
    return records


def change_node_added(inventory, load, window):
    inventory.nodes['operations-node3'] = copy.deepcopy(inventory.base_nodes['operations-node3'])
    inventory.write()
    with window:
        converge(inventory, ['operations-node3'])
    wait_pools(inventory, what='app3 is back in every pool')

    def records(result):
        nodes = loadgen.analyse(result, window.start, window.end)['nodes_after']
        assert 'app3' in nodes, 'no request reached app3 after it was added back: %s' % sorted(nodes)
    return records


def change_router_option(inventory, load, window):
    for router in inventory.routers:
        router['buffer_size'] = 32768
    inventory.write()
    with window:
        converge(inventory, [ROUTER])
    for name in inventory.vassal_names():
        ini = read_file(ROUTER, '%s/vassals/%s.router.topology.ini' % (PREFIX, name))
        assert 'http-buffer-size = 32768' in ini.splitlines(), (name, ini)
    wait_pools(inventory)


def _rotate(inventory, window, directory, name, sni_name):
    old = store_fingerprint(inventory, directory, name + '.crt')
    assert presented(inventory, sni_name) == old, 'the router did not present %s/%s.crt before' % (directory, name)
    for suffix in ('.crt', '.key'):
        os.unlink(os.path.join(inventory.keystore, directory, name + suffix))
    with window:
        converge(inventory, [ROUTER])
    new = store_fingerprint(inventory, directory, name + '.crt')
    assert new != old
    wait_presented(inventory, sni_name, new)
    wait_pools(inventory)


def change_router_certificate(inventory, load, window):
    _rotate(inventory, window, 'routers', HTTPS_ROUTER, HTTPS_ROUTER)


def change_sni_certificate(inventory, load, window):
    kept = presented(inventory, KEYS[1])
    _rotate(inventory, window, 'sni', KEYS[0], KEYS[0])
    assert presented(inventory, KEYS[1]) == kept, 'the SNI certificate of %s changed too' % KEYS[1]


def change_signing_key(inventory, load, window):
    key = KEYS[0]
    private = os.path.join(inventory.keystore, 'signing', key + '.pem')
    public = os.path.join(inventory.keystore, 'signing', 'public', key + '.pem')
    with open(public) as handle:
        old = handle.read()
    os.unlink(private)
    os.unlink(public)
    with window:
        converge(inventory)
    with open(public) as handle:
        new = handle.read()
    assert new != old
    for name in inventory.vassal_names():
        placed = read_file(ROUTER, '%s/pubkeys/%s/%s.pem' % (PREFIX, name, key))
        assert placed == new, 'router %s holds another public key for %s' % (name, key)
    # The new key is in use once the routers accepted announces signed with it.
    converged = window.end
    wait_pools(inventory, lambda pools: all(
        sorted(n['name'] for n in (replica or {}).get(key, []) if not n['death_mark'] and n['last_check'] > converged + 1)
        == inventory.expected_pools()[key] for replica in pools.values()),
        what='every node announced %s with the new key' % key)


def change_drain(inventory, load, window):
    host_name, app1 = inventory.instance('app1')
    address = inventory.node_address(host_name, app1)
    marks = {}
    drain = os.path.join(SCENARIO_DIR, 'drain.yml')
    with window:
        sent = load.progress()[0]
        playbook(inventory, drain, '-e', 'operations_drain_instance=app1', '-e', 'operations_drain_state=drained')
        marks['drained'] = time.time()
        wait_pools(inventory, lambda pools: all(
            address not in live((replica or {}).get(key)) for replica in pools.values() for key in KEYS),
            what='app1 left every pool')
        # Maintenance: the node stays out until the change has seen enough requests.
        wait_requests(load, sent, int(MIN_REQUESTS * 1.1))
        marks['undrain'] = time.time()
        playbook(inventory, drain, '-e', 'operations_drain_instance=app1', '-e', 'operations_drain_state=active')
    wait_pools(inventory, what='app1 is back in every pool')

    def records(result):
        during = loadgen.nodes_between(result, marks['drained'], marks['undrain'])
        assert 'app1' not in during and during, 'requests while app1 was drained reached %s' % sorted(during)
        assert 'app1' in loadgen.analyse(result, window.start, window.end)['nodes_after'], \
            'no request reached app1 after the undrain'
    return records


def wait_requests(load, sent, count, timeout=120):
    """Wait until the load has sent ``count`` requests more than ``sent`` (its progress then)."""
    deadline = time.time() + timeout
    while load.progress()[0] - sent < count and time.time() < deadline:
        time.sleep(0.3)


CHANGES = (
    ('baseline (no change)', change_baseline),
    ('node weight', change_weight),
    ('node processes', change_processes),
    ('code + rolling_restart', change_code),
    ('node removed', change_node_removed),
    ('node added', change_node_added),
    ('router option', change_router_option),
    ('router certificate', change_router_certificate),
    ('SNI certificate', change_sni_certificate),
    ('signing key', change_signing_key),
    ('drain + undrain (module)', change_drain),
)


def run_change(inventory, name, change):
    """One change under its own load; returns its table row."""
    row = {'change': name}
    load = Load(inventory)
    window = Window()
    records_check = None
    result = None
    started = time.time()
    load.start()
    try:
        records_check = change(inventory, load, window)
        while time.time() < (window.end or 0) + SETTLE:
            time.sleep(0.2)
    except Exception as exc:  # pylint: disable=broad-except  # every change runs; the table says what failed
        row['error'] = '%s: %s' % (type(exc).__name__, str(exc)[-1500:])
        traceback.print_exc()
    finally:
        try:
            result = load.stop()
        except AssertionError as exc:
            row['error'] = '%s; %s' % (row.get('error') or '', exc)
    if result is not None and window.start is not None:
        row.update(loadgen.analyse(result, window.start, window.end or time.time()))
        if records_check and not row.get('error'):
            try:
                records_check(result)
            except AssertionError as exc:
                row['error'] = str(exc)
        failures = [r for r in result['records'] if r[loadgen.CAUSE]]
        print('%s: %.1f s with the load (stopped by %s); change %.1f s; failures by target %s; first failures %s; '
              'answers after the change by node and version %s'
              % (name, time.time() - started, result['stopped_by'], row['seconds'],
                 json.dumps(row['failures_by_target'], sort_keys=True), json.dumps(failures[:8]),
                 json.dumps(row['nodes_after'], sort_keys=True)))
    return row


# --------------------------------------------------------------------------
# Tests.
# --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def inventory():
    return Inventory()


@pytest.fixture(scope='module')
def client(inventory):
    """loadgen.py and the scenario's CA in the client container."""
    out = docker('cp', os.path.join(os.path.dirname(os.path.abspath(loadgen.__file__)), 'loadgen.py'),
                 '%s:%s' % (CLIENT, LOADGEN))
    assert out.returncode == 0, out.stderr
    out = docker('cp', os.path.join(inventory.keystore, 'ca', 'ca.crt'), '%s:%s' % (CLIENT, CLIENT_CA))
    assert out.returncode == 0, out.stderr
    return CLIENT


def test_router_has_tcp_migrate_req():
    assert read_file(ROUTER, '/proc/sys/net/ipv4/tcp_migrate_req').strip() == '1'


def test_every_replica_holds_every_node(inventory):
    pools = wait_pools(inventory)
    assert sorted(pools) == ['edge-http', 'edge-http.r1', 'edge-https', 'edge-https.r1'], sorted(pools)


def test_changes_under_load_fail_no_request(inventory, client):
    rows = []
    started = time.time()
    for name, change in CHANGES:
        print('\n---- %s' % name)
        rows.append(run_change(inventory, name, change))
    print(loadgen.table(rows, 'operations scenario: changes under load (%d threads, http and https with SNI, '
                              '15%% /slow?ms=200, 10%% /bytes?n=65536)' % THREADS))
    print('changes and their loads took %.0f s' % (time.time() - started))
    problems = []
    for row in rows:
        if row.get('error'):
            problems.append('%s: %s' % (row['change'], row['error']))
        if row.get('failed'):
            problems.append('%s: %d failed requests (%s)' % (row['change'], row['failed'], row['causes']))
        if row.get('requests') is not None and row['requests'] < MIN_REQUESTS:
            problems.append('%s: only %d requests during the change' % (row['change'], row['requests']))
    assert not problems, '\n'.join(problems)


def test_check_mode_converge_changes_nothing(inventory):
    """A --check --diff converge of the inventory as the changes left it changes nothing."""
    lib.check_converge_changes_nothing((ROUTER,) + NODE_HOSTS, converge_args=inventory.args())
    wait_pools(inventory)
