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
    assert ['subscriptions-sign-check', 'SHA256:/var/lib/uwsgi-topology/pubkeys/edge'] in options
    tls_options = compile_options(tls['spec'])
    assert 'touch-reload' not in [name for name, _value in tls_options]
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
            'sign=SHA256:/var/lib/uwsgi-topology/keys/a.example.com.pem\n') in text
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
    ('cycle in federation', _cycle, 'host core: uwsgi_router_instances[0].resubscribe_to',
     'cycle (core -> edge -> core)'),
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
     'host r1: uwsgi_router_instances[0].spec.subscriptions.server_params.mountpoints_depth',
     'exists only in uWSGI 2.1'),
    ('differing weights on 2.0', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 1, 'weight'], 3),
     'host n1: uwsgi_node_instances[0].subscriptions[1].weight', 'weight global'),
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
     'host r1: uwsgi_router_instances[0].workers', 'must be 1 when subscriptions are signed'),
    ('federation into a secured router', lambda h: h['r1']['uwsgi_router_instances'][0].update(
        type='fast', resubscribe_to=['tls']), 'host r1: uwsgi_router_instances[0].resubscribe_to[0]',
     'forwards resubscriptions unsigned'),
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
    assert message.startswith(where + ': '), message
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


# ---------------------------------------------------------------- issue 9: every refusal names what the operator wrote


def _router(hosts, host='r1', index=0):
    return hosts[host]['uwsgi_router_instances'][index]


def _node(hosts, host='n1', index=0):
    return hosts[host]['uwsgi_node_instances'][index]


def _refused(hosts=None, **kwargs):
    with pytest.raises(TopologyError) as info:
        plan(hosts, resolve=lambda name: None, **kwargs)
    return str(info.value)


def _lone(router, node):
    """One router host and one node host subscribing to it."""
    return ({'r': {'ansible_host': '10.0.0.1', 'uwsgi_router_instances': [router]},
             'n': {'ansible_host': '10.0.1.1', 'uwsgi_node_instances': [node]}},
            {'uwsgi_routers': ['r'], 'uwsgi_nodes': ['n']})


