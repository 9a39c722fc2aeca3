# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the manifest: what the key store holds and what each host gets, decided once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils.manifest import add_manifests
from ansible_collections.uwsgi.topology.plugins.module_utils.topology import plan_topology

PREFIX = '/srv/t'
STORE = '/ctl/store'
APP = '/coll/roles/node/files/demo_app.py'


def subs(key):
    return [{'router': 'edge-http', 'key': key}, {'router': 'edge-https', 'key': key}]


def local_default():
    """The bundled one-machine default (inventory/local.yml)."""
    return {'uwsgi-local': {
        'ansible_host': '127.0.0.1', 'uwsgi_topology_prefix': PREFIX,
        'uwsgi_router_instances': [
            {'name': 'edge-http', 'type': 'http', 'port': 18080, 'subscription_port': 12626, 'stats_port': 19191,
             'tolerance': 10},
            {'name': 'edge-https', 'type': 'https', 'port': 18443, 'subscription_port': 12627,
             'stats_port': 19192, 'keys': ['app.test', 'api.test'], 'tolerance': 10}],
        'uwsgi_node_instances': [
            {'name': 'app1', 'port': 13031, 'subscriptions': subs('app.test')},
            {'name': 'app2', 'port': 13032, 'subscriptions': subs('app.test')},
            {'name': 'api1', 'port': 13033, 'subscriptions': subs('api.test')}]}}


GROUPS = {'uwsgi_routers': ['uwsgi-local'], 'uwsgi_nodes': ['uwsgi-local']}


def plan_of(hosts, groups=None, **kwargs):
    plan = plan_topology(hosts, groups or GROUPS)
    return add_manifests(plan, STORE, demo_app_src=APP, **kwargs)


@pytest.fixture(scope='module')
def default_plan():
    return plan_of(local_default())


def test_keystore_of_the_local_default(default_plan):
    store = default_plan['keystore']
    assert store['root'] == STORE
    assert [k['key'] for k in store['signing_keys']] == ['api.test', 'app.test']
    assert store['signing_keys'][1] == {'key': 'app.test', 'private': STORE + '/signing/app.test.pem',
                                        'public': STORE + '/signing/public/app.test.pem'}
    assert store['ca'] == {'key': STORE + '/ca/ca.key', 'cert': STORE + '/ca/ca.crt',
                           'common_name': 'uwsgi.topology CA'}
    assert store['certificates'][2]['ip'] == ['127.0.0.1']
    assert [(c['name'], c['key'], c['cert'], c['dns']) for c in store['certificates']] == [
        ('api.test', STORE + '/sni/api.test.key', STORE + '/sni/api.test.crt', ['api.test']),
        ('app.test', STORE + '/sni/app.test.key', STORE + '/sni/app.test.crt', ['app.test']),
        ('edge-https', STORE + '/routers/edge-https.key', STORE + '/routers/edge-https.crt', ['edge-https'])]


def test_files_are_ordered_keys_first_and_secrets_are_0600(default_plan):
    manifest = default_plan['hosts']['uwsgi-local']['manifest']
    files = manifest['keys']['files'] + manifest['app']['files']
    kinds = [f['kind'] for f in files]
    assert kinds == ['signing_key', 'signing_key', 'sni_key', 'sni_key', 'router_key'] + ['public_key'] * 4 + [
        'sni_cert', 'sni_cert', 'router_cert', 'ca_cert', 'app']
    for entry in files:
        assert entry['mode'] == ('0600' if entry['secret'] else '0644')
        assert entry['private'] == entry['secret']
        assert entry['secret'] == entry['kind'].endswith('_key') and entry['kind'] != 'public_key' \
            or entry['kind'] == 'public_key' and not entry['secret']
    by_dest = dict((f['dest'], f['src']) for f in files)
    assert by_dest[PREFIX + '/keys/app.test.pem'] == STORE + '/signing/app.test.pem'
    assert by_dest[PREFIX + '/pubkeys/edge-http/app.test.pem'] == STORE + '/signing/public/app.test.pem'
    assert by_dest[PREFIX + '/certs/app.test.crt'] == STORE + '/sni/app.test.crt'
    assert by_dest[PREFIX + '/certs/edge-https.key'] == STORE + '/routers/edge-https.key'
    assert by_dest[PREFIX + '/certs/topology-ca.pem'] == STORE + '/ca/ca.crt'
    assert by_dest[PREFIX + '/apps/demo_app.py'] == APP


