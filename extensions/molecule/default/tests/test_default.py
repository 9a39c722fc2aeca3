# -*- coding: utf-8 -*-
"""Scenario default: an http router and two nodes in separate containers, one key.

What the router knows (its stats server: pool, nodes, weights, death marks), what a client
sees (requests with the key as Host alternate between the two nodes), and that a --check
converge reports nothing to change and changes nothing.
"""

import pytest

import topology_testlib as lib

ROUTER = 'default-router'
NODES = {'default-node1': 'app1', 'default-node2': 'app2'}
CLIENT = 'default-client'
KEY = 'app.test'

# Every test picks its hosts itself (testinfra would otherwise run each test once per host).
testinfra_hosts = [ROUTER]


@pytest.fixture(scope='module')
def router():
    return lib.host(ROUTER)


@pytest.fixture(scope='module')
def router_instance():
    instances = lib.host_vars(ROUTER)['uwsgi_router_instances']
    assert len(instances) == 1, instances
    return instances[0]


@pytest.fixture(scope='module')
def node_addresses():
    """{'ip:port': instance name} of every node, from the inventory."""
    addresses = {}
    for name in NODES:
        variables = lib.host_vars(name)
        for node in variables['uwsgi_node_instances']:
            addresses['%s:%d' % (variables['uwsgi_topology_advertise_address'], node['port'])] = node['name']
    return addresses


@pytest.fixture(scope='module')
def stats(router_instance):
    return '127.0.0.1:%d' % router_instance['stats_port']


def test_emperor_runs_under_systemd_on_every_host():
    for name in [ROUTER] + sorted(NODES):
        service = lib.host(name).service('uwsgi-topology-emperor')
        assert service.is_running, name
        assert service.is_enabled, name


def test_router_listens(router, router_instance):
    address = lib.host_vars(ROUTER)['uwsgi_topology_advertise_address']
    assert router.socket('tcp://%s:%d' % (address, router_instance['port'])).is_listening
    assert router.socket('udp://%s:%d' % (address, router_instance['subscription_port'])).is_listening
    assert router.socket('tcp://127.0.0.1:%d' % router_instance['stats_port']).is_listening


def test_pool_holds_both_nodes_alive(router, stats, node_addresses):
    pools = lib.router_pools(router, stats, wait_for={KEY: sorted(node_addresses)}, wait_timeout=30)
    assert sorted(pools) == [KEY], pools
    nodes = dict((node['name'], node) for node in pools[KEY]['nodes'])
    assert sorted(nodes) == sorted(node_addresses)
    for address, node in sorted(nodes.items()):
        assert node['death_mark'] == 0, (address, node)
        assert node['weight'] == 1, (address, node)


def test_requests_alternate_between_the_nodes(router, stats, router_instance, node_addresses):
    lib.router_pools(router, stats, wait_for={KEY: sorted(node_addresses)}, wait_timeout=30)
    before = lib.router_pools(router, stats)[KEY]
    address = lib.host_vars(ROUTER)['uwsgi_topology_advertise_address']
    answers = lib.http_requests(lib.host(CLIENT), address, router_instance['port'], KEY, count=10)
    print('answers through %s:%d with Host %s: %s' % (address, router_instance['port'], KEY, answers))
    statuses = [answer[0] for answer in answers]
    bodies = [answer[1] for answer in answers]
    assert statuses == [200] * len(answers), answers
    assert set(bodies) == set(node_addresses.values()), bodies
    # Round robin: no node answers twice in a row.
    assert all(a != b for a, b in zip(bodies, bodies[1:])), bodies
    # The router counted them: 5 more requests on each node.
    after = lib.router_pools(router, stats)[KEY]
    counts = dict((n['name'], n['requests']) for n in after['nodes'])
    for node in before['nodes']:
        assert counts[node['name']] - node['requests'] == 5, (before, after)


def test_unknown_key_gets_no_answer_from_a_node(router_instance):
    address = lib.host_vars(ROUTER)['uwsgi_topology_advertise_address']
    answers = lib.http_requests(lib.host(CLIENT), address, router_instance['port'], 'unknown.test', count=2)
    # uWSGI's http router closes the connection (curl: status 000) or answers an error.
    assert 200 not in [answer[0] for answer in answers], answers
    assert not set(answer[1] for answer in answers) & set(NODES.values()), answers


def test_check_mode_converge_changes_nothing(router, stats, node_addresses):
    lib.check_converge_changes_nothing([ROUTER] + sorted(NODES))
    # And the router still has both nodes.
    lib.router_pools(router, stats, wait_for={KEY: sorted(node_addresses)}, wait_timeout=30)
