# -*- coding: utf-8 -*-
"""Scenario routers: every router type and forwarder besides the http router of `default`.

Each router is proven twice: by what it knows (its stats server, read on the router's host)
and by a real exchange from the client container (or, for tuntap, between the two containers
with tun devices). The clients are in wire.py, sent to the containers as source.

  fastrouter   subscription pool; requests in the uwsgi protocol with the key as HTTP_HOST
  rawrouter    subscription pool under its socket address; uwsgi bytes passed through as they are
  sslrouter    subscription pool with SNI; TLS with SNI = key, certificate of the key (sent with
               the subscription) verified against the collection's CA, uwsgi inside
  forwarders   http routers with use-base, use-pattern, use-socket, use-code-string and
               use-cache: each routes to the node its forwarder names; the subscription-server
               forwarder is the one of the three routers above
  forkpty      a shell session in raw and in uwsgi-framed mode (window size packets)
  tuntap       ICMP across the tuntap router in both directions, its firewall, its peer table
"""

import json
import os
import re
import shlex

import pytest

import topology_testlib as lib

ROUTER = 'routers-router'
NODE1, NODE2 = 'routers-node1', 'routers-node2'
CLIENT = 'routers-client'
NODES = {NODE1: 'app1', NODE2: 'app2'}

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'wire.py'), encoding='utf-8') as _stream:
    WIRE = _stream.read()

# Every test picks its hosts itself (testinfra would otherwise run each test once per host).
testinfra_hosts = [ROUTER]