def test_directories_prune_vassals_and_needs(default_plan):
    manifest = default_plan['hosts']['uwsgi-local']['manifest']
    assert [(d['path'], d['mode'], d['private']) for d in manifest['keys']['directories']] == [
        (PREFIX + '/keys', '0700', True), (PREFIX + '/pubkeys', '0755', False),
        (PREFIX + '/pubkeys/edge-http', '0755', False), (PREFIX + '/pubkeys/edge-https', '0755', False),
        (PREFIX + '/certs', '0755', False)]
    assert manifest['app']['directories'] == [{'path': PREFIX + '/apps', 'mode': '0755', 'private': False}]
    assert manifest['keys']['prune'] == [PREFIX + '/keys', PREFIX + '/pubkeys', PREFIX + '/pubkeys/edge-http',
                                         PREFIX + '/pubkeys/edge-https', PREFIX + '/certs']
    assert manifest['app']['prune'] == [PREFIX + '/apps']
    assert manifest['routers']['suffix'] == '.router.topology.ini'
    assert manifest['nodes']['suffix'] == '.node.topology.ini'
    vassals = manifest['routers']['vassals'] + manifest['nodes']['vassals']
    assert [(v['file'], v['role'], v['socket']) for v in vassals] == [
        ('edge-http.router.topology.ini', 'router', None), ('edge-https.router.topology.ini', 'router', None),
        ('app1.node.topology.ini', 'node', '127.0.0.1:13031'), ('app2.node.topology.ini', 'node', '127.0.0.1:13032'),
        ('api1.node.topology.ini', 'node', '127.0.0.1:13033')]
    assert manifest['needs'] == {'ssl': True, 'python': True}
    assert manifest['app']['reload'] == ['app1.node.topology.ini', 'app2.node.topology.ini', 'api1.node.topology.ini']
    reloads = dict((r['vassal'], r['on']) for r in manifest['reloads'])
    assert PREFIX + '/certs/app.test.crt' in reloads['edge-https.router.topology.ini']
    # Signed routers also reload on their public keys: a rotated key needs its pools created afresh.
    assert reloads['edge-http.router.topology.ini'] == [PREFIX + '/pubkeys/edge-http/api.test.pem',
                                                        PREFIX + '/pubkeys/edge-http/app.test.pem']
    assert manifest['required_files'] == []


def test_handover_lists_each_signing_key_with_its_subscriptions(default_plan):
    handover = default_plan['hosts']['uwsgi-local']['manifest']['keys']['handover']
    assert [(h['key'], h['current'], h['next'], h['src']) for h in handover] == [
        ('api.test', PREFIX + '/keys/api.test.pem', PREFIX + '/keys/api.test.pem.next', STORE + '/signing/api.test.pem'),
        ('app.test', PREFIX + '/keys/app.test.pem', PREFIX + '/keys/app.test.pem.next', STORE + '/signing/app.test.pem')]
    app = handover[1]['subscriptions']
    assert sorted((s['server'], s['address']) for s in app) == [
        ('127.0.0.1:12626', '127.0.0.1:13031'), ('127.0.0.1:12626', '127.0.0.1:13032'),
        ('127.0.0.1:12627', '127.0.0.1:13031'), ('127.0.0.1:12627', '127.0.0.1:13032')]
    assert all(s['key'] == 'app.test' and s['signing'][1] == PREFIX + '/keys/app.test.pem' for s in app)


