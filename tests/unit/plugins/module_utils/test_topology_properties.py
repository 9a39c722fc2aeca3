# -*- coding: utf-8 -*-
"""Property-based tests of the topology planner (Hypothesis).

Generated inventories, valid and broken (wrong types, missing and unknown fields, bad ports,
duplicate names, federation cycles, unknown routers, every documented form of ``spec``), must
yield either a plan whose every vassal compiles for its host, or a TopologyError whose message
names a host and an inventory path, or a play variable; never another exception.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

import pytest

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options  # noqa: E402
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError  # noqa: E402
from ansible_collections.uwsgi.topology.plugins.module_utils.topology import (  # noqa: E402
    DIGESTS, NODE_KEYS, ROUTER_KEYS, SUBSCRIPTION_KEYS, plan_topology,
)

KEYS = ['app.test', 'api.test', 'b.example.com:8443']
ROUTER_TYPES = ['http', 'https', 'ssl', 'fast', 'raw']
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# What a refusal must start with: a host and the inventory path as written, or a play variable.
HOST_PATH = re.compile(r'^host (?P<host>[^:\s]+): (?P<path>(uwsgi_router_instances|uwsgi_node_instances)\[\d+\]'
                       r'[\w.\[\]-]*|uwsgi_router_instances|uwsgi_node_instances|uwsgi_topology_prefix|'
                       r'uwsgi_topology_build[\w.\[\]]*|uwsgi_topology_advertise_address|ansible_host|'
                       r'inventory_hostname): ')
PLAY_PATH = re.compile(r'^play variable uwsgi_topology_(version|secured|prefix|build|announce_interval|digest|'
                       r'router_group|node_group)[\w.\[\]]*: ')

# Values of every kind a field can wrongly hold.
BROKEN = [None, True, False, 2.5, 1.0, -1, 0, 70000, '', 'x y', 'nowhere', [], {}, ['x'], [None], {'a': 1},
          '10.0.0.5:9000', '0.0.0.0', '::1', 'relative/path', '/abs/path', '/abs/path\nx', 'fastest', 'iphash',
          'wlrc', 'SHA1', 'r0', 'n0', 'edge0', 'node0', 'group_edges', 'app.test', '80', 2626, 3000, 9100]
# Every documented form of spec, good and bad.
SPECS = [
    {'router': 'fast'}, {'router': ['fast']}, {'router': {}}, {'router': {'bogus': 1}},
    {'router': {'bind': '10.0.0.1:1'}}, {'router': {'basic_params': {'quiet': True}}},
    {'router': {'basic_params': {'workers': 2}}}, {'router': {'basic_params': 'x'}},
    {'router': {'forward_to': {'type': 'magic'}}}, {'router': {'forward_to': [{'type': 'path', 'sockets_dir': '/r/'}]}},
    {'router': {'forward_to': '10.0.0.9:3031'}}, {'router': {'forward_to': ['0.0.0.0:1']}},
    {'router': {'connections_params': {'timeout_backend': 2}}}, {'router': {'use_sni': True}},
    {'subscriptions': []}, {'subscriptions': {'server_params': {'mountpoints_depth': 1}}},
    {'subscriptions': {'server_params': {'tolerance': 5}}}, {'subscriptions': {'server_params': 'x'}},
    {'subscriptions': {'server_verification_params': {'dir_cert': '/srv/k'}}},
    {'subscriptions': {'subscribe': {'server': '10.0.0.9:2626', 'key': 'x', 'address': '10.0.1.1:1'}}},
    {'subscriptions': {'subscribe': [{'server': 'host.example', 'key': 'x', 'address': '10.0.1.1:1'}]}},
    {'subscriptions': {'subscribe': [{'server': '10.0.0.9:2626', 'key': 'x', 'address': '10.0.1.1:1',
                                      'balancing_weight': 7}]}},
    {'subscriptions': {'client_params': {'announce_interval': 0}}},
    {'options': {'processes': 4}}, {'options': {'harakiri': 30}}, {'options': [['harakiri', 30]]},
    {'options': [['wsgi-file', '/x.py']]}, {'options': [['a', 1, 2]]}, {'options': 'x'}, {'options': {'master': 0}},
    {'options': [['bad name', 1]]}, {'options': {'env': ['A=1', 'B=2']}}, {'options': {'x': None}},
    {'options': {'ssl-sessions-use-cache': True, 'sni-dir': '/s'}}, {'options': [[1, 2]]},
    {'plugins': 'router_cache'}, {'plugins': ['a', None]}, {'plugins': {'a': 1}}, {'bogus': 1}, 'spec', [],
]


def _router(index, kind, draw):
    router = {'name': 'edge%d' % index, 'type': kind, 'port': 8000 + index}
    if draw(st.booleans()):
        router['subscription_port'] = 2600 + index
    if draw(st.booleans()):
        router['stats_port'] = 9100 + index
    for name, values in (('secured', [True, False]), ('keys', [KEYS[:1], KEYS, KEYS[1]]),
                         ('tolerance', [5, 30]), ('algorithm', ['wrr', 'lrc', 'wlrc']), ('workers', [1]),
                         ('sign_tolerance', [60]), ('bind_address', ['0.0.0.0', '10.1.1.1'])):
        if draw(st.integers(0, 3)) == 0:
            router[name] = draw(st.sampled_from(values))
    if router.get('secured') is False and draw(st.booleans()):
        router['workers'] = 2
    if kind in ('https', 'ssl') and draw(st.integers(0, 3)) == 0:
        router['sni'] = False
    if kind in ('https', 'ssl') and draw(st.integers(0, 3)) == 0:
        router.update(cert='/etc/ssl/edge%d.crt' % index, key='/etc/ssl/edge%d.key' % index)
    return router


def _node(index, routers, draw):
    node = {'name': 'node%d' % index, 'port': 3000 + index}
    for name, values in (('processes', [1, 4]), ('wsgi_file', ['/srv/app.py']), ('callable', ['app']),
                         ('announce_interval', [1, 5])):
        if draw(st.integers(0, 3)) == 0:
            node[name] = draw(st.sampled_from(values))
    subscriptions = []
    refs = routers + ['r0', 'r1', 'group_edges']
    weight = draw(st.sampled_from([None, 1, 2]))
    for _round in range(draw(st.integers(0, 2))):
        sub = {'router': draw(st.sampled_from(refs)), 'key': draw(st.sampled_from(KEYS))}
        if weight is not None:
            sub['weight'] = weight
        if draw(st.integers(0, 4)) == 0:
            sub['signed'] = draw(st.booleans())
        if draw(st.integers(0, 4)) == 0:
            sub['sni'] = False
        subscriptions.append(sub)
    node['subscriptions'] = subscriptions
    return node


@st.composite
def inventories(draw):
    """(hosts, groups): a topology that is valid by construction, then 0-3 mutations of any kind."""
    hosts, groups = {}, {'uwsgi_routers': [], 'uwsgi_nodes': [], 'group_edges': []}
    names = []
    index = 0
    for h in range(draw(st.integers(1, 2))):
        host = 'r%d' % h
        hosts[host] = {'ansible_host': '10.0.0.%d' % (h + 1), 'uwsgi_router_instances': []}
        groups['uwsgi_routers'].append(host)
        for _round in range(draw(st.integers(1, 2))):
            router = _router(index, draw(st.sampled_from(ROUTER_TYPES)), draw)
            hosts[host]['uwsgi_router_instances'].append(router)
            names.append(router['name'])
            index += 1
        if h == 0:
            groups['group_edges'].append(host)
    # Federation: a fastrouter may resubscribe to any router (a cycle, a secured core, ... included).
    for host in groups['uwsgi_routers']:
        for router in hosts[host]['uwsgi_router_instances']:
            if router['type'] == 'fast' and draw(st.integers(0, 2)) == 0:
                router['resubscribe_to'] = draw(st.sampled_from(names + [names[:2]]))
                router['secured'] = False
    index = 0
    for h in range(draw(st.integers(0, 2))):
        host = 'n%d' % h
        hosts[host] = {'ansible_host': '10.0.1.%d' % (h + 1), 'uwsgi_node_instances': []}
        groups['uwsgi_nodes'].append(host)
        for _round in range(draw(st.integers(1, 2))):
            hosts[host]['uwsgi_node_instances'].append(_node(index, names, draw))
            index += 1
    if draw(st.booleans()):
        # One machine for everything: ports may collide.
        for variables in hosts.values():
            variables['ansible_host'] = '127.0.0.1'
    for _round in range(draw(st.integers(0, 3))):
        _mutate(hosts, draw)
    return hosts, groups


def _mutate(hosts, draw):
    host = draw(st.sampled_from(sorted(hosts)))
    variables = hosts[host]
    kind = draw(st.sampled_from(['host', 'router', 'router', 'node', 'subscription', 'spec', 'spec']))
    if kind == 'host':
        name = draw(st.sampled_from(['ansible_host', 'uwsgi_topology_advertise_address', 'uwsgi_topology_prefix',
                                     'uwsgi_topology_build', 'uwsgi_router_instances', 'uwsgi_node_instances']))
        value = draw(st.sampled_from(BROKEN + [{'ssl': False}, {'routers': ['fast']}, {'plugin_build': 'x'},
                                               'resolvable.example', '/srv/t/']))
        variables[name] = copy.deepcopy(value)
        return
    instances = variables.get('uwsgi_router_instances' if kind == 'router' else 'uwsgi_node_instances')
    if not isinstance(instances, list) or not instances:
        return
    item = draw(st.sampled_from(instances))
    if not isinstance(item, dict):
        return
    if kind == 'spec':
        item['spec'] = copy.deepcopy(draw(st.sampled_from(SPECS)))
    elif kind == 'subscription':
        subs = item.get('subscriptions')
        if isinstance(subs, list) and subs and isinstance(subs[0], dict):
            sub = draw(st.sampled_from(subs))
            sub[draw(st.sampled_from(SUBSCRIPTION_KEYS + ('bogus',)))] = copy.deepcopy(draw(st.sampled_from(BROKEN)))
    else:
        keys = ROUTER_KEYS if kind == 'router' else NODE_KEYS
        field = draw(st.sampled_from(keys + ('bogus',)))
        if draw(st.integers(0, 4)) == 0:
            item.pop(field, None)
        else:
            item[field] = copy.deepcopy(draw(st.sampled_from(BROKEN)))


@st.composite
def plays(draw):
    """Play variables: valid, or (one time in eight) with one of them broken."""
    play = {
        'version': draw(st.sampled_from(['2.0', '2.0', '2.1', 2.0])),
        'secured': draw(st.sampled_from([True, False, 'yes'])),
        'digest': draw(st.sampled_from(DIGESTS)),
        'default_announce_interval': draw(st.sampled_from([None, 2])),
        'default_build': draw(st.sampled_from([None, {}, {'ssl': False}, {'plugin_build': True},
                                               {'routers': ['http', 'https', 'fast']}])),
    }
    if draw(st.integers(0, 7)) == 0:
        name, value = draw(st.sampled_from([
            ('version', '1.9'), ('version', None), ('secured', 'maybe'), ('digest', 'MD5'),
            ('default_announce_interval', 0), ('default_announce_interval', 'often'), ('default_build', 'pypi'),
            ('default_build', {'zlib': 'x'}), ('default_prefix', 'relative'), ('default_prefix', '/'),
            ('default_prefix', '/srv/topology/'), ('router_group', 5)]))
        play[name] = value
    return play


def _resolve(name):
    return '10.9.9.9' if name == 'resolvable.example' else None


def _host_build(hosts, host, play):
    build = hosts[host].get('uwsgi_topology_build')
    return play.get('default_build') if build is None else build


@SETTINGS
@given(inventory=inventories(), play=plays())
def test_a_plan_whose_vassals_compile_or_a_refusal_naming_host_and_path(inventory, play):
    hosts, groups = inventory
    original = copy.deepcopy(hosts)
    try:
        result = plan_topology(hosts, groups, resolve=_resolve, **play)
    except TopologyError as error:
        message = str(error)
        match = HOST_PATH.match(message)
        assert match or PLAY_PATH.match(message), message
        if match:
            assert match.group('host') in hosts, message
        event('refused: %s' % ('play variable' if not match else re.sub(r'\[\d+\]', '[N]', match.group('path'))))
        return
    finally:
        # Planning changes nothing, the inventory it reads included.
        assert hosts == original
    json.dumps(result)
    event('planned')
    version = str(play['version'])
    for host, host_plan in result['hosts'].items():
        build = _host_build(hosts, host, play)
        for instance in host_plan['routers'] + host_plan['nodes']:
            assert compile_options(instance['spec'], version=version, build=build)
        for router in host_plan['routers']:
            # The files the router loads are the planner's reload files (the vassals module writes their digest
            # into the vassal file); no touch-reload, which would reload every replica at once.
            assert 'touch-reload' not in [name for name, _v in router['spec'].get('options') or []]
            if router['type'] in ('https', 'ssl'):
                assert router['cert'] in router['reload_on']


@SETTINGS
@given(inventory=inventories())
def test_planning_is_deterministic(inventory):
    hosts, groups = inventory
    outcomes = []
    for _round in range(2):
        try:
            outcomes.append(plan_topology(copy.deepcopy(hosts), groups, resolve=_resolve))
        except TopologyError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]
