# -*- coding: utf-8 -*-
"""Scenario federation: two edge fastrouters resubscribe to a core http router.

What the routers know (the core's pool holds the two edges' addresses, each edge's pool holds
the two nodes), what a client sees (requests with the key as Host sent to the core are answered
by both nodes, through both edges, and every router counted them), that an inventory with a
resubscription cycle fails in the planner without changing any host, and that a --check
converge reports nothing to change and changes nothing.
"""

import os
import shutil

import pytest
import yaml

import topology_testlib as lib

CORE = 'federation-core'
EDGES = {'federation-edge-a': 'edge-a', 'federation-edge-b': 'edge-b'}
NODES = {'federation-node1': 'app1', 'federation-node2': 'app2'}
CLIENT = 'federation-client'
KEY = 'app.test'
TOPOLOGY_HOSTS = [CORE] + sorted(EDGES) + sorted(NODES)
# What a converge could change on a host: the prefix (vassals, keys, emperor.ini) and the unit.
SNAPSHOT_PATHS = lib.TOPOLOGY_PATHS
SNAPSHOT_UNITS = lib.TOPOLOGY_UNITS

# Every test picks its hosts itself (testinfra would otherwise run each test once per host).
testinfra_hosts = [CORE]


def _router(name):
    """The single router instance of inventory host ``name``."""
    instances = lib.host_vars(name)['uwsgi_router_instances']
    assert len(instances) == 1, (name, instances)
    return instances[0]


def _address(name):
    return lib.host_vars(name)['uwsgi_topology_advertise_address']


def _stats(name):
    return '127.0.0.1:%d' % _router(name)['stats_port']


def _requests(pool):
    """``{node address: requests}`` of a pool."""
    return dict((node['name'], node['requests']) for node in pool['nodes'])


@pytest.fixture(scope='module')
def edge_addresses():
    """{'ip:port': edge host} of both edges: the address each edge announces to the core is its
    own fastrouter socket."""
    return dict(('%s:%d' % (_address(name), _router(name)['port']), name) for name in EDGES)


@pytest.fixture(scope='module')
def node_addresses():
    """{'ip:port': instance name} of every node, from the inventory."""
    addresses = {}
    for name in NODES:
        for node in lib.host_vars(name)['uwsgi_node_instances']:
            addresses['%s:%d' % (_address(name), node['port'])] = node['name']
    return addresses


def _wait_for_federation(edge_addresses, node_addresses):
    """Both edges' pools hold both nodes, and the core's pool holds both edges (all live)."""
    pools = {}
    for name in sorted(EDGES):
        pools[name] = lib.router_pools(lib.host(name), _stats(name), wait_for={KEY: sorted(node_addresses)})
    pools[CORE] = lib.router_pools(lib.host(CORE), _stats(CORE), wait_for={KEY: sorted(edge_addresses)})
    return pools


def test_emperor_runs_under_systemd_on_every_host():
    for name in TOPOLOGY_HOSTS:
        service = lib.host(name).service('uwsgi-topology-emperor')
        assert service.is_running, name
        assert service.is_enabled, name


def test_routers_listen_on_their_own_addresses():
    for name in [CORE] + sorted(EDGES):
        router, target = _router(name), lib.host(name)
        assert target.socket('tcp://%s:%d' % (_address(name), router['port'])).is_listening, name
        assert target.socket('udp://%s:%d' % (_address(name), router['subscription_port'])).is_listening, name
        assert target.socket('tcp://127.0.0.1:%d' % router['stats_port']).is_listening, name


def test_edges_resubscribe_to_the_core_which_checks_no_signatures():
    """What the planner wrote: each edge is a fastrouter that checks the nodes' signatures and
    forwards their announces to the core's subscription server; the core checks none (uWSGI
    2.0 forwards unsigned)."""
    core = _router(CORE)
    core_subscription = '%s:%d' % (_address(CORE), core['subscription_port'])
    core_vassal = lib.host(CORE).file('/var/lib/uwsgi-topology/vassals/core.router.topology.ini').content_string
    assert 'http = %s:%d\n' % (_address(CORE), core['port']) in core_vassal, core_vassal
    assert 'subscriptions-sign-check' not in core_vassal, core_vassal
    for name, instance in sorted(EDGES.items()):
        vassal = lib.host(name).file('/var/lib/uwsgi-topology/vassals/%s.router.topology.ini' % instance).content_string
        assert 'fastrouter = %s:%d\n' % (_address(name), _router(name)['port']) in vassal, (name, vassal)
        assert 'fastrouter-resubscribe = %s\n' % core_subscription in vassal, (name, vassal)
        assert 'subscriptions-sign-check = SHA256:' in vassal, (name, vassal)


def test_core_pool_holds_both_edges_alive(edge_addresses, node_addresses):
    pools = _wait_for_federation(edge_addresses, node_addresses)[CORE]
    assert sorted(pools) == [KEY], pools
    nodes = dict((node['name'], node) for node in pools[KEY]['nodes'])
    # The edges' addresses, exactly: the nodes themselves never announced to the core.
    assert sorted(nodes) == sorted(edge_addresses), nodes
    for address, node in sorted(nodes.items()):
        assert node['death_mark'] == 0, (address, node)
        assert node['weight'] == 1, (address, node)


@pytest.mark.parametrize('edge', sorted(EDGES))
def test_edge_pool_holds_both_nodes_alive(edge, edge_addresses, node_addresses):
    pools = _wait_for_federation(edge_addresses, node_addresses)[edge]
    assert sorted(pools) == [KEY], (edge, pools)
    nodes = dict((node['name'], node) for node in pools[KEY]['nodes'])
    assert sorted(nodes) == sorted(node_addresses), (edge, nodes)
    for address, node in sorted(nodes.items()):
        assert node['death_mark'] == 0, (edge, address, node)
        assert node['weight'] == 1, (edge, address, node)