def test_verify_entries(default_plan):
    verify = dict((v['router'], v) for v in default_plan['hosts']['uwsgi-local']['manifest']['verify'])
    http, https = verify['edge-http'], verify['edge-https']
    assert http['connect'] == {'host': '127.0.0.1', 'port': 18080} and http['stats'] == '127.0.0.1:19191'
    assert http['pools'] == {'app.test': ['127.0.0.1:13031', '127.0.0.1:13032'], 'api.test': ['127.0.0.1:13033']}
    assert http['probes'][1] == {'key': 'app.test', 'server_name': None, 'ca': None, 'certificate': None,
                                 'common_name': None,
                                 'answers': {'127.0.0.1:13031': 'app1', '127.0.0.1:13032': 'app2'}}
    assert https['probes'][0] == {'key': 'api.test', 'server_name': 'api.test',
                                  'ca': PREFIX + '/certs/topology-ca.pem',
                                  'certificate': PREFIX + '/certs/api.test.crt', 'common_name': 'api.test',
                                  'answers': {'127.0.0.1:13033': 'api1'}}


def test_operators_own_certificate_is_required_and_not_generated():
    hosts = local_default()
    hosts['uwsgi-local']['uwsgi_router_instances'][1].update(cert='/etc/ssl/own.crt', key='/etc/ssl/own.key')
    plan = plan_of(hosts)
    manifest = plan['hosts']['uwsgi-local']['manifest']
    assert [r['path'] for r in manifest['required_files']] == ['/etc/ssl/own.crt', '/etc/ssl/own.key']
    assert manifest['keys']['keep'] == ['/etc/ssl/own.crt', '/etc/ssl/own.key']
    assert manifest['required_files'][0]['message'].startswith(
        'host uwsgi-local: uwsgi_router_instances[1].cert: /etc/ssl/own.crt is not a file on uwsgi-local;')
    assert 'router_key' not in [f['kind'] for f in manifest['keys']['files']]
    assert 'edge-https' not in [c['name'] for c in plan['keystore']['certificates']]
    probe = [v for v in manifest['verify'] if v['router'] == 'edge-https'][0]['probes'][1]
    assert probe['key'] == 'app.test' and probe['certificate'] == PREFIX + '/certs/app.test.crt'


def test_unsigned_plain_topology_plans_no_keys_no_ca_and_no_ssl():
    hosts = local_default()
    for router in hosts['uwsgi-local']['uwsgi_router_instances']:
        router.update(type='http', secured=False)
        router.pop('keys', None)
    hosts['uwsgi-local']['uwsgi_router_instances'][1]['port'] = 18081
    plan = plan_of(hosts)
    manifest = plan['hosts']['uwsgi-local']['manifest']
    assert plan['keystore']['ca'] is None and plan['keystore']['signing_keys'] == []
    assert manifest['keys']['files'] == [] and [f['kind'] for f in manifest['app']['files']] == ['app']
    assert manifest['needs'] == {'ssl': False, 'python': True}
    assert manifest['keys']['handover'] == []


def test_own_wsgi_file_places_no_demo_app():
    hosts = local_default()
    for node in hosts['uwsgi-local']['uwsgi_node_instances']:
        node['wsgi_file'] = '/srv/own/app.py'
    manifest = plan_of(hosts)['hosts']['uwsgi-local']['manifest']
    assert manifest['app'] == {'directories': [], 'files': [], 'prune': [PREFIX + '/apps'], 'reload': []}


def test_store_tilde_is_expanded(monkeypatch):
    monkeypatch.setenv('HOME', '/home/op')
    plan = add_manifests(plan_topology(local_default(), GROUPS), '~/ks/')
    assert plan['keystore']['root'] == '/home/op/ks'


def test_planning_does_not_change_the_plan_it_was_given_except_adding():
    plan = plan_topology(local_default(), GROUPS)
    before = copy.deepcopy(plan)
    add_manifests(plan, STORE)
    for host, host_plan in before['hosts'].items():
        for name, value in host_plan.items():
            assert plan['hosts'][host][name] == value