# Each: (id, change to the inventory, the whole path, a fragment of the message).
FIELDS = [
    # key and cert come as a pair or not at all.
    ('key without cert', lambda h: _router(h, index=1).update(key='/etc/ssl/own.key'),
     'host r1: uwsgi_router_instances[1].cert', 'key and cert come as a pair or not at all'),
    ('cert without key', lambda h: _router(h, index=1).update(cert='/etc/ssl/own.crt'),
     'host r1: uwsgi_router_instances[1].key', 'key and cert come as a pair or not at all'),
    ('cert on an http router', lambda h: _router(h).update(cert='/etc/ssl/own.crt', key='/etc/ssl/own.key'),
     'host r1: uwsgi_router_instances[0].cert', 'https and ssl routers only'),
    ('relative cert', lambda h: _router(h, index=1).update(cert='own.crt', key='/etc/ssl/own.key'),
     'host r1: uwsgi_router_instances[1].cert', 'must be an absolute path'),
    ('cert and key one file', lambda h: _router(h, index=1).update(cert='/etc/ssl/own.pem', key='/etc/ssl/own.pem'),
     'host r1: uwsgi_router_instances[1].key', 'must not be the certificate file'),
    # bind_address: an IPv4 literal, never a port.
    ('bind address with a port', lambda h: _router(h).update(bind_address='10.0.0.5:9000'),
     'host r1: uwsgi_router_instances[0].bind_address', "without a port, got '10.0.0.5:9000'"),
    ('bind address a name', lambda h: _router(h).update(bind_address='lb.example.com'),
     'host r1: uwsgi_router_instances[0].bind_address', 'numeric IPv4 address'),
    ('bind address IPv6', lambda h: _router(h).update(bind_address='::1'),
     'host r1: uwsgi_router_instances[0].bind_address', 'IPv6 is not supported'),
    ('bind address out of range', lambda h: _router(h).update(bind_address='10.0.0.256'),
     'host r1: uwsgi_router_instances[0].bind_address', 'numeric IPv4 address'),
    # Instance fields, checked where they are read.
    ('fractional weight', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'weight'], 2.5),
     'host n1: uwsgi_node_instances[0].subscriptions[0].weight', 'must be an integer, got 2.5'),
    ('zero weight', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'weight'], 0),
     'host n1: uwsgi_node_instances[0].subscriptions[0].weight', 'must be >= 1, got 0'),
    ('tolerance zero', lambda h: _router(h).update(tolerance=0),
     'host r1: uwsgi_router_instances[0].tolerance', 'must be >= 1, got 0'),
    ('tolerance a word', lambda h: _router(h).update(tolerance='long'),
     'host r1: uwsgi_router_instances[0].tolerance', "must be an integer, got string 'long'"),
    ('sign tolerance negative', lambda h: _router(h).update(sign_tolerance=-5),
     'host r1: uwsgi_router_instances[0].sign_tolerance', 'must be >= 1, got -5'),
    ('unknown algorithm', lambda h: _router(h).update(algorithm='fastest'),
     'host r1: uwsgi_router_instances[0].algorithm', 'must be one of wrr, lrc, wlrc, iphash'),
    ('iphash on 2.0', lambda h: _router(h).update(algorithm='iphash'),
     'host r1: uwsgi_router_instances[0].algorithm', 'iphash exists only in uWSGI 2.1'),
    ('workers zero', lambda h: _router(h).update(workers=0),
     'host r1: uwsgi_router_instances[0].workers', 'must be >= 1, got 0'),
    ('keys empty', lambda h: _router(h).update(keys=[]),
     'host r1: uwsgi_router_instances[0].keys', 'must not be an empty list'),
    ('key with a space', lambda h: _router(h).update(keys=['a.example.com', 'b example']),
     'host r1: uwsgi_router_instances[0].keys[1]', 'must not contain spaces'),
    ('keys a mapping', lambda h: _router(h).update(keys={'a': 1}),
     'host r1: uwsgi_router_instances[0].keys', 'must be a string'),
    ('secured a word', lambda h: _router(h).update(secured='maybe'),
     'host r1: uwsgi_router_instances[0].secured', 'must be a boolean'),
    ('sni a number', lambda h: _router(h, index=1).update(sni=3),
     'host r1: uwsgi_router_instances[1].sni', 'must be a boolean'),
    ('type null is http, type a list is not', lambda h: _router(h).update(type=['http']),
     'host r1: uwsgi_router_instances[0].type', 'must be one of http, https, ssl, fast, raw'),
    ('resubscribe_to a mapping', lambda h: _router(h).update(type='fast', resubscribe_to={'core': 1}),
     'host r1: uwsgi_router_instances[0].resubscribe_to', 'must be a string'),
    ('resubscribe_to an unknown router', lambda h: _router(h).update(type='fast', resubscribe_to='nowhere'),
     'host r1: uwsgi_router_instances[0].resubscribe_to', "'nowhere' names no router"),
    ('callable not a name', lambda h: _node(h).update(callable='app()'),
     'host n1: uwsgi_node_instances[0].callable', 'Python identifier'),
    ('wsgi_file relative', lambda h: _node(h).update(wsgi_file='app.py'),
     'host n1: uwsgi_node_instances[0].wsgi_file', 'must be an absolute path on the node host'),
    ('processes zero', lambda h: _node(h).update(processes=0),
     'host n1: uwsgi_node_instances[0].processes', 'must be >= 1, got 0'),
    ('announce interval a float', lambda h: _node(h).update(announce_interval=1.5),
     'host n1: uwsgi_node_instances[0].announce_interval', 'must be an integer, got 1.5'),
    ('subscriptions a mapping', lambda h: _node(h).update(subscriptions={'router': 'edge'}),
     'host n1: uwsgi_node_instances[0].subscriptions', 'must be a list'),
    ('subscription router a list', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'router'], ['edge']),
     'host n1: uwsgi_node_instances[0].subscriptions[0].router', 'must be a string'),
    ('subscription key with a space', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'key'], 'a b'),
     'host n1: uwsgi_node_instances[0].subscriptions[0].key', 'must not contain spaces'),
    ('subscription signed a word', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0, 'signed'], 'maybe'),
     'host n1: uwsgi_node_instances[0].subscriptions[0].signed', 'must be a boolean'),
    ('subscription twice', lambda h: _node(h, 'n2', 0)['subscriptions'].append(
        {'router': 'edge', 'key': 'b.example.com'}),
     'host n2: uwsgi_node_instances[0].subscriptions[1].router', 'a second time (also in '
     'uwsgi_node_instances[0].subscriptions[0])'),
    ('subscription not a mapping', _set(['n1', 'uwsgi_node_instances', 0, 'subscriptions', 0], 'edge'),
     'host n1: uwsgi_node_instances[0].subscriptions[0]', 'must be a mapping'),
    ('prefix the root', _set(['n1', 'uwsgi_topology_prefix'], '/'),
     'host n1: uwsgi_topology_prefix', 'must not be the root directory'),
    ('host build not a mapping', _set(['n1', 'uwsgi_topology_build'], 'pypi'),
     'host n1: uwsgi_topology_build', 'must be a mapping of build facts'),
    ('host build fact of wrong type', _set(['n1', 'uwsgi_topology_build'], {'ssl': 'maybe'}),
     'host n1: uwsgi_topology_build.ssl', 'must be a boolean'),
    # Build facts the compiler gates on, named by the field that asks for them.
    ('https router on a build without SSL', lambda h: h['r1'].update(uwsgi_topology_build={'ssl': False}),
     'host r1: uwsgi_router_instances[0].secured', 'needs a uWSGI built with SSL'),
    ('signed node on a build without SSL', lambda h: h['n1'].update(uwsgi_topology_build={'ssl': False}),
     'host n1: uwsgi_node_instances[0].subscriptions[0].signed', 'needs a uWSGI built with SSL'),
    ('router type missing from the build', lambda h: h['core'].update(uwsgi_topology_build={'routers': ['fast']}),
     'host core: uwsgi_router_instances[0].type', 'has no http router'),
    # spec: every documented form works or is refused where it was written.
    ('spec a string', lambda h: _router(h).update(spec='fast'),
     'host r1: uwsgi_router_instances[0].spec', 'must be a mapping'),
    ('spec.router a string', lambda h: _router(h).update(spec={'router': 'fast'}),
     'host r1: uwsgi_router_instances[0].spec.router', "must be a mapping of the router's own spec keys"),
    ('spec.router a list', lambda h: _router(h).update(spec={'router': [{'type': 'http'}]}),
     'host r1: uwsgi_router_instances[0].spec.router', 'must be a mapping'),
    ('spec.router on a node', lambda h: _node(h).update(spec={'router': {}}),
     'host n1: uwsgi_node_instances[0].spec.router', 'applies to router instances only'),
    ('spec.router unknown key', lambda h: _router(h).update(spec={'router': {'bogus': 1}}),
     'host r1: uwsgi_router_instances[0].spec.router.bogus', 'unknown parameter'),
    ('spec.router overriding the bind', lambda h: _router(h).update(spec={'router': {'bind': '10.0.0.1:81'}}),
     'host r1: uwsgi_router_instances[0].spec.router.bind', "would replace '10.0.0.1:80'"),
    ('spec.router overriding the stats server', lambda h: _router(h).update(
        spec={'router': {'basic_params': {'stats_server': '127.0.0.1:1'}}}),
     'host r1: uwsgi_router_instances[0].spec.router.basic_params.stats_server', "from the instance's stats_port"),
    ('spec.router workers over the signed limit', lambda h: _router(h).update(
        spec={'router': {'basic_params': {'workers': 2}}}),
     'host r1: uwsgi_router_instances[0].spec.router.basic_params.workers', 'must be 1 when subscriptions are signed'),
    ('spec.router forwarder of an unknown type', lambda h: _router(h).update(
        spec={'router': {'forward_to': {'type': 'magic'}}}),
     'host r1: uwsgi_router_instances[0].spec.router.forward_to.type', "unknown forwarder string 'magic'"),
    ('spec.router second forwarder broken', lambda h: _router(h).update(
        spec={'router': {'forward_to': [{'type': 'path', 'sockets_dir': '/run/%s'}, {'type': 'magic'}]}}),
     'host r1: uwsgi_router_instances[0].spec.router.forward_to[1].type', 'unknown forwarder'),
    ('spec.subscriptions a list', lambda h: _router(h).update(spec={'subscriptions': []}),
     'host r1: uwsgi_router_instances[0].spec.subscriptions', 'must be a mapping'),
    ('spec.subscriptions overriding the public key directory', lambda h: _router(h).update(
        spec={'subscriptions': {'server_verification_params': {'dir_cert': '/srv/keys'}}}),
     'host r1: uwsgi_router_instances[0].spec.subscriptions.server_verification_params.dir_cert',
     "from the instance's secured"),
    ('spec.subscriptions overriding the tolerance', lambda h: (_router(h).update(
        tolerance=10, spec={'subscriptions': {'server_params': {'tolerance': 20}}})),
     'host r1: uwsgi_router_instances[0].spec.subscriptions.server_params.tolerance', "from the instance's tolerance"),
    ('spec.subscriptions subscribe a mapping on a node', lambda h: _node(h).update(
        spec={'subscriptions': {'subscribe': {'server': '10.0.0.9:2626', 'key': 'x', 'address': '10.0.1.1:3031'}}}),
     'host n1: uwsgi_node_instances[0].spec.subscriptions.subscribe', 'must be a list'),
    ('spec.subscriptions second subscribe broken', lambda h: _node(h, 'n2', 0).update(
        spec={'subscriptions': {'subscribe': [{'server': '10.0.0.9:2626', 'key': 'x', 'address': '10.0.1.2:3031'},
                                              {'server': 'core.example', 'key': 'x', 'address': '10.0.1.2:3031'}]}}),
     'host n2: uwsgi_node_instances[0].spec.subscriptions.subscribe[1].server', 'must be a numeric IPv4 address'),
    ('spec.options not a list', lambda h: _node(h).update(spec={'options': 'harakiri=30'}),
     'host n1: uwsgi_node_instances[0].spec.options', 'must be a mapping or a list of [name, value] pairs'),
    ('spec.options pair of three', lambda h: _node(h).update(spec={'options': [['harakiri', 30, 1]]}),
     'host n1: uwsgi_node_instances[0].spec.options[0]', 'must be a [name, value] pair'),
    ('spec.options mapping overriding processes', lambda h: _node(h).update(spec={'options': {'processes': 4}}),
     'host n1: uwsgi_node_instances[0].spec.options.processes', "from the instance's processes"),
    ('spec.options list overriding wsgi-file', lambda h: _node(h).update(
        spec={'options': [['harakiri', 30], ['wsgi-file', '/srv/other.py']]}),
     'host n1: uwsgi_node_instances[0].spec.options[1]', "'wsgi-file' is written by the planner"),
    ('spec.options alias of processes', lambda h: _node(h).update(spec={'options': {'workers': 4}}),
     'host n1: uwsgi_node_instances[0].spec.options.workers', "from the instance's processes"),
    ('spec.options value with a line break', lambda h: _node(h).update(
        spec={'options': [['harakiri', 30], ['env', 'A=1\nB=2']]}),
     'host n1: uwsgi_node_instances[0].spec.options[1]', 'must not contain a line break'),
    ('spec.options mapping value broken', lambda h: _router(h).update(spec={'options': {'harakiri': None}}),
     'host r1: uwsgi_router_instances[0].spec.options.harakiri', 'must be a string'),
    ('spec.options option name', lambda h: _router(h).update(spec={'options': [['bad name', 1]]}),
     'host r1: uwsgi_router_instances[0].spec.options[0]', 'not a uWSGI option name'),
    ('spec.options set by the compiler', lambda h: _router(h).update(spec={'options': {'master': False}}),
     'host r1: uwsgi_router_instances[0].spec.options.master', 'set by the compiler'),
    ('spec.options ssl session cache with SNI', lambda h: _router(h, index=1).update(
        spec={'options': {'ssl-sessions-use-cache': True, 'sni-dir': '/etc/sni'}}),
     'host r1: uwsgi_router_instances[1].spec.options', 'breaks SNI'),
    ('spec.plugins a mapping', lambda h: _node(h).update(spec={'plugins': {'python3': True}}),
     'host n1: uwsgi_node_instances[0].spec.plugins', 'must be a string'),
    ('spec.plugins element', lambda h: _node(h).update(spec={'plugins': ['python3', None]}),
     'host n1: uwsgi_node_instances[0].spec.plugins[1]', 'must be a string'),
]


