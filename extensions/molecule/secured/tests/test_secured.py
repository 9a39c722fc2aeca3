# -*- coding: utf-8 -*-
"""Scenario secured: signed subscriptions, rogue subscribers, key rotation under load.

What the router knows (its stats server: only the two signing nodes in its pools, never a
rogue's address), what a client sees (answers only from app1 and app2), what the rogues see
(their listener on the port they announce never gets a connection), what the router logs
(uWSGI's replay protection: the sign tolerance window for a new node, the per-node unix_check
for a known one), and a rotation of app.test's key pair under a bounded load.

The rogues run rogue.py (this directory), copied into their containers: it builds uWSGI 2.0's
subscription datagram with the standard library and signs it with openssl.
"""

import base64
import os
import re
import shlex
import time

import pytest

import topology_testlib as lib

ROUTER = 'secured-router'
NODES = {'secured-node1': 'app1', 'secured-node2': 'app2'}
CLIENT = 'secured-client'
ROGUES = {'unsigned': 'secured-rogue-unsigned', 'foreign': 'secured-rogue-foreign', 'replay': 'secured-rogue-replay'}
KEY = 'app.test'
FOREIGN_KEY = 'other.test'
ROGUE_PORT = 3031
EMPEROR_UNIT = lib.EMPEROR_UNIT
ROGUE_SCRIPT = '/root/rogue.py'
ROGUE_LOG = '/root/connections.log'
LOAD_OUT = '/root/load.out'
LOAD_STOP = '/root/load.stop'
LOAD_DONE = '/root/load.done'
SNIFFED = 'invalid (sniffed ?) packet sent for slot: %s node: %s unix_check: %d'

testinfra_hosts = [ROUTER]


def put_file(target, path, content, mode='0600'):
    """Write ``content`` (bytes) to ``path`` on a container (through its shell, base64)."""
    encoded = base64.b64encode(content).decode('ascii')
    result = target.run('echo %s | base64 -d > %s && chmod %s %s' % (encoded, shlex.quote(path), mode, shlex.quote(path)))
    assert result.rc == 0, result.stderr


def rogue_send(name, key, address, sign=None, unix=None, count=1, interval=0.5):
    """Send ``count`` identical subscription datagrams from rogue ``name``; returns their unix value."""
    cmd = 'python3 %s send %s %s %s --count %d --interval %s' % (
        ROGUE_SCRIPT, shlex.quote(router_subscription_address()), shlex.quote(key), shlex.quote(address), count, interval)
    if sign:
        cmd += ' --sign %s' % shlex.quote(sign)
    if unix is not None:
        cmd += ' --unix %d' % unix
    result = lib.host(name).run(cmd)
    assert result.rc == 0, (name, result.stdout, result.stderr)
    return int(result.stdout.strip())


def router_instance():
    instances = lib.host_vars(ROUTER)['uwsgi_router_instances']
    assert len(instances) == 1, instances
    return instances[0]


def router_address():
    return lib.host_vars(ROUTER)['uwsgi_topology_advertise_address']


def router_subscription_address():
    return '%s:%d' % (router_address(), router_instance()['subscription_port'])


def stats_address():
    return '127.0.0.1:%d' % router_instance()['stats_port']


def node_addresses():
    """{key: ['ip:port', ...]} of the signing nodes, from the inventory."""
    pools = {}
    for name in NODES:
        variables = lib.host_vars(name)
        for node in variables['uwsgi_node_instances']:
            for sub in node['subscriptions']:
                pools.setdefault(sub['key'], []).append('%s:%d' % (variables['uwsgi_topology_advertise_address'], node['port']))
    return dict((key, sorted(addresses)) for key, addresses in pools.items())


def rogue_address(name):
    return '%s:%d' % (lib.host_vars(ROGUES[name])['uwsgi_topology_advertise_address'], ROGUE_PORT)


def key_store():
    return lib.host_vars(ROUTER)['keys_store_dir']


def wait_for_log(router, since, text, timeout=15):
    """Wait until ``text`` is in the router's journal since ``since``; returns the journal."""
    deadline = time.time() + timeout
    while True:
        log = lib.emperor_journal(router, since)
        if text in log or time.time() > deadline:
            return log
        time.sleep(1)


def sign_tolerance(router):
    """subscriptions-sign-check-tolerance of the router's vassal file."""
    result = router.run('cat /var/lib/uwsgi-topology/vassals/*.router.topology.ini')
    match = re.search(r'^subscriptions-sign-check-tolerance = (\d+)$', result.stdout, re.M)
    assert match, result.stdout
    return int(match.group(1))