def test_drain_entries_of_the_local_default(default_plan):
    nodes = default_plan['hosts']['uwsgi-local']['manifest']['nodes']
    # The vassal entries are what uwsgi.topology.vassals takes; the FIFO is in the spec.
    assert [['master-fifo', PREFIX + '/run/%s.fifo' % v['instance']] in v['spec']['options']
            for v in nodes['vassals']] == [True, True, True]
    drain = nodes['drain']
    assert [(d['instance'], d['fifo'], d['state_file']) for d in drain] == [
        ('app1', PREFIX + '/run/app1.fifo', PREFIX + '/run/app1.drain'),
        ('app2', PREFIX + '/run/app2.fifo', PREFIX + '/run/app2.drain'),
        ('api1', PREFIX + '/run/api1.fifo', PREFIX + '/run/api1.drain')]
    app1 = drain[0]
    assert app1['subscriptions'] == nodes['vassals'][0]['spec']['subscriptions']['subscribe']
    assert app1['routers'] == [
        {'name': 'edge-http', 'server': '127.0.0.1:12626', 'stats': '127.0.0.1:19191', 'keys': ['app.test'],
         'tolerance': 10},
        {'name': 'edge-https', 'server': '127.0.0.1:12627', 'stats': '127.0.0.1:19192', 'keys': ['app.test'],
         'tolerance': 10}]
    assert app1['start_blocked'] is False and app1['announce_interval'] is None


def test_drain_entries_give_no_stats_address_of_a_router_on_another_machine():
    hosts = {
        'lb': {'ansible_host': '10.0.0.5', 'uwsgi_router_instances': [
            {'name': 'edge', 'type': 'http', 'port': 80, 'subscription_port': 2626, 'stats_port': 9191},
            {'name': 'quiet', 'type': 'http', 'port': 81, 'subscription_port': 2627}]},
        'web': {'ansible_host': '10.0.1.7', 'uwsgi_node_instances': [
            {'name': 'app', 'port': 3031, 'announce_interval': 3, 'spec': {'options': {'start-unsubscribed': True}},
             'subscriptions': [{'router': 'edge', 'key': 'a.test'}, {'router': 'quiet', 'key': 'a.test'}]}]}}
    plan = plan_of(hosts, {'uwsgi_routers': ['lb'], 'uwsgi_nodes': ['web']})
    assert plan['hosts']['lb']['manifest']['nodes']['drain'] == []
    entry = plan['hosts']['web']['manifest']['nodes']['drain'][0]
    assert entry['routers'] == [
        {'name': 'edge', 'server': '10.0.0.5:2626', 'stats': None, 'keys': ['a.test'], 'tolerance': None},
        {'name': 'quiet', 'server': '10.0.0.5:2627', 'stats': None, 'keys': ['a.test'], 'tolerance': None}]
    assert entry['start_blocked'] is True and entry['announce_interval'] == 3


def replicated_default():
    """The local default with both routers in 2 replicas (each replica's ports: the instance's + 1)."""
    hosts = local_default()
    http, https = hosts['uwsgi-local']['uwsgi_router_instances']
    http.update(replicas=2)
    https.update(replicas=2, subscription_port=12636, stats_port=19196)
    return hosts