@pytest.mark.parametrize('name, change, where, fragment', FIELDS, ids=[f[0] for f in FIELDS])
def test_instance_fields_are_checked_where_they_are_read(name, change, where, fragment):
    hosts = copy.deepcopy(inventory())
    change(hosts)
    message = _refused(hosts)
    assert message.startswith(where + ': '), message
    assert fragment in message


PLAY = [
    (dict(version='1.9'), "play variable uwsgi_topology_version: must be one of 2.0, 2.1, got '1.9'"),
    (dict(version=['2.0']), 'play variable uwsgi_topology_version: must be one of 2.0, 2.1, got a list'),
    (dict(default_announce_interval=0), 'play variable uwsgi_topology_announce_interval: must be >= 1, got 0'),
    (dict(default_announce_interval='often'), "play variable uwsgi_topology_announce_interval: must be an integer"),
    (dict(default_build={'ssl': 'yes'}), 'play variable uwsgi_topology_build.ssl: must be a boolean'),
    (dict(default_build={'routers': ['http', 'tcp']}),
     'play variable uwsgi_topology_build.routers[1]: unknown router type'),
    (dict(default_build=['ssl']), 'play variable uwsgi_topology_build: must be a mapping of build facts'),
    (dict(secured='maybe'), "play variable uwsgi_topology_secured: must be a boolean, got string 'maybe'"),
    (dict(digest='MD5'), "play variable uwsgi_topology_digest: must be one of SHA1, SHA256, SHA384, SHA512, got 'MD5'"),
    (dict(default_prefix='srv'), "play variable uwsgi_topology_prefix: must be an absolute path, got 'srv'"),
    (dict(router_group=None), 'play variable uwsgi_topology_router_group: must be a string, got null'),
]


