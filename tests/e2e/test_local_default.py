# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one-machine default end to end, in order: check mode on a fresh prefix, deploy and
verify, requests from outside, a second run with changed=0, check mode after the deploy, a
broken inventory against the running topology, an inventory change (a node removed, an SNI
certificate rotated), teardown.

The bundled inventory (inventory/local.yml) runs with its ports shifted by PORT_OFFSET and
its prefix in a temporary directory. The tests depend on each other's effects and run in
file order; the module's finalizer tears the topology down whatever happened.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

import pytest

import e2e_support as e2e

PORT_OFFSET = 100
TIMINGS = os.path.join(e2e.ROOT, '.build', 'e2e-timings.json')


@pytest.fixture(scope='module')
def topo(tmp_path_factory):
    base = tmp_path_factory.mktemp('local-default')
    state = {
        'prefix': base / 'prefix',
        'inventory': e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET),
        'timings': {},
    }
    state['inventory_path'] = e2e.write_inventory(state['inventory'], base / 'inventory.yml')
    state['env'] = e2e.clean_env(prefix=state['prefix'])
    e2e.require_free_ports(state['inventory'])
    yield state
    # Whatever happened: stop every process of the prefix and remove it.
    e2e.tear_down(state['prefix'], state['inventory_path'], state['env'])
    try:
        os.makedirs(os.path.dirname(TIMINGS), exist_ok=True)
        with open(TIMINGS, 'w') as handle:
            json.dump(state['timings'], handle, indent=1, sort_keys=True)
    except OSError:
        pass


def _port(topo, kind, name, key='port'):
    return e2e.instance(topo['inventory'], kind, name)[key]


def _require(topo, step):
    if not topo.get(step):
        pytest.skip('needs the earlier step %r, which failed' % step)


def test_check_mode_on_a_fresh_machine_changes_nothing(topo):
    run = e2e.playbook('site.yml', topo['inventory_path'], topo['env'], '--check', '--diff')
    topo['timings']['check_fresh'] = run.seconds
    assert run.returncode == 0, run.tail()
    assert run.changed() > 0, 'check mode on a fresh prefix must report the changes'
    assert 'venv/bin/uwsgi' in run.output or 'Build and install uWSGI' in run.output
    assert not topo['prefix'].exists(), 'check mode created the prefix'


def test_deploy_and_verify(topo):
    run = e2e.playbook('site.yml', topo['inventory_path'], topo['env'])
    topo['timings']['deploy'] = run.seconds
    assert run.returncode == 0, run.tail(120)
    assert run.recap[e2e.HOST]['failed'] == 0
    # The verification ran and printed the pools.
    assert 'Show the pools' in run.output
    assert 'key app.test: ' in run.output and 'key api.test: ' in run.output
    topo['deployed'] = True


def test_requests_reach_every_node_over_http_and_https(topo):
    _require(topo, 'deployed')
    http = _port(topo, 'router', 'edge-http')
    https = _port(topo, 'router', 'edge-https')
    ca = str(topo['prefix'] / 'certs' / 'topology-ca.pem')
    assert e2e.answered_by(http, 'app.test', 8) == {'app1', 'app2'}
    assert e2e.bodies(http, 'api.test', 3) == {'api1': 3}
    assert e2e.answered_by(https, 'app.test', 8, tls=True, ca=ca) == {'app1', 'app2'}
    status, body, _der = e2e.http_get(https, 'api.test', tls=True, ca=ca)
    assert (status, body) == (200, 'api1')
    # Each key gets its own certificate through the subscriptions (SNI), signed by the CA:
    # ssl verified the chain and the name already; the certificate is the one on disk.
    for key in ('app.test', 'api.test'):
        _status, _body, der = e2e.http_get(https, key, tls=True, ca=ca)
        with open(str(topo['prefix'] / 'certs' / (key + '.crt'))) as handle:
            on_disk = e2e.ssl.PEM_cert_to_DER_cert(handle.read())
        assert der == on_disk, 'router %s did not present the SNI certificate of %s' % (https, key)
    # Signed subscriptions: every router checks signatures with the public keys placed for it.
    for router in ('edge-http', 'edge-https'):
        pubkeys = sorted(os.listdir(str(topo['prefix'] / 'pubkeys' / router)))
        assert pubkeys == ['api.test.pem', 'app.test.pem']
        ini = (topo['prefix'] / 'vassals' / (router + '.router.topology.ini')).read_text()
        assert 'subscriptions-sign-check = SHA256:%s' % (topo['prefix'] / 'pubkeys' / router) in ini
    assert oct(os.stat(str(topo['prefix'] / 'keys' / 'app.test.pem')).st_mode & 0o777) == '0o600'
    stats = e2e.router_stats(_port(topo, 'router', 'edge-http', 'stats_port'))
    assert e2e.live_nodes(stats, 'app.test') == ['127.0.0.1:%d' % (13031 + PORT_OFFSET),
                                                 '127.0.0.1:%d' % (13032 + PORT_OFFSET)]


def test_second_run_reports_no_change(topo):
    _require(topo, 'deployed')
    run = e2e.playbook('site.yml', topo['inventory_path'], topo['env'])
    topo['timings']['rerun'] = run.seconds
    assert run.returncode == 0, run.tail(120)
    assert run.changed() == 0, 'second run changed something:\n' + '\n'.join(
        line for line in run.output.splitlines() if line.startswith('changed:') or line.startswith('TASK'))