def test_replicas_are_vassals_with_their_own_public_keys_and_one_certificate(default_plan):
    plan = plan_of(replicated_default())
    manifest = plan['hosts']['uwsgi-local']['manifest']
    assert [v['file'] for v in manifest['routers']['vassals']] == [
        'edge-http.router.topology.ini', 'edge-http.r1.router.topology.ini',
        'edge-https.router.topology.ini', 'edge-https.r1.router.topology.ini']
    assert [v['instance'] for v in manifest['routers']['vassals']] == [
        'edge-http', 'edge-http.r1', 'edge-https', 'edge-https.r1']
    # The replicas share the generated certificate: made and placed once, as without replicas.
    assert plan['keystore'] == default_plan['keystore']
    files = manifest['keys']['files']
    assert [f['dest'] for f in files if f['kind'] == 'router_key'] == [PREFIX + '/certs/edge-https.key']
    assert [f['dest'] for f in files if f['kind'] == 'router_cert'] == [PREFIX + '/certs/edge-https.crt']
    assert manifest['required_files'] == []
    # Every replica checks signatures against its own copy of the public keys.
    publics = [f['dest'] for f in files if f['kind'] == 'public_key']
    for router in ('edge-http', 'edge-http.r1', 'edge-https', 'edge-https.r1'):
        assert PREFIX + '/pubkeys/%s/app.test.pem' % router in publics
        assert {'path': PREFIX + '/pubkeys/' + router, 'mode': '0755', 'private': False} in \
            manifest['keys']['directories']
        assert PREFIX + '/pubkeys/' + router in manifest['keys']['prune']
    assert len(publics) == 8
    # The rotation handover re-signs every replica's subscription.
    handover = dict((h['key'], h) for h in manifest['keys']['handover'])
    assert sorted(set(e['server'] for e in handover['app.test']['subscriptions'])) == [
        '127.0.0.1:12626', '127.0.0.1:12627', '127.0.0.1:12636', '127.0.0.1:12637']


def test_replicas_pools_are_each_verified_and_the_shared_address_probed_once():
    manifest = plan_of(replicated_default())['hosts']['uwsgi-local']['manifest']
    verify = dict((v['router'], v) for v in manifest['verify'])
    assert sorted(verify) == ['edge-http', 'edge-http.r1', 'edge-https', 'edge-https.r1']
    for instance, port, stats in (('edge-http', 18080, 19191), ('edge-https', 18443, 19196)):
        first, other = verify[instance], verify[instance + '.r1']
        assert first['connect'] == {'host': '127.0.0.1', 'port': port}
        assert other['connect'] is None  # the kernel spreads connections: one probe through the address
        assert (first['stats'], other['stats']) == ('127.0.0.1:%d' % stats, '127.0.0.1:%d' % (stats + 1))
        assert first['pools'] == other['pools'] == {'app.test': ['127.0.0.1:13031', '127.0.0.1:13032'],
                                                    'api.test': ['127.0.0.1:13033']}
        assert first['bind'] == other['bind']
        # The other replica's probes only name the nodes of its pools (its summary lines).
        assert other['probes'] == first['probes']


def test_drain_knows_every_replica_of_a_router():
    manifest = plan_of(replicated_default())['hosts']['uwsgi-local']['manifest']
    app1 = [d for d in manifest['nodes']['drain'] if d['instance'] == 'app1'][0]
    assert [(r['name'], r['server'], r['stats']) for r in app1['routers']] == [
        ('edge-http', '127.0.0.1:12626', '127.0.0.1:19191'), ('edge-http.r1', '127.0.0.1:12627', '127.0.0.1:19192'),
        ('edge-https', '127.0.0.1:12636', '127.0.0.1:19196'),
        ('edge-https.r1', '127.0.0.1:12637', '127.0.0.1:19197')]
    assert len(app1['subscriptions']) == 4