@pytest.mark.parametrize('kwargs, expected', PLAY, ids=[sorted(p[0])[0] + '-' + str(i) for i, p in enumerate(PLAY)])
def test_play_variables_are_checked_once_and_named_as_such(kwargs, expected):
    """A bad play-level value is blamed on the play variable, never on whichever instance compiles first."""
    with pytest.raises(TopologyError) as info:
        plan(**kwargs)
    assert str(info.value).startswith(expected), str(info.value)


def test_play_variables_are_read_as_given():
    """The string forms of the play variables work (the filter passes the version as a string)."""
    result = plan(version=2.0, secured='yes', default_announce_interval='3', default_prefix='/srv/topo/')
    node = result['hosts']['n1']['nodes'][0]
    assert node['spec']['subscriptions']['client_params'] == {'announce_interval': 3}
    assert result['hosts']['n1']['paths']['prefix'] == '/srv/topo'


def test_bind_address_ipv4_and_wildcard_are_bound():
    hosts = inventory()
    _router(hosts).update(bind_address='10.0.0.7')
    _router(hosts, 'core').update(bind_address='0.0.0.0')
    result = plan(hosts)
    edge = result['hosts']['r1']['routers'][0]
    assert edge['bind'] == '10.0.0.7:80'
    assert ['http', '10.0.0.7:80'] in compile_options(edge['spec'])
    # The subscription server stays on the host's address.
    assert edge['subscription'] == '10.0.0.1:2626'
    assert result['hosts']['core']['routers'][0]['bind'] == '0.0.0.0:80'


def _chain():
    """node -> edge (fast) -> mid (fast) -> core: a federation three routers deep."""
    hosts = {
        'e': {'ansible_host': '10.0.0.1', 'uwsgi_router_instances': [
            {'name': 'edge', 'type': 'fast', 'port': 3017, 'subscription_port': 2626, 'secured': False,
             'resubscribe_to': 'mid'}]},
        'm': {'ansible_host': '10.0.0.2', 'uwsgi_router_instances': [
            {'name': 'mid', 'type': 'fast', 'port': 3018, 'subscription_port': 2626, 'secured': False,
             'resubscribe_to': ['core']}]},
        'c': {'ansible_host': '10.0.0.3', 'uwsgi_router_instances': [
            {'name': 'core', 'type': 'http', 'port': 80, 'subscription_port': 2626, 'secured': False}]},
        'n': {'ansible_host': '10.0.1.1', 'uwsgi_node_instances': [
            {'name': 'a1', 'port': 3031, 'subscriptions': [{'router': 'edge', 'key': 'app.test'}]},
            {'name': 'a2', 'port': 3032, 'subscriptions': [{'router': 'mid', 'key': 'app.test'}]}]},
    }
    return hosts, {'uwsgi_routers': ['e', 'm', 'c'], 'uwsgi_nodes': ['n']}


def test_federation_three_deep_expects_the_hop_that_really_resubscribes():
    hosts, groups = _chain()
    result = plan(hosts, groups)
    core = result['hosts']['c']['routers'][0]
    mid = result['hosts']['m']['routers'][0]
    edge = result['hosts']['e']['routers'][0]
    # Each router's pool holds its direct subscribers: the core sees mid, never the edge below it.
    assert core['expect'] == {'app.test': ['10.0.0.2:3018']}
    assert mid['expect'] == {'app.test': ['10.0.0.1:3017', '10.0.1.1:3032']}
    assert edge['expect'] == {'app.test': ['10.0.1.1:3031']}
    # Requests are answered by every node reachable through the router.
    assert core['answers'] == {'app.test': ['10.0.1.1:3031', '10.0.1.1:3032']}
    assert mid['answers'] == {'app.test': ['10.0.1.1:3031', '10.0.1.1:3032']}
    assert edge['answers'] == {'app.test': ['10.0.1.1:3031']}
    assert ['fastrouter-resubscribe', '10.0.0.3:2626'] in compile_options(mid['spec'])
    assert ['fastrouter-resubscribe', '10.0.0.2:2626'] in compile_options(edge['spec'])