def test_check_mode_after_deploy_reports_no_change(topo):
    _require(topo, 'deployed')
    run = e2e.playbook('site.yml', topo['inventory_path'], topo['env'], '--check', '--diff')
    topo['timings']['check_deployed'] = run.seconds
    assert run.returncode == 0, run.tail(120)
    assert run.changed() == 0, run.tail(120)


def test_broken_inventory_leaves_the_running_topology_untouched(topo, tmp_path):
    _require(topo, 'deployed')
    broken = e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)
    router = e2e.instance(broken, 'router', 'edge-https')
    router['cert'] = str(tmp_path / 'missing.crt')
    router['key'] = str(tmp_path / 'missing.key')
    path = e2e.write_inventory(broken, tmp_path / 'broken.yml')
    before = _files(topo['prefix'])
    run = e2e.playbook('site.yml', path, topo['env'])
    assert run.returncode != 0
    assert 'host uwsgi-local: uwsgi_router_instances[1].cert' in run.output, run.tail()
    assert _files(topo['prefix']) == before, 'a failed run changed files in the prefix'
    assert e2e.answered_by(_port(topo, 'router', 'edge-http'), 'app.test', 6) == {'app1', 'app2'}


def _files(prefix):
    """The prefix's files, except the logs (uWSGI writes them all the time)."""
    logs = str(prefix / 'log')
    return dict((k, v) for k, v in e2e.snapshot(prefix).items() if not k.startswith(logs))


def test_removed_node_is_pruned_and_a_rotated_certificate_reloads_the_router(topo, tmp_path):
    _require(topo, 'deployed')
    prefix = topo['prefix']
    https = _port(topo, 'router', 'edge-https')
    ca = str(prefix / 'certs' / 'topology-ca.pem')
    _s, _b, old_der = e2e.http_get(https, 'app.test', tls=True, ca=ca)

    # edge-http's replicas reload (api.test's public key leaves their directories: a signed router reloads
    # on its public keys, one replica at a time, since a rotated key needs its pools created afresh).
    kept = ('app1.node.topology.ini',)
    untouched = dict((v, e2e.vassal_pids(prefix, v)) for v in kept)
    assert all(untouched.values()), untouched
    changed = e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)
    nodes = e2e.instances(changed, 'node')
    nodes[:] = [n for n in nodes if n['name'] != 'api1']
    # One instance's configuration changes: only its vassal reloads.
    e2e.instance(changed, 'node', 'app2')['processes'] = 3
    path = e2e.write_inventory(changed, tmp_path / 'without-api1.yml')
    # A renewed certificate: the keys role signs a new one for app.test.
    os.unlink(str(prefix / 'keystore' / 'sni' / 'app.test.crt'))

    run = e2e.playbook('site.yml', path, topo['env'])
    topo['timings']['change'] = run.seconds
    assert run.returncode == 0, run.tail(120)
    assert run.changed() > 0
    topo['inventory_path'] = path

    # api1 and everything only it needed are gone.
    assert not (prefix / 'vassals' / 'api1.node.topology.ini').exists()
    assert not (prefix / 'keys' / 'api.test.pem').exists()
    for router in ('edge-http', 'edge-https'):
        assert sorted(os.listdir(str(prefix / 'pubkeys' / router))) == ['app.test.pem']
    assert not (prefix / 'certs' / 'api.test.crt').exists()
    assert not (prefix / 'certs' / 'api.test.key').exists()
    stats_port = _port(topo, 'router', 'edge-http', 'stats_port')
    assert e2e.wait_until(lambda: e2e.live_nodes(e2e.router_stats(stats_port), 'api.test') == [], 30)

    # The router replicas reloaded one by one (the SNI certificate's digest in their vassal files) and
    # present the new one.
    with open(str(prefix / 'certs' / 'app.test.crt')) as handle:
        new_der = e2e.ssl.PEM_cert_to_DER_cert(handle.read())
    assert new_der != old_der

    def presented():
        try:
            return e2e.http_get(https, 'app.test', tls=True, ca=ca)[2] == new_der
        except (OSError, e2e.ssl.SSLError):
            return False
    assert e2e.wait_until(presented, 30), 'edge-https still presents the old certificate of app.test: %s' % (
        hashlib.sha256(old_der).hexdigest())
    assert e2e.answered_by(https, 'app.test', 8, tls=True, ca=ca) == {'app1', 'app2'}

    # app2 reloaded with 3 workers (a master and 3 workers); app1 did not reload at all (its
    # workers kept their pids).
    assert 'processes = 3' in (prefix / 'vassals' / 'app2.node.topology.ini').read_text()
    assert e2e.wait_until(lambda: len(e2e.vassal_pids(prefix, 'app2.node.topology.ini')) == 4, 30), \
        e2e.vassal_pids(prefix, 'app2.node.topology.ini')
    for vassal, pids in untouched.items():
        assert e2e.vassal_pids(prefix, vassal) == pids, '%s was reloaded' % vassal


def test_teardown_stops_everything_and_removes_the_prefix(topo):
    _require(topo, 'deployed')
    run = e2e.playbook('teardown.yml', topo['inventory_path'], topo['env'])
    topo['timings']['teardown'] = run.seconds
    assert run.returncode == 0, run.tail(120)
    assert not topo['prefix'].exists()
    assert e2e.processes_under(topo['prefix']) == []
    assert e2e.busy_ports(e2e.ports_of(topo['inventory'])) == []