def test_requests_through_the_core_reach_every_node_through_both_edges(edge_addresses, node_addresses):
    """8 requests to the core: round robin sends 4 to each edge, and each edge sends 2 of its 4
    to each node. The client sees both nodes' names; the core counted 4 per edge, each edge 2 per
    node."""
    count = 8
    before = _wait_for_federation(edge_addresses, node_addresses)
    core = _router(CORE)
    answers = lib.http_requests(lib.host(CLIENT), _address(CORE), core['port'], KEY, count=count)
    print('answers through the core %s:%d with Host %s: %s' % (_address(CORE), core['port'], KEY, answers))
    assert [answer[0] for answer in answers] == [200] * count, answers
    bodies = [answer[1] for answer in answers]
    assert sorted(set(bodies)) == sorted(node_addresses.values()), bodies
    assert sorted(bodies.count(name) for name in set(bodies)) == [count // 2, count // 2], bodies

    after = dict((name, lib.router_pools(lib.host(name), _stats(name))) for name in [CORE] + sorted(EDGES))
    core_before, core_after = _requests(before[CORE][KEY]), _requests(after[CORE][KEY])
    core_counts = dict((address, core_after[address] - core_before.get(address, 0)) for address in core_after)
    print('requests the core sent to each edge: %s' % core_counts)
    assert core_counts == dict((address, count // 2) for address in edge_addresses), (before[CORE], after[CORE])
    for edge in sorted(EDGES):
        edge_before, edge_after = _requests(before[edge][KEY]), _requests(after[edge][KEY])
        edge_counts = dict((address, edge_after[address] - edge_before.get(address, 0)) for address in edge_after)
        print('requests %s sent to each node: %s' % (edge, edge_counts))
        assert edge_counts == dict((address, count // 4) for address in node_addresses), (edge, before[edge], after[edge])


def test_unknown_key_gets_no_answer_from_a_node():
    answers = lib.http_requests(lib.host(CLIENT), _address(CORE), _router(CORE)['port'], 'unknown.test', count=2)
    # uWSGI's http router closes the connection (curl: status 000) or answers an error.
    assert 200 not in [answer[0] for answer in answers], answers
    assert not set(answer[1] for answer in answers) & set(NODES.values()), answers


def _write_cycle_inventory(directory):
    """A copy of Molecule's inventory in which edge-a resubscribes to edge-b and edge-b to edge-a
    (both unsecured, so the planner gets as far as the cycle check). Passed after Molecule's
    inventory, its host_vars win over Molecule's."""
    source = lib.inventory_dir()
    target = os.path.join(directory, 'cycle-inventory')
    shutil.copytree(source, target)
    pairs = sorted(EDGES.items())
    for (name, _instance), (_other, other_instance) in zip(pairs, pairs[1:] + pairs[:1]):
        path = os.path.join(target, 'host_vars', name)
        with open(path, encoding='utf-8') as stream:
            variables = yaml.safe_load(stream)
        variables['uwsgi_router_instances'][0].update(resubscribe_to=other_instance, secured=False)
        with open(path, 'w', encoding='utf-8') as stream:
            yaml.safe_dump(variables, stream, default_flow_style=False)
    return target


def test_resubscribe_cycle_fails_before_any_host_is_changed(tmp_path, edge_addresses, node_addresses):
    hosts = dict((name, lib.host(name)) for name in TOPOLOGY_HOSTS)
    before = dict((name, lib.snapshot(h, SNAPSHOT_PATHS, units=SNAPSHOT_UNITS)) for name, h in hosts.items())

    inventory = _write_cycle_inventory(str(tmp_path))
    rc, output, recap = lib.run_converge('--inventory', inventory)
    assert rc != 0, output[-4000:]
    # The planner's error, naming the host and the variable at fault and the cycle itself.
    assert 'host federation-edge-a: uwsgi_router_instances[0].resubscribe_to' in output, output[-4000:]
    assert 'resubscriptions form a cycle (edge-a -> edge-b -> edge-a)' in output, output[-4000:]
    # It stopped in the planning play on the controller: no task ran on any topology host.
    assert recap.get('localhost', {}).get('failed') == 1, (recap, output[-4000:])
    for name in hosts:
        assert name not in recap, (name, recap, output[-4000:])

    after = dict((name, lib.snapshot(h, SNAPSHOT_PATHS, units=SNAPSHOT_UNITS)) for name, h in hosts.items())
    for name in hosts:
        assert after[name] == before[name], name
    # And the federation still routes as before.
    _wait_for_federation(edge_addresses, node_addresses)


def test_check_mode_converge_changes_nothing(edge_addresses, node_addresses):
    output = lib.check_converge_changes_nothing(TOPOLOGY_HOSTS)
    # The planner warns about what signatures cannot protect here (the plan's warnings).
    flat = ' '.join(output.split())
    for warning in (
            'host federation-core: uwsgi_router_instances[0] (router core) takes unsigned subscriptions on '
            '172.28.4.10:2626',
            'its edges edge-a, edge-b forward every packet they receive',
            'host federation-edge-a: uwsgi_router_instances[0].resubscribe_to (router edge-a): uWSGI 2.0 forwards '
            'every subscription packet this edge receives to core unsigned',
            'host federation-edge-b: uwsgi_router_instances[0].resubscribe_to (router edge-b): uWSGI 2.0 forwards '
            'every subscription packet this edge receives to core unsigned'):
        assert warning in flat, (warning, output[:6000])
    # And the federation is still whole.
    _wait_for_federation(edge_addresses, node_addresses)