def test_federated_edge_bound_to_the_wildcard_is_refused():
    hosts, groups = _chain()
    hosts['m']['uwsgi_router_instances'][0]['bind_address'] = '0.0.0.0'
    with pytest.raises(TopologyError) as info:
        plan(hosts, groups)
    assert str(info.value).startswith('host m: uwsgi_router_instances[0].bind_address: must not be the wildcard '
                                      '0.0.0.0 on a federated edge'), str(info.value)


def test_federated_edge_without_subscription_port_is_refused():
    hosts, groups = _chain()
    del hosts['e']['uwsgi_router_instances'][0]['subscription_port']
    del hosts['n']['uwsgi_node_instances'][0]
    with pytest.raises(TopologyError) as info:
        plan(hosts, groups)
    assert str(info.value).startswith('host e: uwsgi_router_instances[0].resubscribe_to: needs a subscription_port')


def test_spec_options_mapping_is_added_to_the_planners_options():
    hosts = inventory()
    _node(hosts).update(spec={'options': {'harakiri': 30, 'env': ['A=1', 'B=2'], 'socket': '/run/a1.sock'}})
    node = plan(hosts)['hosts']['n1']['nodes'][0]
    options = compile_options(node['spec'])
    for expected in (['socket', '10.0.1.1:3031'], ['processes', '2'], ['env', 'TOPOLOGY_NODE=a1'],
                     ['wsgi-file', '/var/lib/uwsgi-topology/apps/demo_app.py'], ['harakiri', '30'], ['env', 'A=1'],
                     ['env', 'B=2'], ['socket', '/run/a1.sock']):
        assert expected in options, (expected, options)
    # The planner's socket stays first: the subscription address and the node's own socket.
    assert [o for o in options if o[0] == 'socket'] == [['socket', '10.0.1.1:3031'], ['socket', '/run/a1.sock']]


def test_spec_options_list_and_plugins_string_are_added():
    hosts = inventory()
    _node(hosts).update(spec={'options': [['harakiri', 30]], 'plugins': 'router_cache'})
    node = plan(hosts)['hosts']['n1']['nodes'][0]
    assert node['spec']['plugins'] == ['python3', 'router_cache']
    assert node['spec']['options'][-1] == ['harakiri', 30]
    text = render_ini(compile_options(node['spec'], build={'plugin_build': True}))
    assert 'plugin = python3\nplugin = router_cache\n' in text


def test_spec_router_and_subscriptions_add_what_the_fields_cannot_say():
    hosts = inventory()
    _router(hosts).update(tolerance=10, connect_timeout=2, spec={
        'router': {'basic_params': {'quiet': True}, 'connections_params': {'timeout_headers': 5}},
        'subscriptions': {'server_params': {'tolerance': 10, 'key_dot_split': True}}})
    edge = plan(hosts)['hosts']['r1']['routers'][0]
    options = compile_options(edge['spec'])
    for expected in (['http-stats', '127.0.0.1:9191'], ['http-quiet', 'true'], ['http-connect-timeout', '2'],
                     ['http-headers-timeout', '5'],
                     ['subscription-tolerance', '10'], ['subscription-dotsplit', 'true']):
        assert expected in options, (expected, options)


def test_signatures_use_sha256_by_default():
    result = plan()
    assert result['digest'] == 'SHA256'
    edge = result['hosts']['r1']['routers'][0]
    assert edge['spec']['subscriptions']['server_verification_params']['digest_algo'] == 'SHA256'
    node = result['hosts']['n1']['nodes'][0]
    assert node['spec']['subscriptions']['subscribe'][0]['signing'] == [
        'SHA256', '/var/lib/uwsgi-topology/keys/a.example.com.pem']


@pytest.mark.parametrize('digest', ['SHA1', 'SHA384', 'SHA512'])
def test_signature_digest_is_selectable(digest):
    result = plan(digest=digest)
    assert result['digest'] == digest
    edge = result['hosts']['r1']['routers'][0]
    assert ['subscriptions-sign-check', '%s:/var/lib/uwsgi-topology/pubkeys/edge' % digest] in compile_options(
        edge['spec'])
    text = render_ini(compile_options(result['hosts']['n2']['nodes'][0]['spec']))
    assert 'sign=%s:/var/lib/uwsgi-topology/keys/b.example.com.pem' % digest in text


def test_tls_router_reloads_on_its_own_certificate_after_the_sni_ones():
    result = plan()
    edge, tls = result['hosts']['r1']['routers']
    assert tls['reload_on'] == ['/var/lib/uwsgi-topology/certs/a.example.com.crt',
                                '/var/lib/uwsgi-topology/certs/b.example.com.crt',
                                '/var/lib/uwsgi-topology/certs/tls.crt']
    assert edge['reload_on'] == []
    # The vassals module reloads on them (a digest in the vassal file), replica after replica: never
    # touch-reload, which reloads every replica at the same moment.
    for router in (edge, tls):
        assert 'touch-reload' not in [name for name, _value in compile_options(router['spec'])]


def test_operators_certificate_reloads_the_router_too():
    hosts = inventory()
    _router(hosts, index=1).update(cert='/etc/ssl/own.crt', key='/etc/ssl/own.key', sni=False)
    for host in ('n1', 'n2'):
        for node in hosts[host]['uwsgi_node_instances']:
            for sub in node['subscriptions']:
                sub['sni'] = False
    tls = plan(hosts)['hosts']['r1']['routers'][1]
    assert tls['reload_on'] == ['/etc/ssl/own.crt']


