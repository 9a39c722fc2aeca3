# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the router metrics plan: one exporter vassal per router host, its code, its routers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest

from ansible.utils.display import Display

from ansible_collections.uwsgi.topology.plugins.filter.topology_plan import topology_plan
from ansible_collections.uwsgi.topology.plugins.module_utils import metrics
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.core import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.manifest import add_manifests
from ansible_collections.uwsgi.topology.plugins.module_utils.metrics_plan import SOURCES, add_metrics
from ansible_collections.uwsgi.topology.plugins.module_utils.topology import plan_topology

PREFIX = '/srv/t'
PACKAGE = PREFIX + '/metrics/lib/ansible_collections/uwsgi/topology/plugins/module_utils'
GROUPS = {'uwsgi_routers': ['uwsgi-local'], 'uwsgi_nodes': ['uwsgi-local']}


def subs(key):
    return [{'router': 'edge-http', 'key': key}, {'router': 'edge-https', 'key': key}]


def local_default(**host_vars):
    """The bundled one-machine default (inventory/local.yml)."""
    host = {
        'ansible_host': '127.0.0.1', 'uwsgi_topology_prefix': PREFIX,
        'uwsgi_router_instances': [
            {'name': 'edge-http', 'type': 'http', 'port': 18080, 'subscription_port': 12626, 'stats_port': 19191,
             'tolerance': 10},
            {'name': 'edge-https', 'type': 'https', 'port': 18443, 'subscription_port': 12627,
             'stats_port': 19192, 'keys': ['app.test', 'api.test'], 'tolerance': 10}],
        'uwsgi_node_instances': [
            {'name': 'app1', 'port': 13031, 'subscriptions': subs('app.test')},
            {'name': 'app2', 'port': 13032, 'subscriptions': subs('app.test')},
            {'name': 'api1', 'port': 13033, 'subscriptions': subs('api.test')}]}
    host.update(host_vars)
    return {'uwsgi-local': host}


def plan_of(hosts, groups=None):
    plan = plan_topology(hosts, groups or GROUPS)
    add_manifests(plan, '/ctl/store', demo_app_src='/coll/demo_app.py')
    return add_metrics(plan, hosts)


def separate_hosts(**router_vars):
    """A router host and a node host on their own addresses; the router has a second replica."""
    router = {'ansible_host': '10.0.0.5', 'uwsgi_router_instances': [
        {'name': 'edge', 'type': 'http', 'port': 8080, 'subscription_port': 2626, 'stats_port': 9191, 'replicas': 2,
         'secured': False},
        {'name': 'quiet', 'type': 'fast', 'port': 3000, 'subscription_port': 2700, 'secured': False}]}
    router.update(router_vars)
    return {
        'lb1': router,
        'web1': {'ansible_host': '10.0.1.7', 'uwsgi_node_instances': [
            {'name': 'app', 'port': 3031, 'subscriptions': [{'router': 'edge', 'key': 'app.test'},
                                                            {'router': 'quiet', 'key': 'app.test'}]}]},
    }


SEPARATE_GROUPS = {'uwsgi_routers': ['lb1'], 'uwsgi_nodes': ['web1']}


@pytest.fixture(scope='module')
def default_metrics():
    return plan_of(local_default())['hosts']['uwsgi-local']['manifest']['metrics']


def test_the_local_default_gets_one_exporter_reading_both_routers(default_metrics):
    part = default_metrics
    assert part['listen'] == '127.0.0.1:20191'
    assert part['url'] == 'http://127.0.0.1:20191/metrics'
    assert part['target'] is None
    pools = {'api.test': ['127.0.0.1:13033'], 'app.test': ['127.0.0.1:13031', '127.0.0.1:13032']}
    assert part['routers'] == [
        {'router': 'edge-http', 'type': 'http', 'stats': '127.0.0.1:19191', 'tolerance': 10, 'expect': pools},
        {'router': 'edge-https', 'type': 'https', 'stats': '127.0.0.1:19192', 'tolerance': 10, 'expect': pools}]
    assert part['suffix'] == '.exporter.topology.ini'
    assert [v['file'] for v in part['vassals']] == ['router-metrics.exporter.topology.ini']
    assert part['vassals'][0]['socket'] == '127.0.0.1:20191'
    assert part['prune'] == [PREFIX + '/metrics']
    assert [d['path'] for d in part['directories']] == [PREFIX + '/metrics', PACKAGE]


def test_the_exporter_code_is_placed_under_its_package_path(default_metrics):
    files = default_metrics['files']
    assert [f['dest'] for f in files] == [PACKAGE + '/errors.py', PACKAGE + '/stats.py', PACKAGE + '/metrics.py']
    for item in files:
        assert item['src'] == os.path.join(SOURCES, os.path.basename(item['dest']))
        assert os.path.isfile(item['src'])
        assert (item['mode'], item['secret'], item['private'], item['kind']) == ('0644', False, False, 'metrics_code')
    assert os.path.samefile(os.path.join(SOURCES, 'metrics.py'), metrics.__file__)