def wire(target, *args):
    """Run wire.py in container ``target`` (a testinfra host) and return its JSON answer."""
    out = target.run('python3 -c %s %s' % (shlex.quote(WIRE), ' '.join(shlex.quote(str(a)) for a in args)))
    assert out.rc == 0, (args, out.stdout, out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def router_info(router_host, stats):
    """uwsgi.topology.router_info on the router's host: router name, sockets, pools, raw document."""
    result = router_host.ansible('uwsgi.topology.router_info', json.dumps({'address': stats}), check=False)
    assert not result.get('failed'), (stats, result)
    return result


@pytest.fixture(scope='module')
def router():
    return lib.host(ROUTER)


@pytest.fixture(scope='module')
def client():
    return lib.host(CLIENT)


@pytest.fixture(scope='module')
def router_vars():
    return lib.host_vars(ROUTER)


@pytest.fixture(scope='module')
def instances(router_vars):
    return dict((item['name'], item) for item in router_vars['uwsgi_router_instances'])


@pytest.fixture(scope='module')
def vassals(router_vars):
    return dict((item['name'], item['spec']) for item in router_vars['routers_scenario_vassals'])


@pytest.fixture(scope='module')
def address(router_vars):
    return router_vars['uwsgi_topology_advertise_address']


@pytest.fixture(scope='module')
def node_addresses():
    """{'ip:port': node name} of the two application nodes."""
    addresses = {}
    for name in NODES:
        variables = lib.host_vars(name)
        for node in variables['uwsgi_node_instances']:
            addresses['%s:%d' % (variables['uwsgi_topology_advertise_address'], node['port'])] = node['name']
    return addresses


def stats_of(instance):
    return '127.0.0.1:%d' % instance['stats_port']


def port_of(bind):
    return int(bind.rsplit(':', 1)[1])


def vassal_router(vassals, name, index=0):
    return vassals[name]['routers'][index]


def bodies_of(answers):
    return [answer['body'] for answer in answers]


def check_pool(router_host, instance, key, node_addresses):
    """The router's pool of ``key`` holds both nodes, alive, weight 1; returns the pool."""
    pools = lib.router_pools(router_host, stats_of(instance), wait_for={key: sorted(node_addresses)}, wait_timeout=30)
    assert sorted(pools) == [key], pools
    nodes = dict((node['name'], node) for node in pools[key]['nodes'])
    assert sorted(nodes) == sorted(node_addresses), pools[key]
    for name, node in sorted(nodes.items()):
        assert node['death_mark'] == 0, (name, node)
        assert node['weight'] == 1, (name, node)
    return pools[key]


def check_alternating(answers, key_header):
    """Every answer is a 200 of one of the two nodes, in turn, echoing ``key_header`` as its Host."""
    assert [answer['status'] for answer in answers] == [200] * len(answers), answers
    bodies = bodies_of(answers)
    assert set(bodies) == set(NODES.values()), bodies
    assert all(a != b for a, b in zip(bodies, bodies[1:])), bodies
    assert set(answer['headers'].get('x-topology-key') for answer in answers) == {key_header}, answers


def requests_by_node(router_host, instance, key):
    pool = lib.router_pools(router_host, stats_of(instance))[key]
    return dict((node['name'], node['requests']) for node in pool['nodes'])


def test_emperor_runs_under_systemd_on_every_host():
    for name in [ROUTER, NODE1, NODE2]:
        service = lib.host(name).service('uwsgi-topology-emperor')
        assert service.is_running, name
        assert service.is_enabled, name


# ------------------------------------------------------------------ fastrouter

def test_fastrouter_pool_holds_both_nodes(router, instances, node_addresses):
    check_pool(router, instances['fast'], 'fast.test', node_addresses)
    info = router_info(router, stats_of(instances['fast']))
    assert info['router'] == 'fastrouter', info['router']


def test_fastrouter_routes_uwsgi_requests_by_http_host(router, client, instances, address):
    fast = instances['fast']
    before = requests_by_node(router, fast, 'fast.test')
    answers = wire(client, 'uwsgi', address, fast['port'], 'fast.test', 6)
    print('fastrouter answers: %s' % bodies_of(answers))
    check_alternating(answers, 'fast.test')
    after = requests_by_node(router, fast, 'fast.test')
    for node, count in before.items():
        assert after[node] - count == 3, (before, after)


def test_fastrouter_unknown_key_reaches_no_node(client, instances, address):
    answers = wire(client, 'uwsgi', address, instances['fast']['port'], 'unknown.test', 2)
    assert not set(bodies_of(answers)) & set(NODES.values()), answers
    assert 200 not in [answer['status'] for answer in answers], answers


# ------------------------------------------------------------------ rawrouter

def test_rawrouter_pool_is_keyed_by_its_socket_address(router, instances, address, node_addresses):
    raw = instances['raw']
    key = '%s:%d' % (address, raw['port'])
    check_pool(router, raw, key, node_addresses)
    info = router_info(router, stats_of(raw))
    assert info['router'] == 'rawrouter', info['router']
    assert key in info['sockets'], info['sockets']


def test_rawrouter_passes_tcp_through(router, client, instances, address):
    raw = instances['raw']
    key = '%s:%d' % (address, raw['port'])
    before = requests_by_node(router, raw, key)
    # The bytes are a uwsgi request whose Host is not the router's key: the rawrouter reads
    # nothing of it, the node gets it as it was sent and echoes that Host.
    answers = wire(client, 'uwsgi', address, raw['port'], 'raw-passthrough.test', 4)
    print('rawrouter answers: %s' % bodies_of(answers))
    check_alternating(answers, 'raw-passthrough.test')
    after = requests_by_node(router, raw, key)
    for node, count in before.items():
        assert after[node] - count == 2, (before, after)


# ------------------------------------------------------------------ sslrouter

@pytest.fixture(scope='module')
def client_ca(router, client):
    """The collection's CA (placed on the router host by uwsgi.topology.keys), copied to the client."""
    pem = router.file('/var/lib/uwsgi-topology/certs/topology-ca.pem').content_string
    assert 'BEGIN CERTIFICATE' in pem
    path = '/tmp/routers-topology-ca.pem'
    out = client.run('cat > %s <<\'EOF\'\n%s\nEOF' % (path, pem.strip()))
    assert out.rc == 0, out.stderr
    return path


def test_sslrouter_pool_has_sni(router, instances, node_addresses):
    pool = check_pool(router, instances['tls'], 'secure.test', node_addresses)
    assert pool.get('sni_enabled') is True, pool
    info = router_info(router, stats_of(instances['tls']))
    assert info['router'] == 'sslrouter', info['router']


def test_sslrouter_routes_tls_by_sni(client, client_ca, instances, address):
    tls = instances['tls']
    # TLS with SNI secure.test, verified against the CA with the host name checked: the
    # router presents the certificate the nodes sent with their subscriptions.
    answers = wire(client, 'uwsgi', address, tls['port'], 'secure.test', 4, client_ca)
    print('sslrouter answers: %s' % bodies_of(answers))
    assert [answer['error'] for answer in answers] == [None] * 4, answers
    assert set(answer['certificate_cn'] for answer in answers) == {'secure.test'}, answers
    check_alternating(answers, 'secure.test')


# ------------------------------------------------------------------ forwarders without subscriptions

FORWARDER_CASES = [
    # vassal, Host header, expected bodies of 4 requests (None: the node of the cache entry, in turn)
    ('fwd-base', 'base.test', ['local'] * 4),
    ('fwd-pattern', 'pattern.test', ['local'] * 4),
    ('fwd-socket', 'any-key.test', ['fwd-socket'] * 4),
    ('fwd-code', 'code1.test', ['app1'] * 4),
    ('fwd-code', 'code2.test', ['app2'] * 4),
    ('fwd-cache', 'cache.test', None),
    # No node for these keys: no socket of that name, route() returns None, no cache entry.
    ('fwd-base', 'missing.test', []),
    ('fwd-code', 'code3.test', []),
    ('fwd-cache', 'missing.test', []),
]

_CURL_LINE = re.compile(r'^(?P<case>\d+) (?P<code>\d{3}) (?P<body>.*)$')


def http_batch(client, cases):
    """One client run for many requests: ``cases`` is a list of (host, port, Host header, count);
    returns, per case, the list of (status, body). Bounded: at most 50 requests, 5 s each."""
    assert sum(case[3] for case in cases) <= 50
    script = []
    for i, (host, port, key, count) in enumerate(cases):
        for _j in range(count):
            script.append('printf "%d "; curl -s --max-time 5 -o /tmp/routers-body -w "%%{http_code} " -H %s %s; '
                          'cat /tmp/routers-body 2>/dev/null; rm -f /tmp/routers-body; echo'
                          % (i, shlex.quote('Host: ' + key), shlex.quote('http://%s:%d/' % (host, port))))
    out = client.run('\n'.join(script))
    answers = [[] for _case in cases]
    for line in out.stdout.splitlines():
        match = _CURL_LINE.match(line)
        if match:
            answers[int(match.group('case'))].append((int(match.group('code')), match.group('body')))
    assert [len(a) for a in answers] == [case[3] for case in cases], (out.stdout, out.stderr)
    return answers


def test_forwarder_routers_know_no_subscription(router, vassals):
    """What each forwarder's router knows: an http router on its socket, no subscription pool
    (the node comes from the forwarder)."""
    for name in sorted(set(case[0] for case in FORWARDER_CASES)):
        item = vassal_router(vassals, name)
        info = router_info(router, item['basic_params']['stats_server'])
        assert info['router'] == 'http', (name, info)
        assert info['sockets'] == [item['bind']], (name, info['sockets'])
        assert info['pools'] == [], (name, info['pools'])


def test_forwarders_route_each_key_to_their_node(client, vassals):
    cases = []
    for name, key, expected in FORWARDER_CASES:
        host, port = vassal_router(vassals, name)['bind'].rsplit(':', 1)
        cases.append((host, int(port), key, 4 if expected is None else max(len(expected), 1)))
    answers = http_batch(client, cases)
    for (name, key, expected), got in zip(FORWARDER_CASES, answers):
        print('%s with Host %s: %s' % (name, key, got))
        bodies = [answer[1] for answer in got]
        if expected == []:
            # uWSGI's http router closes the connection (curl: 000) or answers an error.
            assert 200 not in [answer[0] for answer in got], (name, key, got)
            assert not set(bodies) & {'local', 'app1', 'app2', 'fwd-socket'}, (name, key, got)
            continue
        assert [answer[0] for answer in got] == [200] * len(got), (name, key, got)
        if expected is None:
            # The cache holds "node1|node2": the router takes the n-th by the key's hits.
            assert set(bodies) == set(NODES.values()), (name, key, bodies)
            assert all(a != b for a, b in zip(bodies, bodies[1:])), (name, key, bodies)
        else:
            assert bodies == expected, (name, key, bodies)


# ------------------------------------------------------------------ forkpty router

def test_forkpty_router_stats(router, vassals):
    raw_mode, framed = vassal_router(vassals, 'pty', 0), vassal_router(vassals, 'pty', 1)
    info = router_info(router, raw_mode['basic_params']['stats_server'])
    assert info['router'] == 'forkptyrouter', info
    assert sorted(info['sockets']) == sorted([raw_mode['bind'], framed['bind']]), info['sockets']


def test_forkpty_router_runs_a_shell(client, vassals):
    item = vassal_router(vassals, 'pty', 0)
    host, port = item['bind'].rsplit(':', 1)
    session = wire(client, 'pty', host, port, 'raw', 0, 0)
    print(session['output'])
    lines = [line.strip() for line in session['output'].splitlines()]
    # Echoed input shows "TOKEN-$((6*7))"; only the shell's output has the computed value.
    # The shell's prompt ("# ") may precede an output line.
    lines = [line[2:] if line.startswith('# ') else line for line in lines]
    assert 'TOKEN-42' in lines, session
    assert ROUTER in lines, session
    assert any(line.startswith('/dev/pts/') for line in lines), session
    assert '%d %d' % (item['window_params']['rows'], item['window_params']['cols']) in lines, session
    assert session['closed'], 'the session did not end with the shell: %r' % session


def test_forkpty_urouter_takes_uwsgi_framed_input_and_window_size(client, vassals):
    item = vassal_router(vassals, 'pty', 1)
    assert item['uwsgi_protocol'] is True
    host, port = item['bind'].rsplit(':', 1)
    session = wire(client, 'pty', host, port, 'uwsgi', 33, 111)
    print(session['output'])
    lines = [line.strip() for line in session['output'].splitlines()]
    lines = [line[2:] if line.startswith('# ') else line for line in lines]
    assert '33 111' in lines, session
    assert 'TOKEN-42' in lines, session
    assert session['closed'], session


# ------------------------------------------------------------------ tuntap router

def tuntap_stats(router_host, vassals):
    item = vassal_router(vassals, 'tuntap')
    host, port = item['stats_server'].rsplit(':', 1)
    text = wire(router_host, 'stats', host, port)['text']
    return json.loads(text)


def test_tuntap_ping_both_ways_and_the_router_counts_it(router, vassals):
    peer = lib.host(NODE1)
    # The peer speaks first: the router learns the peer's address from its first packet.
    # The peer's vassal may still be waiting for the router's socket (the Emperor restarts
    # it until it connects): up to 60 s for a first answer.
    forward = wire(peer, 'ping', '10.20.0.1', 3, 60)
    forward.pop('waited')
    stats_before = tuntap_stats(router, vassals)
    backward = wire(router, 'ping', '10.20.0.2', 3)
    stats_after = tuntap_stats(router, vassals)
    print('peer -> router %s, router -> peer %s; peers %s' % (forward, backward, stats_after['peers']))
    assert forward == {'sent': 3, 'received': 3}, forward
    assert backward == {'sent': 3, 'received': 3}, backward
    # Registered peers (a peer that has connected but sent nothing yet has no address).
    peers = dict((p['addr'], p) for p in stats_after['peers'] if p['addr'])
    assert sorted(peers) == ['10.20.0.2'], stats_after
    before = dict((p['addr'], p) for p in stats_before['peers'])['10.20.0.2']
    # Three echo replies of the peer came in through its socket, three requests went out.
    assert peers['10.20.0.2']['rx'] > before['rx'], (before, peers)
    assert peers['10.20.0.2']['tx'] > before['tx'], (before, peers)


def test_tuntap_firewall_drops_what_it_denies():
    peer = lib.host(NODE1)
    assert wire(peer, 'ping', '10.20.0.254', 2) == {'sent': 2, 'received': 0}
    # The same peer still reaches the router's other address.
    assert wire(peer, 'ping', '10.20.0.1', 1) == {'sent': 1, 'received': 1}


def test_tuntap_devices_carry_their_addresses():
    for name, address in ((ROUTER, '10.20.0.1/24'), (NODE1, '10.20.0.2/24')):
        out = lib.host(name).run('ip -o -4 addr show dev tuntap0')
        assert out.rc == 0 and address in out.stdout, (name, out.stdout, out.stderr)


# ------------------------------------------------------------------ check mode

def test_check_mode_converge_changes_nothing(router, instances, node_addresses):
    lib.check_converge_changes_nothing([ROUTER, NODE1, NODE2])
    check_pool(router, instances['fast'], 'fast.test', node_addresses)