def test_generated_router_certificate_must_not_be_an_sni_certificate():
    hosts = inventory()
    _router(hosts, index=1)['name'] = 'a.example.com'
    for node in hosts['n1']['uwsgi_node_instances']:
        for sub in node['subscriptions']:
            if sub['router'] == 'tls':
                sub['router'] = 'a.example.com'
    message = _refused(hosts)
    assert message.startswith('host r1: uwsgi_router_instances[1].name: certificate '
                              "'/var/lib/uwsgi-topology/certs/a.example.com.crt' is also the file of key "
                              "'a.example.com'"), message


def test_algorithm_aliases_are_the_uwsgi_names():
    hosts = inventory()
    _node(hosts, 'n2', 1)['subscriptions'][0]['weight'] = 3
    for router in hosts['r1']['uwsgi_router_instances']:
        router['algorithm'] = 'weighted_least_reference_count'
    edge = plan(hosts)['hosts']['r1']['routers'][0]
    assert edge['spec']['subscriptions']['server_params']['balancing_algo'] == 'wlrc'


def test_iphash_and_differing_weights_on_21():
    hosts = inventory()
    _router(hosts).update(algorithm='iphash')
    _node(hosts)['subscriptions'][1]['weight'] = 4
    result = plan(hosts, version='2.1')
    assert ['subscription-algo', 'iphash'] in compile_options(result['hosts']['r1']['routers'][0]['spec'],
                                                              version='2.1')


def test_every_vassal_of_the_plan_compiles_for_its_host():
    result = plan()
    for host_plan in result['hosts'].values():
        for instance in host_plan['routers'] + host_plan['nodes']:
            assert compile_options(instance['spec'])


def test_every_node_gets_a_master_fifo_in_the_run_directory():
    node = plan()['hosts']['n1']['nodes'][0]
    fifo = '/var/lib/uwsgi-topology/run/a1.fifo'
    assert node['fifo'] == fifo
    assert ['master-fifo', fifo] in compile_options(node['spec'])


def _node_options(result, host, name):
    node = [n for n in result['hosts'][host]['nodes'] if n['name'] == name][0]
    return [tuple(pair) for pair in node['spec']['options']]


def test_nodes_stop_on_sigterm_and_need_their_application():
    result = plan()
    for host, name in (('n1', 'a1'), ('n2', 'b1'), ('n2', 'a2')):
        options = _node_options(result, host, name)
        assert ('die-on-term', 'true') in options and ('need-app', 'true') in options


def test_a_reload_leaves_the_pools_first_unless_the_node_is_alone_in_one():
    result = plan()
    # a.example.com has a1 and a2 in every pool: their reloads leave the pools first.
    assert ('unsubscribe-on-graceful-reload', 'true') in _node_options(result, 'n1', 'a1')
    assert ('unsubscribe-on-graceful-reload', 'true') in _node_options(result, 'n2', 'a2')
    # b1 is b.example.com's only node: leaving would empty the pool; requests queue on it instead.
    assert ('unsubscribe-on-graceful-reload', 'true') not in _node_options(result, 'n2', 'b1')
    rendered = render_ini(compile_options(result['hosts']['n1']['nodes'][0]['spec']))
    assert 'unsubscribe-on-graceful-reload = true\n' in rendered and 'die-on-term = true\n' in rendered


# ---------------------------------------------------------------- issue 11: replicas of a router instance


def replicated(replicas=2):
    """The inventory with router edge (http, signed) in ``replicas`` replicas and tls out of their ports."""
    hosts = inventory()
    _router(hosts).update(replicas=replicas)
    _router(hosts, index=1).update(subscription_port=2637, stats_port=9197)
    return hosts


def _subscribe_lines(result, host, name):
    node = [n for n in result['hosts'][host]['nodes'] if n['name'] == name][0]
    return [value for option, value in compile_options(node['spec']) if option == 'subscribe2']


def test_replicas_are_router_vassals_on_one_address_with_reuse_port():
    result = plan(replicated())
    routers = result['hosts']['r1']['routers']
    assert [r['name'] for r in routers] == ['edge', 'edge.r1', 'tls']
    edge, replica = routers[0], routers[1]
    # The plan's router list names instances; the host plan has one router entry per replica.
    assert result['routers'] == ['core', 'edge', 'tls']
    assert (edge['replica_of'], edge['replica']) == ('edge', 0)
    assert (replica['replica_of'], replica['replica']) == ('edge', 1)
    assert 'replica_of' not in routers[2] and 'replica' not in routers[2]
    assert edge['bind'] == replica['bind'] == '10.0.0.1:80'
    assert (edge['subscription'], replica['subscription']) == ('10.0.0.1:2626', '10.0.0.1:2627')
    assert (edge['stats'], replica['stats']) == ('127.0.0.1:9191', '127.0.0.1:9192')
    assert edge['expect'] == replica['expect'] == {'a.example.com': ['10.0.1.1:3031', '10.0.1.2:3032'],
                                                   'b.example.com': ['10.0.1.2:3031']}
    # Each replica checks signatures with its own directory of the same public keys.
    assert edge['pubkey_dir'] == '/var/lib/uwsgi-topology/pubkeys/edge'
    assert replica['pubkey_dir'] == '/var/lib/uwsgi-topology/pubkeys/edge.r1'
    assert edge['public_keys'] == replica['public_keys'] != []
    for entry, sub, stats in ((edge, '2626', '9191'), (replica, '2627', '9192')):
        options = compile_options(entry['spec'])
        assert ['reuse-port', 'true'] in options
        assert ['http', '10.0.0.1:80'] in options
        assert ['http-subscription-server', '10.0.0.1:' + sub] in options
        assert ['http-stats', '127.0.0.1:' + stats] in options
        assert ['subscriptions-sign-check', 'SHA256:' + entry['pubkey_dir']] in options
        assert entry['reload_on'] == []
    assert ['reuse-port', 'true'] not in compile_options(routers[2]['spec'])