@pytest.mark.parametrize('build', [None, {'plugin_build': True}], ids=['pypi', 'debian'])
def test_the_exporter_vassal_compiles_and_carries_its_routers(default_metrics, build):
    spec = default_metrics['vassals'][0]['spec']
    options = compile_options(spec, build=build)
    names = [name for name, _value in options]
    assert ('plugin', 'python3') in [tuple(o) for o in options] if build else 'plugin' not in names
    got = dict((name, value) for name, value in options if name != 'env')
    assert len(got) + 2 == len(options), options
    assert got['http-socket'] == '127.0.0.1:20191'
    assert got['wsgi-file'] == PACKAGE + '/metrics.py'
    assert got['pythonpath'] == PREFIX + '/metrics/lib'
    assert (got['processes'], got['need-app'], got['die-on-term'], got['master']) == ('1', 'true', 'true', 'true')
    # New code reloads the exporter: the vassals module writes a digest of these files into the vassal.
    assert default_metrics['vassals'][0]['depends'] == [
        PACKAGE + '/errors.py', PACKAGE + '/stats.py', PACKAGE + '/metrics.py']
    environment = [value for name, value in options if name == 'env']
    # The code never writes __pycache__ beside itself (the role would prune it at every run).
    assert environment[1] == 'PYTHONDONTWRITEBYTECODE=1'
    variable, _sep, config = environment[0].partition('=')
    assert variable == metrics.CONFIG_ENV
    assert metrics.load_config(config)['routers'] == default_metrics['routers']
    ini = render_ini(options)
    assert '\nenv = TOPOLOGY_METRICS_CONFIG={"routers":[' in ini and '%' not in ini


def test_python_is_needed_on_a_router_host_only_for_the_exporter():
    hosts = separate_hosts()
    plan = plan_of(hosts, SEPARATE_GROUPS)
    assert plan['hosts']['lb1']['manifest']['needs']['python'] is True
    off = plan_of(separate_hosts(uwsgi_topology_metrics=False), SEPARATE_GROUPS)
    assert off['hosts']['lb1']['manifest']['needs']['python'] is False


def test_every_replica_is_read_and_routers_without_stats_are_not():
    part = plan_of(separate_hosts(), SEPARATE_GROUPS)['hosts']['lb1']['manifest']['metrics']
    assert [(r['router'], r['stats'], r['tolerance']) for r in part['routers']] == [
        ('edge', '127.0.0.1:9191', 17), ('edge.r1', '127.0.0.1:9192', 17)]
    assert part['routers'][1]['expect'] == {'app.test': ['10.0.1.7:3031']}
    assert part['listen'] == '127.0.0.1:10191'


def test_a_node_host_gets_no_exporter_but_prunes_one():
    part = plan_of(separate_hosts(), SEPARATE_GROUPS)['hosts']['web1']['manifest']['metrics']
    assert (part['vassals'], part['files'], part['directories'], part['routers']) == ([], [], [], [])
    assert part['prune'] == ['/var/lib/uwsgi-topology/metrics']
    assert part['listen'] is None and part['url'] is None


def test_a_router_host_without_stats_gets_no_exporter():
    hosts = separate_hosts()
    for router in hosts['lb1']['uwsgi_router_instances']:
        router.pop('stats_port', None)
    part = plan_of(hosts, SEPARATE_GROUPS)['hosts']['lb1']['manifest']['metrics']
    assert part['vassals'] == [] and part['routers'] == []


def test_opting_out_keeps_the_routers_for_the_module():
    part = plan_of(local_default(uwsgi_topology_metrics=False))['hosts']['uwsgi-local']['manifest']['metrics']
    assert part['vassals'] == [] and part['files'] == [] and part['directories'] == []
    assert part['prune'] == [PREFIX + '/metrics']
    assert [r['router'] for r in part['routers']] == ['edge-http', 'edge-https']


def test_port_and_address_of_ones_own():
    plan = plan_of(separate_hosts(uwsgi_topology_metrics_port=9400, uwsgi_topology_metrics_address='0.0.0.0'),
                   SEPARATE_GROUPS)
    part = plan['hosts']['lb1']['manifest']['metrics']
    assert (part['listen'], part['url'], part['target']) == ('0.0.0.0:9400', 'http://127.0.0.1:9400/metrics',
                                                             '10.0.0.5:9400')
    warned = [w for w in plan['warnings'] if 'uwsgi_topology_metrics_address' in w]
    assert len(warned) == 1 and warned[0].startswith('host lb1: uwsgi_topology_metrics_address: ')
    assert 'listens on 0.0.0.0:9400' in warned[0]