def assert_no_rogue(router, rounds=3):
    """The pools, sampled ``rounds`` times a second apart, hold exactly the signing nodes."""
    rogue_ips = set(lib.host_vars(name)['uwsgi_topology_advertise_address'] for name in ROGUES.values())
    expected = node_addresses()
    for _round in range(rounds):
        pools = lib.router_pools(router, stats_address())
        print('pools: %s' % dict((key, sorted(n['name'] for n in pool['nodes'])) for key, pool in pools.items()))
        assert sorted(pools) == sorted(expected), pools
        for key, pool in pools.items():
            names = sorted(node['name'] for node in pool['nodes'])
            assert not [n for n in names if n.split(':')[0] in rogue_ips], (key, names)
            assert names == expected[key], (key, names)
        time.sleep(1)


def assert_client_sees_only_nodes(count=10):
    answers = lib.http_requests(lib.host(CLIENT), router_address(), router_instance()['port'], KEY, count=count)
    print('answers with Host %s: %s' % (KEY, answers))
    assert [a[0] for a in answers] == [200] * count, answers
    assert set(a[1] for a in answers) == set(NODES.values()), answers


def assert_listener_untouched(name):
    target = lib.host(ROGUES[name])
    listening = target.run('ss -Hltn sport = :%d' % ROGUE_PORT)
    assert str(ROGUE_PORT) in listening.stdout, (name, 'the listener is not listening', listening.stdout)
    log = target.run('cat %s' % ROGUE_LOG)
    assert log.rc == 0, (name, log.stderr)
    assert log.stdout.strip() == '', (name, 'the rogue got connections', log.stdout)


@pytest.fixture(scope='module')
def router():
    return lib.host(ROUTER)