def test_nodes_subscribe_to_every_replica_signed_by_name_host_or_group():
    result = plan(replicated())
    sign = ',sign=SHA256:/var/lib/uwsgi-topology/keys/%s.pem'
    # a1 names the instance, b1 the router host, a2 a group of router hosts.
    for host, name, key, address in (('n1', 'a1', 'a.example.com', '10.0.1.1:3031'),
                                     ('n2', 'b1', 'b.example.com', '10.0.1.2:3031'),
                                     ('n2', 'a2', 'a.example.com', '10.0.1.2:3032')):
        lines = _subscribe_lines(result, host, name)
        for port in ('2626', '2627'):
            wanted = 'server=10.0.0.1:%s,key=%s,addr=%s' % (port, key, address)
            assert [line for line in lines if line.startswith(wanted + ',') and line.endswith(sign % key)], lines
    # a1 also subscribes to tls: 2 replicas of edge + tls.
    assert len(_subscribe_lines(result, 'n1', 'a1')) == 3
    assert result['hosts']['n1']['private_keys'] == ['a.example.com']


def test_one_replica_plans_exactly_as_without_the_field():
    hosts = inventory()
    for host in ('r1', 'core'):
        for router in hosts[host]['uwsgi_router_instances']:
            router['replicas'] = 1
    assert plan(hosts) == plan()
    assert all(['reuse-port', 'true'] not in compile_options(r['spec'])
               for h in plan()['hosts'].values() for r in h['routers'])


def test_replicas_with_several_workers_each_when_unsigned():
    hosts = inventory()
    _router(hosts, 'core').update(replicas=3, workers=2)
    routers = plan(hosts)['hosts']['core']['routers']
    assert [r['name'] for r in routers] == ['core', 'core.r1', 'core.r2']
    assert [r['subscription'] for r in routers] == ['10.0.0.9:2626', '10.0.0.9:2627', '10.0.0.9:2628']
    # No stats_port: no stats server for any replica.
    assert [r['stats'] for r in routers] == [None, None, None]
    for router in routers:
        options = compile_options(router['spec'])
        assert ['http-workers', '2'] in options and ['reuse-port', 'true'] in options
        assert ['http-cheap', 'true'] in options


def test_replicated_tls_router_shares_its_certificate():
    hosts = inventory()
    _router(hosts, index=1).update(replicas=2)
    _router(hosts).update(subscription_port=2636, stats_port=9196)
    tls, replica = plan(hosts)['hosts']['r1']['routers'][1:]
    assert replica['name'] == 'tls.r1'
    assert tls['cert'] == replica['cert'] == '/var/lib/uwsgi-topology/certs/tls.crt'
    assert tls['key'] == replica['key'] == '/var/lib/uwsgi-topology/certs/tls.key'
    assert (tls['cert_generated'], replica['cert_generated']) == (True, False)
    assert tls['certificates'] == replica['certificates']
    assert tls['reload_on'] == replica['reload_on']
    assert tls['reload_on'][-1] == '/var/lib/uwsgi-topology/certs/tls.crt'
    for router in (tls, replica):
        # Each replica reloads on its own, and a restarted one accepts nothing until its pools are refilled.
        assert ['http-cheap', 'true'] in compile_options(router['spec'])


def _federate_into_replicas(hosts):
    _router(hosts, 'core').update(replicas=2)
    _router(hosts).update(type='fast', resubscribe_to=['core'], secured=False)


REPLICAS = [
    ('replicas zero', lambda h: _router(h).update(replicas=0),
     'host r1: uwsgi_router_instances[0].replicas', 'must be >= 1'),
    ('replicas not a number', lambda h: _router(h).update(replicas='two'),
     'host r1: uwsgi_router_instances[0].replicas', 'integer'),
    ('workers on a signed router', lambda h: _router(h).update(workers=2),
     'host r1: uwsgi_router_instances[0].workers', 'use replicas: 2 instead'),
    ('workers on signed replicas', lambda h: _router(h).update(workers=3, replicas=2),
     'host r1: uwsgi_router_instances[0].workers', 'must be 1 when subscriptions are signed'),
    # edge.r1 takes UDP 2627, tls's subscription port.
    ('replica subscription port clash', lambda h: _router(h).update(replicas=2),
     'host r1: uwsgi_router_instances[1].subscription_port', 'UDP port 2627 on 10.0.0.1 (instance tls) is already '
     'claimed by instance edge.r1'),
    ('replica stats port clash', lambda h: (_router(h).update(replicas=2), _router(h, index=1).update(
        subscription_port=2637)),
     'host r1: uwsgi_router_instances[1].stats_port', 'TCP port 9192 on 10.0.0.1 (instance tls) is already claimed '
     'by instance edge.r1'),
    ('replica port clash named at replicas', lambda h: (_router(h, index=1).update(replicas=2, subscription_port=2625),
                                                        _router(h).update(stats_port=9193)),
     'host r1: uwsgi_router_instances[1].replicas', 'UDP port 2626 on 10.0.0.1 (instance tls.r1) is already claimed '
     'by instance edge'),
    ('bind shared with another instance', lambda h: (
        _router(h).update(replicas=2), _router(h, index=1).update(port=80, subscription_port=2637, stats_port=9197)),
     'host r1: uwsgi_router_instances[1].port', 'TCP port 80 on 10.0.0.1 (instance tls) is already claimed by '
     'instance edge'),
    ('replica ports beyond 65535', lambda h: _router(h).update(replicas=3, stats_port=65534),
     'host r1: uwsgi_router_instances[0].replicas', 'stats_port 65534 up to 65536, beyond 65535'),
    ('replica name taken', lambda h: (_router(h).update(replicas=2), _router(h, index=1).update(
        name='edge.r1', subscription_port=2637, stats_port=9197)),
     'host r1: uwsgi_router_instances[0].replicas', "named 'edge.r1', which is the name of router instance "
     'uwsgi_router_instances[1]'),
    ('node named like a replica', lambda h: (_router(h, 'core').update(replicas=2), _node(h).update(name='core.r1')),
     'host n1: uwsgi_node_instances[0].name', "'core.r1' is already used on host core"),
    ('replicated federated edge', lambda h: _router(h).update(type='fast', resubscribe_to=['core'], secured=False,
                                                              replicas=2),
     'host r1: uwsgi_router_instances[0].replicas', 'must be 1 on a federated edge'),
    ('federation into replicas', _federate_into_replicas,
     'host r1: uwsgi_router_instances[0].resubscribe_to[0]', "router 'core' has 2 replicas"),
]