def test_tolerance_set_through_the_spec_options():
    hosts = separate_hosts()
    hosts['lb1']['uwsgi_router_instances'][0]['spec'] = {'options': [['subscription-tolerance', '25']]}
    part = plan_of(hosts, SEPARATE_GROUPS)['hosts']['lb1']['manifest']['metrics']
    assert [r['tolerance'] for r in part['routers']] == [25, 25]


@pytest.mark.parametrize('host_vars, where, message', [
    ({'uwsgi_topology_metrics': 'maybe'}, 'host uwsgi-local: uwsgi_topology_metrics', ''),
    ({'uwsgi_topology_metrics_port': 0}, 'host uwsgi-local: uwsgi_topology_metrics_port', ''),
    ({'uwsgi_topology_metrics_port': 13031}, 'host uwsgi-local: uwsgi_topology_metrics_port',
     'TCP port 13031 on 127.0.0.1 (the router metrics exporter; by default the lowest stats_port of the host\'s '
     'routers + 1000) is already claimed by instance app1 (host uwsgi-local)'),
    ({'uwsgi_topology_metrics_port': 19192}, 'host uwsgi-local: uwsgi_topology_metrics_port',
     'already claimed by instance edge-https'),
    ({'uwsgi_topology_metrics_address': 'localhost'}, 'host uwsgi-local: uwsgi_topology_metrics_address',
     "must be a numeric IPv4 address of the host (or 0.0.0.0 for every address), got 'localhost'"),
])
def test_bad_settings_are_refused_naming_the_host_and_variable(host_vars, where, message):
    with pytest.raises(TopologyError) as caught:
        plan_of(local_default(**host_vars))
    assert caught.value.path == where
    assert message in caught.value.message


def test_the_default_port_must_fit():
    hosts = local_default()
    hosts['uwsgi-local']['uwsgi_router_instances'][0]['stats_port'] = 65000
    hosts['uwsgi-local']['uwsgi_router_instances'][1]['stats_port'] = 65001
    with pytest.raises(TopologyError) as caught:
        plan_of(hosts)
    assert caught.value.path == 'host uwsgi-local: uwsgi_topology_metrics_port'
    assert 'is required here: the default, the lowest stats_port of the host\'s routers + 1000, is 66000' \
        in caught.value.message


def test_two_hosts_on_one_machine_cannot_share_the_exporter_port():
    hosts = {'a': copy.deepcopy(local_default()['uwsgi-local']), 'b': copy.deepcopy(local_default()['uwsgi-local'])}
    hosts['b']['uwsgi_router_instances'] = [
        {'name': 'other', 'type': 'http', 'port': 28080, 'subscription_port': 22626, 'stats_port': 29191}]
    hosts['b']['uwsgi_node_instances'] = []
    hosts['b']['uwsgi_topology_metrics_port'] = 20191
    with pytest.raises(TopologyError) as caught:
        plan_of(hosts, {'uwsgi_routers': ['a', 'b'], 'uwsgi_nodes': ['a']})
    assert caught.value.path == 'host b: uwsgi_topology_metrics_port'
    assert 'already claimed by the router metrics exporter of host a' in caught.value.message


def test_too_many_routers_for_the_environment_variable():
    hosts = local_default()
    many = ['10.9.%d.%d:3031' % (i // 250, i % 250) for i in range(9000)]
    hosts['uwsgi-local']['uwsgi_node_instances'] = []
    plan = plan_topology(hosts, GROUPS)
    add_manifests(plan, '/ctl/store')
    plan['hosts']['uwsgi-local']['routers'][0]['expect'] = {'app.test': many}
    with pytest.raises(TopologyError) as caught:
        add_metrics(plan, hosts)
    assert caught.value.path == 'host uwsgi-local: uwsgi_topology_metrics'
    assert 'set uwsgi_topology_metrics: false on this host' in caught.value.message


def test_the_filter_plans_the_metrics_from_the_host_variables(monkeypatch):
    monkeypatch.setattr(Display, 'warning', lambda self, msg, *args, **kwargs: None)
    hostvars = local_default(uwsgi_topology_metrics_port=20500)
    plan = topology_plan(hostvars, {'all': ['uwsgi-local'], 'uwsgi_routers': ['uwsgi-local'],
                                    'uwsgi_nodes': ['uwsgi-local']})
    part = plan['hosts']['uwsgi-local']['manifest']['metrics']
    assert part['listen'] == '127.0.0.1:20500'
    assert json.loads(json.dumps(part)) == part  # plain data, as Ansible carries it
