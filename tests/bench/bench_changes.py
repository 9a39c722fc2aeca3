#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Day-2 changes under load on the bundled default, on this machine: requests, failures, durations.

Run from the repository root (``make bench-changes`` does)::

    .venv/bin/python tests/bench/bench_changes.py [--replicas N] [--threads 8] [--min-requests 1000]
                                                  [--changes weight,drain] [--keep] [--reuse]

The same changes, load and table as the Molecule scenario ``operations``
(``extensions/molecule/operations``), on the one-machine default instead of containers:

* **Deploys** the bundled default (``inventory/local.yml`` of this tree, ports moved by
  ``--port-offset``, default +11000: 29080, 29443, 23626-23627, 30191-30192, 24031-24033, all below
  Linux's ephemeral range) into ``.build/bench-changes/prefix`` with the pip virtualenv
  ``.build/bench/uwsgi-venv`` shared with ``make bench-play`` and ``make bench-router``. Two
  differences from the bundled default, both needed by the changes: the nodes run the operations
  scenario's application (``extensions/molecule/operations/ship_app.yml``: the demo application with
  an ``X-Operations-Version`` header) from ``.build/bench-changes/app/app.py`` (their ``wsgi_file``),
  so that a code deploy can be shipped and rolled; and with ``--replicas N`` every router gets
  ``replicas: N`` (its subscription and stats ports renumbered so that the replicas' ports do not
  overlap).