@pytest.mark.parametrize('name, change, where, fragment', REPLICAS, ids=[r[0] for r in REPLICAS])
def test_replicas_refusals_name_the_field(name, change, where, fragment):
    hosts = copy.deepcopy(inventory())
    change(hosts)
    message = _refused(hosts)
    assert message.startswith(where + ': '), message
    assert fragment in message


def test_unsigned_replicas_beyond_loopback_are_named_in_the_warning():
    hosts = inventory()
    _router(hosts, 'core').update(replicas=2)
    warning = [w for w in plan(hosts)['warnings'] if w.startswith('host core:')][0]
    assert 'on 10.0.0.9:2626 to 2627 (its replicas): whoever' in warning


def test_http_routers_get_the_benchmarked_defaults_and_fast_routers_none():
    hosts = inventory()
    hosts['r1']['uwsgi_router_instances'].append(
        {'name': 'fr', 'type': 'fast', 'port': 3000, 'subscription_port': 2628, 'secured': False})
    result = plan(hosts)
    by_name = dict((r['name'], compile_options(r['spec'])) for r in result['hosts']['r1']['routers'])
    for name in ('edge', 'tls'):
        assert ['http-buffer-size', '65536'] in by_name[name] and ['http-connect-timeout', '3'] in by_name[name]
        assert not [o for o in by_name[name] if o[0] == 'http-keepalive']
    assert not [o for o in by_name['fr'] if 'buffer-size' in o[0] or 'connect-timeout' in o[0]]


@pytest.mark.parametrize('field, value, fragment', [
    ('buffer_size', 1024, 'must be >= 4096, got 1024'),
    ('buffer_size', 2.5, 'must be an integer'),
    ('connect_timeout', 0, 'must be >= 1, got 0'),
])
def test_router_tuning_fields_are_checked(field, value, fragment):
    hosts = inventory()
    _router(hosts)[field] = value
    with pytest.raises(TopologyError) as caught:
        plan(hosts)
    assert str(caught.value).startswith('host r1: uwsgi_router_instances[0].%s: ' % field)
    assert fragment in str(caught.value)


def test_router_tuning_fields_refused_on_a_fastrouter():
    hosts = inventory()
    hosts['core']['uwsgi_router_instances'][0].update(type='fast', buffer_size=65536)
    with pytest.raises(TopologyError) as caught:
        plan(hosts)
    assert str(caught.value).startswith('host core: uwsgi_router_instances[0].buffer_size: applies to http and '
                                        'https routers only')


def test_stats_address_binds_the_stats_server_there_and_is_warned_about():
    hosts = inventory()
    _router(hosts)['stats_address'] = '10.0.0.1'
    result = plan(hosts)
    edge = result['hosts']['r1']['routers'][0]
    assert edge['stats'] == '10.0.0.1:9191'
    assert ['http-stats', '10.0.0.1:9191'] in compile_options(edge['spec'])
    assert [w for w in result['warnings'] if w.startswith('host r1: uwsgi_router_instances[0].stats_address (router '
                                                          'edge): its stats server on 10.0.0.1:9191 lists')]


@pytest.mark.parametrize('change, where, fragment', [
    ({'stats_address': '10.0.0.1:9000'}, '.stats_address', 'without a port'),
    ({'stats_address': 'stats.example'}, '.stats_address', 'must be a numeric IPv4 address'),
    ({'stats_address': '10.0.0.1', 'stats_port': None}, '.stats_address', 'needs stats_port'),
])
def test_stats_address_is_checked(change, where, fragment):
    hosts = inventory()
    router = _router(hosts)
    router.update(change)
    if 'stats_port' in change and change['stats_port'] is None:
        del router['stats_port']
    with pytest.raises(TopologyError) as caught:
        plan(hosts)
    assert str(caught.value).startswith('host r1: uwsgi_router_instances[0]%s: ' % where)
    assert fragment in str(caught.value)


def test_routers_listen_with_a_1024_backlog_unless_told_otherwise():
    hosts = inventory()
    _router(hosts, index=1)['listen'] = 4096
    edge, tls = plan(hosts)['hosts']['r1']['routers']
    assert ['listen', '1024'] in compile_options(edge['spec'])
    assert ['listen', '4096'] in compile_options(tls['spec'])
    _router(hosts)['listen'] = 0
    assert 'host r1: uwsgi_router_instances[0].listen' in _refused(hosts)
