# -*- coding: utf-8 -*-
"""The topology planner: inventory -> per-host plan, and every refusal naming host and variable."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.topology import key_file_name, plan_topology, sni_file

GROUPS = {'uwsgi_routers': ['r1', 'core'], 'uwsgi_nodes': ['n1', 'n2'], 'edges': ['r1']}


def inventory():
    return {
        'r1': {'ansible_host': '10.0.0.1', 'uwsgi_router_instances': [
            {'name': 'edge', 'type': 'http', 'port': 80, 'subscription_port': 2626, 'stats_port': 9191,
             'keys': ['a.example.com', 'b.example.com']},
            {'name': 'tls', 'type': 'https', 'port': 443, 'subscription_port': 2627, 'stats_port': 9192},
        ]},
        'core': {'ansible_host': '10.0.0.9', 'uwsgi_router_instances': [
            {'name': 'core', 'type': 'http', 'port': 80, 'subscription_port': 2626, 'secured': False},
        ]},
        'n1': {'ansible_host': '10.0.1.1', 'uwsgi_node_instances': [
            {'name': 'a1', 'port': 3031, 'subscriptions': [
                {'router': 'edge', 'key': 'a.example.com', 'weight': 2},
                {'router': 'tls', 'key': 'a.example.com', 'weight': 2}]},
        ]},
        'n2': {'ansible_host': '10.0.1.2', 'uwsgi_node_instances': [
            {'name': 'b1', 'port': 3031, 'subscriptions': [{'router': 'r1', 'key': 'b.example.com'}]},
            {'name': 'a2', 'port': 3032, 'announce_interval': 2,
             'subscriptions': [{'router': 'edges', 'key': 'a.example.com'}]},
        ]},
    }


def plan(hosts=None, groups=None, **kwargs):
    return plan_topology(inventory() if hosts is None else hosts, GROUPS if groups is None else groups, **kwargs)


def test_plan_shape_and_specs():
    result = plan()
    assert result['keys'] == ['a.example.com', 'b.example.com']
    assert result['sni_keys'] == ['a.example.com', 'b.example.com']
    r1 = result['hosts']['r1']
    edge, tls = r1['routers']
    assert edge['expect'] == {'a.example.com': ['10.0.1.1:3031', '10.0.1.2:3032'],
                              'b.example.com': ['10.0.1.2:3031']}
    assert [k['file'] for k in edge['public_keys']] == ['a.example.com.pem', 'b.example.com.pem']
    options = compile_options(edge['spec'])
    assert ['http', '10.0.0.1:80'] in options
    assert ['http-subscription-server', '10.0.0.1:2626'] in options
    assert ['http-stats', '127.0.0.1:9191'] in options
    assert ['subscriptions-sign-check', 'SHA1:/var/lib/uwsgi-topology/pubkeys/edge'] in options
    tls_options = compile_options(tls['spec'])
    assert ['touch-reload', '/var/lib/uwsgi-topology/certs/a.example.com.crt'] in tls_options
    assert tls['cert'] == '/var/lib/uwsgi-topology/certs/tls.crt'
    assert tls['cert_generated'] is True and edge['cert_generated'] is False
    assert tls['certificates'] == {'a.example.com': '/var/lib/uwsgi-topology/certs/a.example.com.crt',
                                   'b.example.com': '/var/lib/uwsgi-topology/certs/b.example.com.crt'}
    assert edge['certificates'] == {}
    assert r1['sni_keys'] == ['a.example.com', 'b.example.com']
    node = result['hosts']['n1']['nodes'][0]
    text = render_ini(compile_options(node['spec'], build={'plugin_build': True}))
    assert 'plugin = python3\n' in text
    assert ('subscribe2 = server=10.0.0.1:2626,key=a.example.com,addr=10.0.1.1:3031,weight=2,'
            'sign=SHA1:/var/lib/uwsgi-topology/keys/a.example.com.pem\n') in text
    assert 'sni_key=/var/lib/uwsgi-topology/certs/a.example.com.key,sni_crt=' in text
    assert result['hosts']['n1']['private_keys'] == ['a.example.com']
    assert result['hosts']['core']['routers'][0]['pubkey_dir'] is None


def test_ssl_router_routes_by_sni_unless_sni_is_off():
    hosts = inventory()
    hosts['r1']['uwsgi_router_instances'][1]['type'] = 'ssl'
    tls = plan(hosts)['hosts']['r1']['routers'][1]
    assert ['sslrouter-sni', 'true'] in compile_options(tls['spec'])
    hosts['r1']['uwsgi_router_instances'][1]['sni'] = False
    for node in ('n1', 'n2'):
        for item in hosts[node]['uwsgi_node_instances']:
            for sub in item['subscriptions']:
                sub['sni'] = False
    tls = plan(hosts)['hosts']['r1']['routers'][1]
    assert 'sslrouter-sni' not in [option for option, _value in compile_options(tls['spec'])]


def test_key_file_names():
    assert key_file_name('a.com:8080') == 'a.com_8080.pem'
    assert key_file_name('a b/c') == 'a_b_c.pem'
    assert sni_file('a.com:8443', 'crt') == 'a.com.crt'


def test_federation_expectations():
    hosts = inventory()
    hosts['r1']['uwsgi_router_instances'][0].update(type='fast', resubscribe_to=['core'], secured=False)
    for node in hosts['n2']['uwsgi_node_instances'] + hosts['n1']['uwsgi_node_instances']:
        for sub in node['subscriptions']:
            if sub['router'] in ('edge', 'edges', 'r1'):
                sub['router'] = 'edge'
    result = plan(hosts)
    core = result['hosts']['core']['routers'][0]
    assert core['expect'] == {'a.example.com': ['10.0.0.1:80'], 'b.example.com': ['10.0.0.1:80']}
    # Requests through the core are answered by the nodes behind the edge.
    assert core['answers'] == {'a.example.com': ['10.0.1.1:3031', '10.0.1.2:3032'], 'b.example.com': ['10.0.1.2:3031']}
    edge = result['hosts']['r1']['routers'][0]
    assert edge['answers'] == edge['expect']
    assert ['fastrouter-resubscribe', '10.0.0.9:2626'] in compile_options(
        result['hosts']['r1']['routers'][0]['spec'])


def test_quoted_port_is_read_as_a_number():
    hosts = inventory()
    hosts['n1']['uwsgi_node_instances'][0]['port'] = '3031'
    assert plan(hosts)['hosts']['n1']['nodes'][0]['address'] == '10.0.1.1:3031'


def test_resolver_used_for_names():
    hosts = inventory()
    hosts['core']['ansible_host'] = 'core.internal'
    result = plan(hosts, resolve=lambda name: '10.0.0.99' if name == 'core.internal' else None)
    assert result['hosts']['core']['address'] == '10.0.0.99'


def _set(path, value):
    def change(hosts):
        target = hosts
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


def _cycle(hosts):
    hosts['r1']['uwsgi_router_instances'][0].update(type='fast', secured=False, resubscribe_to=['core'])
    hosts['core']['uwsgi_router_instances'][0].update(type='fast', resubscribe_to=['edge'])
    for node in hosts['n1']['uwsgi_node_instances'] + hosts['n2']['uwsgi_node_instances']:
        for sub in node['subscriptions']:
            sub['signed'] = False if sub['router'] != 'tls' else True


BAD = [
    ('unknown router named', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'router'], 'nope'),
     'host n1: uwsgi_node_instances[0].subscriptions[0].router', 'names no router'),
    ('host name as router address', _set(['r1', 'ansible_host'], 'router-one.invalid'),
     'host r1: ansible_host', 'cannot be resolved'),
    ('wildcard advertise address', _set(['r1', 'uwsgi_topology_advertise_address'], '0.0.0.0'),
     'host r1: uwsgi_topology_advertise_address', 'not a routable address'),
    ('duplicate port', _set(['n2', 'uwsgi_node_instances', 1, 'port'], 3031),
     'host n2: uwsgi_node_instances[1].port', 'already claimed by instance b1'),
    ('duplicate port router stats vs node', _set(['r1', 'uwsgi_router_instances', 1, 'stats_port'], 80),
     'host r1: uwsgi_router_instances[1].stats_port', 'TCP port 80'),
    ('cycle in federation', _cycle, 'resubscribe_to', 'cycle'),
    ('signed node to an unsigned router', _set(['n2', 'uwsgi_node_instances', 0, 'subscriptions'],
                                               [{'router': 'core', 'key': 'x', 'signed': True}]),
     'host n2: uwsgi_node_instances[0].subscriptions[0].signed', 'does not check signatures'),
    ('unsigned node to a secured router', _set(['n2', 'uwsgi_node_instances', 0, 'subscriptions'],
                                               [{'router': 'edge', 'key': 'b.example.com', 'signed': False}]),
     'host n2: uwsgi_node_instances[0].subscriptions[0].signed', 'rejected without any log line'),
    ('key not served', _set(['n2', 'uwsgi_node_instances', 0, 'subscriptions'], [{'router': 'edge', 'key': 'c.com'}]),
     'host n2: uwsgi_node_instances[0].subscriptions[0].key', 'not served by router'),
    ('2.1-only option on a 2.0 build', _set(['r1', 'uwsgi_router_instances', 0, 'spec'],
                                            {'subscriptions': {'server_params': {'mountpoints_depth': 1}}}),
     'host r1: uwsgi_router_instances[0]', 'exists only in uWSGI 2.1'),
    ('differing weights on 2.0', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 1, 'weight'], 3),
     'host n1: uwsgi_node_instances[0]', 'weight global'),
    ('wrr weights not multiples of the smallest', _set(['n2', 'uwsgi_node_instances', 1, 'subscriptions', 0, 'weight'], 3),
     'host n2: uwsgi_node_instances[1].subscriptions[0].weight', 'weight 3 would act as 1'),
    ('sni to an http router', _set(['n2', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'sni'], True),
     'host n2: uwsgi_node_instances[0].subscriptions[0].sni', 'only to https and ssl'),
    ('sni on an http router', _set(['core', 'uwsgi_router_instances', 0, 'sni'], True),
     'host core: uwsgi_router_instances[0].sni', 'https or ssl'),
    ('wrong type for port', _set(['n1', 'uwsgi_node_instances', 0, 'port'], 'eighty'),
     'host n1: uwsgi_node_instances[0].port', 'integer'),
    ('wrong type for instances', _set(['n1', 'uwsgi_node_instances'], {'name': 'a1'}),
     'host n1: uwsgi_node_instances', 'must be a list'),
    ('unknown instance key', _set(['r1', 'uwsgi_router_instances', 0, 'workerz'], 2),
     'host r1: uwsgi_router_instances[0].workerz', 'unknown parameter'),
    ('duplicate instance name', _set(['n2', 'uwsgi_node_instances', 0, 'name'], 'a1'),
     'host n2: uwsgi_node_instances[0].name', 'already used'),
    ('router without subscription port', lambda h: (
        h['core']['uwsgi_router_instances'][0].update(subscription_port=None),
        h['n2']['uwsgi_node_instances'][0].update(subscriptions=[{'router': 'core', 'key': 'x'}])),
     'host n2: uwsgi_node_instances[0].subscriptions[0].router', 'no subscription_port'),
    ('signed router with two workers', _set(['r1', 'uwsgi_router_instances', 0, 'workers'], 2),
     'host r1: uwsgi_router_instances[0]', 'must be 1 when subscriptions are signed'),
    ('federation into a secured router', lambda h: h['r1']['uwsgi_router_instances'][0].update(
        type='fast', resubscribe_to=['tls']), 'resubscribe_to[0]', 'forwards resubscriptions unsigned'),
    ('http edge federating', lambda h: h['r1']['uwsgi_router_instances'][0].update(resubscribe_to=['core']),
     'host r1: uwsgi_router_instances[0].type', 'must be a fastrouter'),
    ('missing router instances', _set(['core', 'uwsgi_router_instances'], None),
     'host core: uwsgi_router_instances', 'is required'),
    ('relative prefix', _set(['n1', 'uwsgi_topology_prefix'], 'var/x'),
     'host n1: uwsgi_topology_prefix', 'absolute path'),
]


def _break_subscription_to_unused(hosts):
    del hosts['n2']['uwsgi_node_instances'][0]['subscriptions'][0]['router']


@pytest.mark.parametrize('name, change, where, fragment', BAD, ids=[b[0] for b in BAD])
def test_bad_inventories(name, change, where, fragment):
    hosts = copy.deepcopy(inventory())
    change(hosts)
    with pytest.raises(TopologyError) as info:
        plan(hosts, resolve=lambda name: None)
    message = str(info.value)
    assert where in message
    assert fragment in message


def test_missing_subscription_router():
    hosts = inventory()
    _break_subscription_to_unused(hosts)
    with pytest.raises(TopologyError, match=r'host n2: uwsgi_node_instances\[0\]\.subscriptions\[0\]\.router'):
        plan(hosts)


def test_empty_inventory():
    with pytest.raises(TopologyError, match='nothing to deploy'):
        plan_topology({}, {})


def test_wrr_weights_multiples_of_the_smallest_are_planned():
    hosts = inventory()
    hosts['n2']['uwsgi_node_instances'][1]['subscriptions'][0]['weight'] = 4
    result = plan(hosts)
    assert result['hosts']['r1']['routers'][0]['expect']['a.example.com'] == ['10.0.1.1:3031', '10.0.1.2:3032']


def test_weights_are_free_with_another_algorithm():
    hosts = inventory()
    hosts['n2']['uwsgi_node_instances'][1]['subscriptions'][0]['weight'] = 3
    for router in hosts['r1']['uwsgi_router_instances']:
        router['algorithm'] = 'wlrc'
    result = plan(hosts)
    options = compile_options(result['hosts']['r1']['routers'][0]['spec'])
    assert [o for o in options if o[0] == 'subscription-algo'] == [['subscription-algo', 'wlrc']]


@pytest.mark.parametrize('forward_to', [
    {'type': 'code', 'script': '/srv/route.py', 'func': 'route'},
    [{'type': 'code', 'script': '/srv/route.py', 'func': 'route'}],
])
def test_spec_forwarders_come_after_the_subscription_server(forward_to):
    hosts = inventory()
    hosts['core']['uwsgi_router_instances'][0]['spec'] = {'router': {'forward_to': forward_to}}
    router = plan(hosts)['hosts']['core']['routers'][0]
    assert router['spec']['routers'][0]['forward_to'] == [
        {'type': 'subscription_server', 'address': '10.0.0.9:2626'},
        {'type': 'code', 'script': '/srv/route.py', 'func': 'route'}]
    options = compile_options(router['spec'])
    assert ['http-subscription-server', '10.0.0.9:2626'] in options
    assert ['http-use-code-string', '0:/srv/route.py:route'] in options


def test_keys_without_sni_are_shown_the_routers_certificate():
    hosts = inventory()
    hosts['r1']['uwsgi_router_instances'][1]['sni'] = False
    tls = plan(hosts)['hosts']['r1']['routers'][1]
    assert tls['certificates'] == {'a.example.com': '/var/lib/uwsgi-topology/certs/tls.crt',
                                   'b.example.com': '/var/lib/uwsgi-topology/certs/tls.crt'}


def test_an_operators_certificate_is_not_generated():
    hosts = inventory()
    hosts['r1']['uwsgi_router_instances'][1].update(cert='/etc/ssl/own.crt', key='/etc/ssl/own.key')
    tls = plan(hosts)['hosts']['r1']['routers'][1]
    assert (tls['cert'], tls['key'], tls['cert_generated']) == ('/etc/ssl/own.crt', '/etc/ssl/own.key', False)


def test_warnings_name_unsigned_subscription_ports_beyond_loopback():
    warnings = plan()['warnings']
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith('host core: uwsgi_router_instances[0] (router core) takes unsigned '
                                  'subscriptions on 10.0.0.9:2626')
    assert 'edges' not in warnings[0]


def test_no_warning_for_loopback_or_secured_routers():
    hosts = inventory()
    hosts['core']['ansible_host'] = '127.0.0.9'
    assert plan(hosts)['warnings'] == []
    hosts = inventory()
    del hosts['core']['uwsgi_router_instances'][0]['subscription_port']
    assert plan(hosts)['warnings'] == []


def test_warnings_for_federation_name_the_edges_and_the_bypassed_signatures():
    hosts = inventory()
    # A secured edge (the default) resubscribing to the unsecured core.
    hosts['r1']['uwsgi_router_instances'][0].update(type='fast', resubscribe_to=['core'])
    warnings = plan(hosts)['warnings']
    assert len(warnings) == 2, warnings
    core, edge = sorted(warnings)
    assert 'router core' in core and 'its edges edge forward every packet' in core
    assert edge.startswith('host r1: uwsgi_router_instances[0].resubscribe_to (router edge): ')
    assert 'to core unsigned, also the ones its signature check refused' in edge
    # An unsecured edge warns for its own port instead.
    hosts['r1']['uwsgi_router_instances'][0]['secured'] = False
    for node in hosts['n2']['uwsgi_node_instances'] + hosts['n1']['uwsgi_node_instances']:
        for sub in node['subscriptions']:
            if sub['router'] in ('edge', 'edges', 'r1'):
                sub['router'] = 'edge'
    warnings = sorted(plan(hosts)['warnings'])
    assert len(warnings) == 2, warnings
    assert warnings[1].startswith('host r1: uwsgi_router_instances[0] (router edge) takes unsigned subscriptions '
                                  'on 10.0.0.1:2626')