def test_each_replica_is_replaced_in_steps_and_refilled_with_the_nodes_that_announce_to_it():
    result = plan_of(replicated_default())
    manifest = result['hosts']['uwsgi-local']['manifest']
    vassals = dict((v['instance'], v) for v in manifest['routers']['vassals'])
    for name, server, stats, port in (('edge-http', 12626, 19191, 18080), ('edge-http.r1', 12627, 19192, 18080),
                                      ('edge-https', 12636, 19196, 18443), ('edge-https.r1', 12637, 19197, 18443)):
        rolling = vassals[name]['rolling']
        assert rolling['stats'] == '127.0.0.1:%d' % stats
        assert rolling['server'] == '127.0.0.1:%d' % server
        assert rolling['listen'] == ['127.0.0.1:%d' % port]
        assert rolling['leave'] is True  # a sibling shares the address
        announced = [(a['entry']['key'], a['entry']['address']) for a in rolling['announces']]
        assert announced == [('app.test', '127.0.0.1:13031'), ('app.test', '127.0.0.1:13032'),
                             ('api.test', '127.0.0.1:13033')]
        assert all(a['entry']['server'] == '127.0.0.1:%d' % server for a in rolling['announces'])
        # Signed on the controller with the key store's copy of each key.
        for a in rolling['announces']:
            assert a['signing'].endswith('/%s.pem' % a['entry']['key'])
            assert not a['signing'].startswith(PREFIX + '/keys/')
    # The https replicas reload on their certificates (a digest in the vassal file), the http ones on nothing.
    assert vassals['edge-https']['depends'][:3] == vassals['edge-https.r1']['depends'][:3] == [
        PREFIX + '/certs/api.test.crt', PREFIX + '/certs/app.test.crt', PREFIX + '/certs/edge-https.crt']
    assert vassals['edge-http']['depends'] == [PREFIX + '/pubkeys/edge-http/api.test.pem',
                                               PREFIX + '/pubkeys/edge-http/app.test.pem']
    assert vassals['edge-http.r1']['depends'] == [PREFIX + '/pubkeys/edge-http.r1/api.test.pem',
                                                  PREFIX + '/pubkeys/edge-http.r1/app.test.pem']


def test_a_single_router_is_refilled_but_never_leaves_its_only_address(default_plan):
    manifest = default_plan['hosts']['uwsgi-local']['manifest']
    for vassal in manifest['routers']['vassals']:
        assert vassal['rolling']['leave'] is False
        assert len(vassal['rolling']['announces']) == 3


def test_operators_certificate_is_required_once_for_its_replicas():
    hosts = replicated_default()
    hosts['uwsgi-local']['uwsgi_router_instances'][1].update(cert='/etc/ssl/own.crt', key='/etc/ssl/own.key')
    manifest = plan_of(hosts)['hosts']['uwsgi-local']['manifest']
    assert [r['path'] for r in manifest['required_files']] == ['/etc/ssl/own.crt', '/etc/ssl/own.key']
    assert [r['router'] for r in manifest['required_files']] == ['edge-https', 'edge-https']


def _two_hosts(stats_address=None):
    router = {'name': 'edge', 'type': 'http', 'port': 8080, 'subscription_port': 2626, 'stats_port': 9191}
    if stats_address:
        router['stats_address'] = stats_address
    hosts = {
        'r': {'ansible_host': '10.0.0.1', 'uwsgi_router_instances': [router]},
        'n': {'ansible_host': '10.0.1.1', 'uwsgi_node_instances': [
            {'name': 'app1', 'port': 3031, 'subscriptions': [{'router': 'edge', 'key': 'app.test'}]}]},
    }
    return plan_of(hosts, {'uwsgi_routers': ['r'], 'uwsgi_nodes': ['n']})


@pytest.mark.parametrize('stats_address, seen_by_node, read_by_verify', [
    (None, None, '127.0.0.1:9191'),                     # loopback: only the router's own host
    ('0.0.0.0', '10.0.0.1:9191', '127.0.0.1:9191'),     # every address: the router host's one
    ('10.0.0.1', '10.0.0.1:9191', '10.0.0.1:9191'),
])
def test_drain_reads_router_stats_where_the_node_host_reaches_them(stats_address, seen_by_node, read_by_verify):
    plan = _two_hosts(stats_address)
    drain = plan['hosts']['n']['manifest']['nodes']['drain'][0]
    assert drain['routers'][0]['stats'] == seen_by_node
    assert plan['hosts']['r']['manifest']['verify'][0]['stats'] == read_by_verify