* **Changes**, one after another, each under its own load (``--changes`` picks some):

  - ``weight``: app1's weight 1 -> 2 (both routers), site.yml;
  - ``processes``: app2's processes 2 -> 3, site.yml;
  - ``code``: the application's version +1, ship_app.yml, then rolling_restart.yml;
  - ``removed``: node app2 taken out of the inventory, site.yml (on one host the "node removed" is an
    instance, not a host; app2 because api1 is api.test's only node and app1 is drained later);
  - ``added``: app2 back, site.yml;
  - ``router-option``: ``buffer_size: 32768`` on both routers, site.yml;
  - ``router-cert``: edge-https's certificate and key deleted from the key store, site.yml;
  - ``sni-cert``: app.test's SNI certificate and key deleted from the key store, site.yml;
  - ``signing-key``: app.test's signing key pair deleted from the key store, site.yml;
  - ``drain``: app1 drained with the uwsgi.topology.drain module
    (``extensions/molecule/operations/drain.yml``), kept out until enough requests went by, then made
    active again.

  Every change of the scenario applies here; ``baseline`` (the load alone) comes first.
* **The load** is ``extensions/molecule/shared/tests/loadgen.py`` (the scenario's), run here as a
  child process: ``--threads`` threads (8) over http app.test and api.test, https app.test and
  api.test (SNI = the key, verified with the topology's CA), https app.test with the router's name as
  SNI (its own certificate); 15% ``/slow?ms=200``, 10% ``/bytes?n=65536``; bounded (at most 60000
  requests and 240 s per change, 10 s per request). It starts before each change and stops a few
  seconds after it and its checks.
* **Prints** the per-change table of loadgen.table (requests started during the change, failed
  requests of the whole load by cause, the change's duration), then whether each change met the
  issue's requirement (0 failed, at least ``--min-requests`` during the change).

It is a measurement, not a test: it exits 0 when every step ran, whatever the figures; 1 when a step
failed (a playbook, a change's check); 2 when it cannot start (ports taken, no virtualenv). The
deployment is torn down at the end, also on failure or Ctrl-C, unless ``--keep``; ``--reuse`` uses a
running deployment a ``--keep`` run left (it converges it back to the bundled default first). The
output of every ansible-playbook run is kept in ``.build/bench-changes/logs``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import copy
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCENARIO = os.path.join(REPO, 'extensions', 'molecule', 'operations')
sys.path.insert(0, os.path.join(REPO, 'tests', 'e2e'))
sys.path.insert(0, os.path.join(REPO, 'extensions', 'molecule', 'shared', 'tests'))
sys.path.insert(0, HERE)

import e2e_support as e2e  # noqa: E402  (tests/e2e, a sibling directory)
import bench_play as bp  # noqa: E402  (deployment helpers of make bench-play)
import loadgen  # noqa: E402  (the operations scenario's load generator)

OUT = os.path.join(REPO, '.build', 'bench-changes')
WORKDIR = os.path.join(OUT, 'deploy')
APP_DIR = os.path.join(OUT, 'app')
LOGS = os.path.join(OUT, 'logs')
KEYS = ('app.test', 'api.test')
HTTP_ROUTER, HTTPS_ROUTER = 'edge-http', 'edge-https'
LOADGEN = os.path.join(REPO, 'extensions', 'molecule', 'shared', 'tests', 'loadgen.py')
SHIP_APP = os.path.join(SCENARIO, 'ship_app.yml')
DRAIN = os.path.join(SCENARIO, 'drain.yml')

MAX_REQUESTS = 60000
MAX_SECONDS = 240
REQUEST_TIMEOUT = 10
SETTLE = 3.0
WAIT = 30


class Failed(Exception):
    """A step of the benchmark that did not work."""


def log(message):
    print('bench-changes: %s' % message, file=sys.stderr)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# The deployment and its inventory.
# --------------------------------------------------------------------------

class Topology(object):
    """The bundled default as the benchmark runs it, and the changes made to it."""

    def __init__(self, args, tree):
        self.args = args
        self.tree = tree
        self.base = bp.default_inventory(tree, args.port_offset)
        variables = e2e.host_vars(self.base)
        variables['operations_app_version'] = 1
        variables['operations_app_dir'] = APP_DIR
        for item in variables['uwsgi_node_instances']:
            item['wsgi_file'] = os.path.join(APP_DIR, 'app.py')
        if args.replicas:
            self._replicas(variables['uwsgi_router_instances'], args.replicas)
        self.inventory = copy.deepcopy(self.base)
        self.deployment = bp.Deployment(tree, 'bench-changes', self.inventory, WORKDIR, args)
        self.prefix = self.deployment.prefix
        self.keystore = os.path.join(self.prefix, 'keystore')
        self.removed = None

    @staticmethod
    def _replicas(routers, count):
        """``replicas: count`` on every router, each router's subscription and stats ports spaced by
        ``count`` (replica i uses port + i)."""
        first_sub = min(r['subscription_port'] for r in routers)
        first_stats = min(r['stats_port'] for r in routers)
        for index, router in enumerate(routers):
            router['replicas'] = count
            router['subscription_port'] = first_sub + index * count
            router['stats_port'] = first_stats + index * count

    @property
    def variables(self):
        return e2e.host_vars(self.inventory)

    def write(self):
        e2e.write_inventory(self.inventory, self.deployment.inventory_path)

    def play(self, playbook, what, *extra):
        try:
            run = e2e.playbook(playbook, self.deployment.inventory_path, self.deployment.env, *extra,
                               cwd=self.tree.root, timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            raise Failed('%s: ansible-playbook timed out after %d s' % (what, self.args.timeout))
        os.makedirs(LOGS, exist_ok=True)
        name = ''.join(c if c.isalnum() else '-' for c in what).strip('-')
        with open(os.path.join(LOGS, '%02d-%s.log' % (len(os.listdir(LOGS)), name)), 'w') as handle:
            handle.write('%r\n%s' % (run, run.output))
        if run.returncode != 0 or any(h['failed'] or h['unreachable'] for h in run.recap.values()):
            raise Failed('%s failed (exit %d):\n%s' % (what, run.returncode, run.tail(60)))
        return run

    def converge(self, what):
        self.write()
        self.play(SHIP_APP, what + ': ship_app.yml')
        return self.play('site.yml', what + ': site.yml')

    def router(self, name):
        return [r for r in self.variables['uwsgi_router_instances'] if r['name'] == name][0]

    def node(self, name):
        return [n for n in self.variables['uwsgi_node_instances'] if n['name'] == name][0]

    def stats_ports(self):
        """{replica label: stats port} of every router replica."""
        out = {}
        for router in self.variables['uwsgi_router_instances']:
            for index in range(router.get('replicas') or 1):
                label = router['name'] if index == 0 else '%s.r%d' % (router['name'], index)
                out[label] = router['stats_port'] + index
        return out

    def expected_pools(self):
        pools = {}
        for item in self.variables['uwsgi_node_instances']:
            for sub in item['subscriptions']:
                pools.setdefault(sub['key'], set()).add('127.0.0.1:%d' % item['port'])
        return dict((key, sorted(addresses)) for key, addresses in pools.items())


def read_pools(topo):
    """{replica: {key: [node dicts]}} from every router replica's stats (None when unreadable)."""
    out = {}
    for label, port in topo.stats_ports().items():
        try:
            data = e2e.router_stats(port)
        except (OSError, ValueError):
            out[label] = None
            continue
        out[label] = dict((pool.get('key'), pool.get('nodes') or []) for pool in data.get('subscriptions') or [])
    return out


def live(nodes):
    return sorted(n['name'] for n in nodes or [] if not n.get('death_mark'))


def wait_pools(topo, predicate=None, what='every pool holds the planned nodes', timeout=WAIT):
    expected = topo.expected_pools()

    def planned(pools):
        return all(replica is not None and all(live(replica.get(key)) == nodes for key, nodes in expected.items())
                   for replica in pools.values())

    predicate = predicate or planned
    deadline = time.time() + timeout
    while True:
        pools = read_pools(topo)
        if predicate(pools):
            return pools
        if time.time() > deadline:
            raise Failed('after %d s, not true: %s; pools %s' % (timeout, what, json.dumps(dict(
                (label, dict((key, [(n['name'], n.get('weight'), n.get('death_mark')) for n in nodes])
                             for key, nodes in (replica or {}).items()))
                for label, replica in pools.items()), sort_keys=True)))
        time.sleep(0.5)


def store_fingerprint(topo, *parts):
    with open(os.path.join(topo.keystore, *parts)) as handle:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(handle.read())).hexdigest()


def presented(topo, name):
    return loadgen.presented_fingerprint('127.0.0.1', topo.router(HTTPS_ROUTER)['port'], name)


def wait_presented(topo, name, fingerprint, timeout=WAIT):
    deadline = time.time() + timeout
    while True:
        seen = presented(topo, name)
        if seen == fingerprint:
            return
        if time.time() > deadline:
            raise Failed('the router presents %s for %s, not %s' % (seen, name, fingerprint))
        time.sleep(0.5)


def read_text(path):
    with open(path) as handle:
        return handle.read()


# --------------------------------------------------------------------------
# The load (loadgen.py as a child process).
# --------------------------------------------------------------------------

class Load(object):
    def __init__(self, topo, threads):
        self.out = os.path.join(OUT, 'load.json')
        self.stop_file = os.path.join(OUT, 'load.stop')
        http, https = topo.router(HTTP_ROUTER), topo.router(HTTPS_ROUTER)
        self.args = [sys.executable, LOADGEN, 'run', '--threads', str(threads), '--max-requests', str(MAX_REQUESTS),
                     '--max-seconds', str(MAX_SECONDS), '--timeout', str(REQUEST_TIMEOUT),
                     '--ca', os.path.join(topo.keystore, 'ca', 'ca.crt'), '--tally-header', 'X-Operations-Version',
                     '--stop-file', self.stop_file, '--out', self.out]
        targets = ['http:127.0.0.1:%d:%s' % (http['port'], key) for key in KEYS]
        targets += ['https:127.0.0.1:%d:%s' % (https['port'], key) for key in KEYS]
        targets.append('https:127.0.0.1:%d:%s:%s' % (https['port'], KEYS[0], HTTPS_ROUTER))
        for target in targets:
            self.args += ['--target', target]
        self.threads = threads
        self.process = None

    def start(self):
        for path in (self.out, self.out + '.progress', self.stop_file):
            if os.path.exists(path):
                os.unlink(path)
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while self.progress()[1] < 2 * self.threads:
            if time.time() > deadline or self.process.poll() is not None:
                raise Failed('the load did not start')
            time.sleep(0.2)

    def progress(self):
        try:
            return tuple(int(v) for v in read_text(self.out + '.progress').split())
        except (OSError, ValueError):
            return 0, 0, 0

    def stop(self):
        with open(self.stop_file, 'w'):
            pass
        try:
            self.process.wait(timeout=REQUEST_TIMEOUT + 20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise Failed('the load did not stop')
        with open(self.out) as handle:
            return json.load(handle)


def wait_requests(load, sent, count, timeout=120):
    deadline = time.time() + timeout
    while load.progress()[0] - sent < count and time.time() < deadline:
        time.sleep(0.3)


class Window(object):
    def __init__(self):
        self.start = self.end = None

    def __enter__(self):
        self.start = time.time()
        return self

    def __exit__(self, *exc):
        self.end = time.time()


# --------------------------------------------------------------------------
# The changes (as in extensions/molecule/operations/tests/test_operations.py).
# --------------------------------------------------------------------------

def change_baseline(topo, load, window):
    with window:
        wait_requests(load, load.progress()[0], int(topo.args.min_requests * 1.1))


def change_weight(topo, load, window):
    app1 = topo.node('app1')
    for sub in app1['subscriptions']:
        sub['weight'] = 2
    with window:
        topo.converge('weight')
    address = '127.0.0.1:%d' % app1['port']
    wait_pools(topo, lambda pools: all(
        [n.get('weight') for n in (replica or {}).get(key, []) if n['name'] == address] == [2]
        for replica in pools.values() for key in (s['key'] for s in app1['subscriptions'])),
        what='app1 has weight 2 in every pool')


def change_processes(topo, load, window):
    topo.node('app2')['processes'] = 3
    with window:
        topo.converge('processes')
    ini = read_text(os.path.join(topo.prefix, 'vassals', 'app2.node.topology.ini'))
    if 'processes = 3' not in ini.splitlines():
        raise Failed('app2 does not run 3 processes:\n%s' % ini)
    wait_pools(topo)


def change_code(topo, load, window):
    topo.variables['operations_app_version'] += 1
    version = str(topo.variables['operations_app_version'])
    topo.write()
    with window:
        topo.play(SHIP_APP, 'code: ship_app.yml')
        topo.play('rolling_restart.yml', 'code: rolling_restart.yml')
    wait_pools(topo)
    nodes = sorted(n['name'] for n in topo.variables['uwsgi_node_instances'])

    def records(result):
        seen = dict((node, sorted(t)) for node, t in loadgen.analyse(result, window.start, window.end)['nodes_after'].items())
        if seen != dict((n, [version]) for n in nodes):
            raise Failed('after the roll every node must answer with version %s: %s' % (version, seen))
    return records


def change_removed(topo, load, window):
    topo.removed = topo.node('app2')
    topo.variables['uwsgi_node_instances'] = [n for n in topo.variables['uwsgi_node_instances'] if n['name'] != 'app2']
    with window:
        topo.converge('node removed')
    wait_pools(topo, what='app2 left every pool')

    def records(result):
        nodes = loadgen.analyse(result, window.start, window.end)['nodes_after']
        if 'app2' in nodes or not nodes:
            raise Failed('requests after the removal reached %s' % sorted(nodes))
    return records


def change_added(topo, load, window):
    if 'app2' not in [n['name'] for n in topo.variables['uwsgi_node_instances']]:
        # As it was when it was removed (or as the bundled default has it).
        base = [n for n in e2e.host_vars(topo.base)['uwsgi_node_instances'] if n['name'] == 'app2'][0]
        topo.variables['uwsgi_node_instances'].append(copy.deepcopy(topo.removed or base))
    with window:
        topo.converge('node added')
    wait_pools(topo, what='app2 is back in every pool')

    def records(result):
        if 'app2' not in loadgen.analyse(result, window.start, window.end)['nodes_after']:
            raise Failed('no request reached app2 after it was added back')
    return records


def change_router_option(topo, load, window):
    for router in topo.variables['uwsgi_router_instances']:
        router['buffer_size'] = 32768
    with window:
        topo.converge('router option')
    for label in topo.stats_ports():
        ini = read_text(os.path.join(topo.prefix, 'vassals', '%s.router.topology.ini' % label))
        if 'http-buffer-size = 32768' not in ini.splitlines():
            raise Failed('router %s has no http-buffer-size = 32768' % label)
    wait_pools(topo)


def _rotate(topo, window, directory, name, sni_name, what):
    old = store_fingerprint(topo, directory, name + '.crt')
    for suffix in ('.crt', '.key'):
        os.unlink(os.path.join(topo.keystore, directory, name + suffix))
    with window:
        topo.converge(what)
    new = store_fingerprint(topo, directory, name + '.crt')
    if new == old:
        raise Failed('%s/%s.crt was not re-issued' % (directory, name))
    wait_presented(topo, sni_name, new)
    wait_pools(topo)


def change_router_cert(topo, load, window):
    _rotate(topo, window, 'routers', HTTPS_ROUTER, HTTPS_ROUTER, 'router certificate')


def change_sni_cert(topo, load, window):
    kept = presented(topo, KEYS[1])
    _rotate(topo, window, 'sni', KEYS[0], KEYS[0], 'SNI certificate')
    if presented(topo, KEYS[1]) != kept:
        raise Failed('the SNI certificate of %s changed too' % KEYS[1])


def change_signing_key(topo, load, window):
    key = KEYS[0]
    private = os.path.join(topo.keystore, 'signing', key + '.pem')
    public = os.path.join(topo.keystore, 'signing', 'public', key + '.pem')
    old = read_text(public)
    os.unlink(private)
    os.unlink(public)
    with window:
        topo.converge('signing key')
    new = read_text(public)
    if new == old:
        raise Failed('the signing key of %s was not re-created' % key)
    converged = window.end
    wait_pools(topo, lambda pools: all(
        sorted(n['name'] for n in (replica or {}).get(key, []) if not n.get('death_mark') and n.get('last_check', 0) > converged + 1)
        == topo.expected_pools()[key] for replica in pools.values()),
        what='every node announced %s with the new key' % key)


def change_drain(topo, load, window):
    address = '127.0.0.1:%d' % topo.node('app1')['port']
    keys = [s['key'] for s in topo.node('app1')['subscriptions']]
    marks = {}
    with window:
        sent = load.progress()[0]
        topo.play(DRAIN, 'drain app1', '-e', 'operations_drain_instance=app1', '-e', 'operations_drain_state=drained')
        marks['drained'] = time.time()
        wait_pools(topo, lambda pools: all(address not in live((replica or {}).get(key))
                                           for replica in pools.values() for key in keys), what='app1 left every pool')
        wait_requests(load, sent, int(topo.args.min_requests * 1.1))
        marks['undrain'] = time.time()
        topo.play(DRAIN, 'undrain app1', '-e', 'operations_drain_instance=app1', '-e', 'operations_drain_state=active')
    wait_pools(topo, what='app1 is back in every pool')

    def records(result):
        during = loadgen.nodes_between(result, marks['drained'], marks['undrain'])
        if 'app1' in during or not during:
            raise Failed('requests while app1 was drained reached %s' % sorted(during))
        if 'app1' not in loadgen.analyse(result, window.start, window.end)['nodes_after']:
            raise Failed('no request reached app1 after the undrain')
    return records


CHANGES = (
    ('baseline', 'baseline (no change)', change_baseline),
    ('weight', 'node weight', change_weight),
    ('processes', 'node processes', change_processes),
    ('code', 'code + rolling_restart', change_code),
    ('removed', 'node removed', change_removed),
    ('added', 'node added', change_added),
    ('router-option', 'router option', change_router_option),
    ('router-cert', 'router certificate', change_router_cert),
    ('sni-cert', 'SNI certificate', change_sni_cert),
    ('signing-key', 'signing key', change_signing_key),
    ('drain', 'drain + undrain (module)', change_drain),
)


def run_change(topo, label, change):
    row = {'change': label}
    load = Load(topo, topo.args.threads)
    window = Window()
    records_check = None
    result = None
    load.start()
    try:
        records_check = change(topo, load, window)
        while time.time() < (window.end or 0) + SETTLE:
            time.sleep(0.2)
    except Exception as exc:  # pylint: disable=broad-except  # every change runs; the table says what failed
        row['error'] = '%s: %s' % (type(exc).__name__, str(exc)[-1500:])
        log('%s: %s' % (label, traceback.format_exc()))
    finally:
        try:
            result = load.stop()
        except Failed as exc:
            row['error'] = '%s; %s' % (row.get('error') or '', exc)
    if result is not None and window.start is not None:
        row.update(loadgen.analyse(result, window.start, window.end or time.time()))
        if records_check and not row.get('error'):
            try:
                records_check(result)
            except Failed as exc:
                row['error'] = str(exc)
        failures = [r for r in result['records'] if r[loadgen.CAUSE]]
        log('%s: change %.1f s, %d requests during it, %d failed (by target %s; first %s)' % (
            label, row['seconds'], row['requests'], row['failed'], json.dumps(row['failures_by_target'], sort_keys=True),
            json.dumps(failures[:5])))
    return row


# --------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--port-offset', type=int, default=11000)
    parser.add_argument('--replicas', type=int, default=None,
                        help='replicas of every router (default: as the bundled default says)')
    parser.add_argument('--threads', type=int, default=8)
    parser.add_argument('--min-requests', type=int, default=1000,
                        help='requests that must start during each change (the issue: 1000)')
    parser.add_argument('--changes', default=','.join(c[0] for c in CHANGES),
                        help='comma-separated, from: %s' % ', '.join(c[0] for c in CHANGES))
    parser.add_argument('--forks', type=int, default=None)
    parser.add_argument('--timeout', type=int, default=900, help='seconds per ansible-playbook run at most')
    parser.add_argument('--keep', action='store_true', help='leave the deployment running')
    parser.add_argument('--reuse', action='store_true', help='use a running deployment a --keep run left')
    args = parser.parse_args(argv)
    known = [c[0] for c in CHANGES]
    args.change_list = [c.strip() for c in args.changes.split(',') if c.strip()]
    unknown = [c for c in args.change_list if c not in known]
    if unknown:
        parser.error('--changes: unknown %s (known: %s)' % (', '.join(unknown), ', '.join(known)))
    if args.threads < 8:
        parser.error('--threads: at least 8 (the issue)')
    if args.replicas is not None and args.replicas < 1:
        parser.error('--replicas: at least 1')
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def migrate_req():
    try:
        return read_text('/proc/sys/net/ipv4/tcp_migrate_req').strip()
    except OSError:
        return 'unknown'


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isabs(e2e.tool('ansible-playbook')):
        log('%s/ansible-playbook not found: run `make venv` first' % e2e.VENV_BIN)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    shutil.rmtree(LOGS, ignore_errors=True)
    os.makedirs(OUT, exist_ok=True)
    topo = Topology(args, bp.current_tree())
    rows = []
    failures = []
    started = time.time()
    try:
        deployment = topo.deployment
        if args.reuse and e2e.emperor_pid(topo.prefix) is not None:
            log('reusing the deployment in %s: converging it back to the bundled default' % os.path.relpath(WORKDIR, REPO))
            deployment.deployed = True
            topo.converge('reuse')
        else:
            try:
                deployment.prepare()
            except bp.CannotRun as exc:
                log(str(exc))
                return 2
            deployment.deployed = True
            log('deploying the bundled default (%s)' % os.path.relpath(WORKDIR, REPO))
            topo.converge('deploy')
        wait_pools(topo, timeout=60)
        for key, label, change in CHANGES:
            if key not in args.change_list:
                continue
            log('---- %s' % label)
            rows.append(run_change(topo, label, change))
    except (Failed, bp.PlayFailed) as exc:
        failures.append(str(exc))
        log('FAILED: %s' % exc)
    finally:
        if args.keep:
            log('deployment kept: %s (tear down: ansible-playbook teardown.yml -i %s with TOPOLOGY_PREFIX=%s)'
                % (WORKDIR, topo.deployment.inventory_path, topo.prefix))
        else:
            try:
                topo.deployment.tear_down()
            except bp.PlayFailed as exc:
                failures.append('teardown: %s' % exc.what)
    replicas = dict((r['name'], r.get('replicas') or 1) for r in topo.variables['uwsgi_router_instances'])
    print(loadgen.table(rows, 'bench-changes: the bundled default on 127.0.0.1 (%d threads, http and https with SNI, '
                              '15%% /slow?ms=200, 10%% /bytes?n=65536; router replicas %s; net.ipv4.tcp_migrate_req=%s)'
                        % (args.threads, json.dumps(replicas, sort_keys=True), migrate_req())))
    print('total %.0f s' % (time.time() - started))
    for row in rows:
        met = not row.get('error') and row.get('failed') == 0 and (row.get('requests') or 0) >= args.min_requests
        print('  %-28s %s' % (row['change'], 'met' if met else 'MISSED (0 failed and >= %d requests during the change)%s'
                              % (args.min_requests, '; ' + row['error'][:300] if row.get('error') else '')))
        if row.get('error'):
            failures.append('%s: %s' % (row['change'], row['error'][:300]))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