@pytest.fixture(scope='module')
def rogues():
    """rogue.py and a listener on ROGUE_PORT (at most 20 min) in every rogue container."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rogue.py'), 'rb') as stream:
        script = stream.read()
    for name in ROGUES.values():
        target = lib.host(name)
        put_file(target, ROGUE_SCRIPT, script, mode='0755')
        # A listener of an earlier verify (its pid in LOGFILE.pid) goes first.
        target.run('[ -s {0}.pid ] && kill "$(cat {0}.pid)"; sleep 1; rm -f {0} {0}.pid'.format(ROGUE_LOG))
        started = target.run('setsid nohup python3 %s listen %d %s 1200 >/dev/null 2>&1 < /dev/null &'
                             % (ROGUE_SCRIPT, ROGUE_PORT, ROGUE_LOG))
        assert started.rc == 0, (name, started.stderr)
    for name in ROGUES.values():
        target = lib.host(name)
        for _attempt in range(20):
            if target.file(ROGUE_LOG + '.pid').exists:
                break
            time.sleep(0.5)
        # The listener started here is the one on the port (not a leftover).
        pid = target.file(ROGUE_LOG + '.pid').content_string.strip()
        listening = target.run('ss -Hltnp sport = :%d' % ROGUE_PORT).stdout
        assert 'pid=%s,' % pid in listening, (name, pid, listening)
    return ROGUES


def test_emperor_runs_under_systemd_on_every_host():
    for name in [ROUTER] + sorted(NODES):
        service = lib.host(name).service(EMPEROR_UNIT)
        assert service.is_running, name
        assert service.is_enabled, name


def test_router_checks_signatures_with_the_public_keys_placed(router):
    vassal = router.run('cat /var/lib/uwsgi-topology/vassals/*.router.topology.ini').stdout
    assert re.search(r'^subscriptions-sign-check = SHA256:/\S+$', vassal, re.M), vassal
    pubkey_dir = re.search(r'^subscriptions-sign-check = SHA256:(\S+)$', vassal, re.M).group(1)
    placed = router.run('ls %s' % shlex.quote(pubkey_dir)).stdout.split()
    assert sorted(placed) == sorted('%s.pem' % key for key in node_addresses()), placed
    for key in node_addresses():
        with open(os.path.join(key_store(), 'signing', 'public', key + '.pem'), 'rb') as stream:
            assert router.file('%s/%s.pem' % (pubkey_dir, key)).content == stream.read(), key


def test_pools_hold_the_signing_nodes(router):
    pools = lib.router_pools(router, stats_address(), wait_for=node_addresses(), wait_timeout=30)
    assert sorted(pools) == sorted(node_addresses()), pools
    for key, pool in pools.items():
        for node in pool['nodes']:
            assert node['death_mark'] == 0, (key, node)


def test_client_reaches_both_signing_nodes():
    assert_client_sees_only_nodes(count=10)


def test_unsigned_rogue_is_refused(router, rogues):
    rogue_send(rogues['unsigned'], KEY, rogue_address('unsigned'), count=4)
    # A brand-new key with no public key on the router cannot be created unsigned either.
    rogue_send(rogues['unsigned'], 'rogue.test', rogue_address('unsigned'), count=2)
    assert_no_rogue(router)
    assert_client_sees_only_nodes(count=10)
    assert_listener_untouched('unsigned')


def test_rogue_signing_with_another_domains_key_is_refused(router, rogues):
    with open(os.path.join(key_store(), 'signing', FOREIGN_KEY + '.pem'), 'rb') as stream:
        put_file(lib.host(rogues['foreign']), '/root/foreign.pem', stream.read())
    # A fresh, correctly built packet for app.test, signed with other.test's private key.
    rogue_send(rogues['foreign'], KEY, rogue_address('foreign'), sign='/root/foreign.pem', count=4)
    assert_no_rogue(router)
    assert_client_sees_only_nodes(count=10)
    assert_listener_untouched('foreign')


def test_replayed_packets_and_what_uwsgi_protects(router, rogues):
    """uWSGI 2.0's replay protection, as core/subscription.c has it:
    - a NEW node needs unix >= now - subscriptions-sign-check-tolerance (the router's window);
    - a KNOWN node needs unix > its unix_check, which is set once, when the node was created.
    A packet the router logs as "invalid (sniffed ?)" passed the signature check first (the
    check comes before both time checks), so these lines also prove the packets are valid."""
    target = lib.host(rogues['replay'])
    with open(os.path.join(key_store(), 'signing', KEY + '.pem'), 'rb') as stream:
        put_file(target, '/root/app.pem', stream.read())
    tolerance = sign_tolerance(router)
    since = int(time.time()) - 1

    # 1. Signed with the real key, for the rogue's own address, but older than the window.
    old = int(time.time()) - tolerance - 120
    rogue_send(rogues['replay'], KEY, rogue_address('replay'), sign='/root/app.pem', unix=old, count=3)
    line = SNIFFED % (KEY, rogue_address('replay'), old)
    log = wait_for_log(router, since, line)
    assert line in log, log[-3000:]

    # 2. A known node's address (node1) with a unix older than the node itself: refused by unix_check.
    node1 = node_addresses()[KEY][0]
    rogue_send(rogues['replay'], KEY, node1, sign='/root/app.pem', unix=1000, count=2)
    line = SNIFFED % (KEY, node1, 1000)
    log = wait_for_log(router, since, line)
    assert line in log, log[-3000:]

    # 3. The weak spot: unix_check is not advanced by refreshes, so one packet for node1 captured
    # after node1 joined is accepted again and again (it only keeps node1 alive: the address in
    # the signed packet is node1's, never the rogue's).
    captured = rogue_send(rogues['replay'], KEY, node1, sign='/root/app.pem', unix=int(time.time()) - 5, count=3)
    time.sleep(2)
    log = lib.emperor_journal(router, since)
    assert SNIFFED % (KEY, node1, captured) not in log, log[-3000:]
    print('router log since the replays:\n%s' % log)

    assert_no_rogue(router)
    assert_client_sees_only_nodes(count=10)
    assert_listener_untouched('replay')


def start_load(client, count, pause):
    """Start at most ``count`` sequential requests (Host: app.test, 3 s each at most, ``pause`` s
    apart) in the background on the client; they stop early once LOAD_STOP exists, and after
    10 minutes in any case. One line per request in LOAD_OUT: epoch, body, status."""
    if count < 1 or count > 1000:
        raise ValueError('count must be in 1..1000 (bounded load), got %r' % count)
    url = 'http://%s:%d/' % (router_address(), router_instance()['port'])
    loop = ('for i in $(seq %d); do [ -e %s ] && break; '
            'printf "%%s\\t" "$(date +%%s.%%N)" >> %s; '
            'curl -s --max-time 3 -o - -w "\\t%%{http_code}\\n" -H %s %s >> %s; '
            'sleep %s; done; touch %s'
            % (count, LOAD_STOP, LOAD_OUT, shlex.quote('Host: ' + KEY), shlex.quote(url), LOAD_OUT, pause, LOAD_DONE))
    client.run('rm -f %s %s %s' % (LOAD_OUT, LOAD_STOP, LOAD_DONE))
    started = client.run('setsid nohup timeout 600 bash -c %s >/dev/null 2>&1 < /dev/null &' % shlex.quote(loop))
    assert started.rc == 0, started.stderr


def stop_load(client):
    """Stop the load, wait for its end; returns [(epoch, status, body)]."""
    client.run('touch %s' % LOAD_STOP)
    for _attempt in range(30):
        if client.file(LOAD_DONE).exists:
            break
        time.sleep(1)
    assert client.file(LOAD_DONE).exists, 'the load did not stop'
    answers = []
    for line in client.file(LOAD_OUT).content_string.splitlines():
        fields = line.split('\t')
        assert len(fields) == 3, line
        answers.append((float(fields[0]), int(fields[2]), fields[1]))
    return answers


def test_check_mode_converge_changes_nothing(router):
    """A --check --diff converge of the signed topology changes nothing (keys, public keys,
    vassals, the Emperor), and the pools still hold exactly the signing nodes."""
    lib.check_converge_changes_nothing([ROUTER] + sorted(NODES))
    assert_no_rogue(router)
    assert_client_sees_only_nodes(count=10)


def test_key_rotation_loses_no_request(router, rogues):
    """app.test's key pair is rotated the way a user does it (its pair removed from the
    controller's key store, converge again) while a bounded load runs from the client."""
    store = key_store()
    private = os.path.join(store, 'signing', KEY + '.pem')
    public = os.path.join(store, 'signing', 'public', KEY + '.pem')
    with open(private, 'rb') as stream:
        old_private = stream.read()
    with open(public, 'rb') as stream:
        old_public = stream.read()
    pubkey_on_router = '/var/lib/uwsgi-topology/pubkeys/%s/%s.pem' % (router_instance()['name'], KEY)
    assert router.file(pubkey_on_router).content == old_public
    client = lib.host(CLIENT)
    lib.router_pools(router, stats_address(), wait_for=node_addresses(), wait_timeout=30)

    start_load(client, count=1000, pause=0.2)
    time.sleep(3)
    since = int(time.time())
    os.remove(private)
    os.remove(public)
    rc, output, recap = lib.run_converge()
    assert rc == 0, output[-4000:]
    converged = time.time()
    with open(public, 'rb') as stream:
        new_public = stream.read()
    assert new_public != old_public
    assert router.file(pubkey_on_router).content == new_public

    # The new key is in use once an announce signed with it is accepted: wait until the router
    # stats show both nodes refreshed after the converge, then let the load run a little more.
    deadline = time.time() + 60
    while True:
        pools = lib.router_pools(router, stats_address())
        nodes = pools.get(KEY, {}).get('nodes', [])
        fresh = [n for n in nodes if n['last_check'] > converged + 1 and not n['death_mark']]
        if len(fresh) == len(node_addresses()[KEY]) or time.time() > deadline:
            break
        time.sleep(1)
    time.sleep(5)
    answers = stop_load(client)
    log = lib.emperor_journal(router, since)
    print('router log during the rotation:\n%s' % log)
    failed = [a for a in answers if a[1] != 200 or a[2] not in NODES.values()]
    during = [a for a in answers if since <= a[0] <= converged]
    print('rotation under load: %d requests, %d failed, %d during the converge (%.0f s), %d after it; failures: %s'
          % (len(answers), len(failed), len(during), converged - since, len([a for a in answers if a[0] > converged]), failed[:20]))
    assert len(fresh) == len(node_addresses()[KEY]), ('nodes not refreshed after the rotation', pools)
    # The pool was created again (that is when a 2.0 router reads a key's public key).
    assert 'new pool: %s' % KEY in log, log[-3000:]
    assert during, 'the load did not cover the converge'
    assert not failed, failed[:50]

    # The old private key is refused now: the same replay that passed the signature check with
    # the old key before (and got logged as sniffed) now fails it silently; the new key passes.
    target = lib.host(rogues['replay'])
    put_file(target, '/root/app-old.pem', old_private)
    with open(private, 'rb') as stream:
        put_file(target, '/root/app-new.pem', stream.read())
    node1 = node_addresses()[KEY][0]
    since = int(time.time()) - 1
    rogue_send(rogues['replay'], KEY, node1, sign='/root/app-old.pem', unix=1001)
    rogue_send(rogues['replay'], KEY, node1, sign='/root/app-new.pem', unix=1002)
    log = wait_for_log(router, since, SNIFFED % (KEY, node1, 1002))
    assert SNIFFED % (KEY, node1, 1002) in log, log[-3000:]
    assert SNIFFED % (KEY, node1, 1001) not in log, log[-3000:]
    # And a fresh announce for the rogue's address signed with the old key gets nowhere.
    rogue_send(rogues['replay'], KEY, rogue_address('replay'), sign='/root/app-old.pem', count=3)
    assert_no_rogue(router)
    assert_listener_untouched('replay')
