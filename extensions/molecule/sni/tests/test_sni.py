# -*- coding: utf-8 -*-
"""Scenario sni: an https router whose per-key certificates travel in the subscriptions.

What the router knows (its stats server: pools, nodes, weights, death marks, which keys have an
SNI context), what a client sees (the certificate presented for each server name, checked
against the files of the controller's key store and of the router's host and verified with the
bundled CA; real HTTPS requests with each name reaching that key's nodes), that a --check
converge changes nothing, and that a rotated certificate is presented after a converge while
the other key keeps its own. The tests run in file order; the rotation comes last.
"""

import hashlib
import os
import re
import shlex
import ssl
import time

import pytest

import topology_testlib as lib

ROUTER = 'sni-router'
NODES = ('sni-node1', 'sni-node2')
CLIENT = 'sni-client'
# Keys whose subscriptions carry a certificate (sni: true), and the one that does not.
SNI_KEYS = ('api.test', 'app.test')
PLAIN_KEY = 'plain.test'
# The nodes (by name, as the demo application answers) expected behind each key.
EXPECTED = {'app.test': {'app1', 'app2'}, 'api.test': {'api1'}, PLAIN_KEY: {'api1'}}
# The collection's default prefix on every host (the inventory sets none).
CERTS = '/var/lib/uwsgi-topology/certs'
VASSALS = '/var/lib/uwsgi-topology/vassals'
# Where the verifier puts the bundled CA on the client container.
CLIENT_CA = '/tmp/sni-topology-ca.pem'

# Every test picks its hosts itself (testinfra would otherwise run each test once per host).
testinfra_hosts = [ROUTER]


@pytest.fixture(scope='module')
def router():
    return lib.host(ROUTER)


@pytest.fixture(scope='module')
def client():
    return lib.host(CLIENT)


@pytest.fixture(scope='module')
def router_instance():
    instances = lib.host_vars(ROUTER)['uwsgi_router_instances']
    assert len(instances) == 1, instances
    assert instances[0]['type'] == 'https', instances
    return instances[0]


@pytest.fixture(scope='module')
def router_address():
    return lib.host_vars(ROUTER)['uwsgi_topology_advertise_address']


@pytest.fixture(scope='module')
def stats(router_instance):
    return '127.0.0.1:%d' % router_instance['stats_port']


@pytest.fixture(scope='module')
def keystore():
    path = lib.host_vars(ROUTER)['keys_store_dir']
    assert os.path.isdir(path), path
    return path


@pytest.fixture(scope='module')
def expected_pools():
    """{key: ['ip:port', ...]} of every subscription in the inventory, and {'ip:port': name}."""
    pools, names = {}, {}
    for name in NODES:
        variables = lib.host_vars(name)
        for node in variables['uwsgi_node_instances']:
            address = '%s:%d' % (variables['uwsgi_topology_advertise_address'], node['port'])
            names[address] = node['name']
            for sub in node['subscriptions']:
                pools.setdefault(sub['key'], []).append(address)
    assert dict((k, set(names[a] for a in v)) for k, v in pools.items()) == EXPECTED, pools
    return dict((k, sorted(v)) for k, v in pools.items()), names


@pytest.fixture(scope='module')
def client_ca(client, keystore):
    """The bundled CA (from the controller's key store) on the client container."""
    with open(os.path.join(keystore, 'ca', 'ca.crt')) as handle:
        pem = handle.read()
    out = client.run('umask 022; printf %%s %s > %s' % (shlex.quote(pem), CLIENT_CA))
    assert out.rc == 0, out.stderr
    return CLIENT_CA


def fingerprint(pem):
    """sha256 of a PEM certificate's DER form, lowercase hex without colons."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def store_fingerprint(keystore, *parts):
    with open(os.path.join(keystore, *parts)) as handle:
        return fingerprint(handle.read())


def router_file_fingerprint(router, name):
    return fingerprint(router.file('%s/%s' % (CERTS, name)).content_string)


_FINGERPRINT = re.compile(r'^sha256 Fingerprint=(?P<fp>[0-9A-Fa-f:]+)$', re.M)
_SUBJECT = re.compile(r'^subject=(?P<subject>.*)$', re.M)
_VERIFY = re.compile(r'Verify return code: (?P<code>\d+)')


def presented(client, address, port, server_name, ca, verify_name=None):
    """The certificate the router presents to ``openssl s_client`` on the client container for
    ``server_name`` (None: no SNI at all). Returns ``(sha256 hex, subject, verify code)``; the
    chain is verified with ``ca`` and, with ``verify_name``, the name too (code 0: verified)."""
    args = ['openssl', 's_client', '-connect', '%s:%d' % (address, port), '-CAfile', ca]
    args += ['-servername', server_name] if server_name else ['-noservername']
    if verify_name:
        args += ['-verify_hostname', verify_name]
    script = ('out=$(timeout 10 %s </dev/null 2>&1); '
              'printf "%%s\\n" "$out" | openssl x509 -noout -fingerprint -sha256 -subject -nameopt RFC2253; '
              'printf "%%s\\n" "$out" | grep -m1 "Verify return code"'
              % ' '.join(shlex.quote(a) for a in args))
    out = client.run(script)
    fp, subject, code = _FINGERPRINT.search(out.stdout), _SUBJECT.search(out.stdout), _VERIFY.search(out.stdout)
    if not (fp and subject and code):
        raise AssertionError('no certificate from %s:%d for server name %r: %r %r'
                             % (address, port, server_name, out.stdout, out.stderr))
    return fp.group('fp').replace(':', '').lower(), subject.group('subject').strip(), int(code.group('code'))


_LINE = re.compile(r'^(?P<body>.*)\t(?P<code>\d{3})$')


def https_requests(client, address, port, server_name, host_header, count, ca, timeout=5):
    """``count`` sequential HTTPS requests (curl, one connection each, at most ``timeout`` s each)
    from the client container to ``address:port``, with ``server_name`` as SNI name and as the
    name the certificate must carry (curl verifies it against ``ca``), and ``Host: host_header``.
    Returns a list of ``(status, body)``; status 0 when curl got no answer (a TLS failure too)."""
    if count < 1 or count > 100:
        raise ValueError('count must be in 1..100 (bounded load), got %r' % count)
    url = 'https://%s:%d/' % (server_name, port)
    script = (
        'for i in $(seq %d); do '
        'curl -s --max-time %d --cacert %s --resolve %s -o - -w "\\t%%{http_code}\\n" -H %s %s; '
        'done' % (count, timeout, shlex.quote(ca), shlex.quote('%s:%d:%s' % (server_name, port, address)),
                  shlex.quote('Host: ' + host_header), shlex.quote(url)))
    out = client.run(script)
    answers = [(int(m.group('code')), m.group('body')) for m in map(_LINE.match, out.stdout.splitlines()) if m]
    if len(answers) != count:
        raise AssertionError('expected %d answers from %s (SNI %s, Host %s), parsed %d from %r (stderr %r)'
                             % (count, url, server_name, host_header, len(answers), out.stdout, out.stderr))
    return answers


def test_emperor_runs_under_systemd_on_every_host():
    for name in (ROUTER,) + NODES:
        service = lib.host(name).service('uwsgi-topology-emperor')
        assert service.is_running, name
        assert service.is_enabled, name


def test_router_listens(router, router_instance, router_address):
    assert router.socket('tcp://%s:%d' % (router_address, router_instance['port'])).is_listening
    assert router.socket('udp://%s:%d' % (router_address, router_instance['subscription_port'])).is_listening
    assert router.socket('tcp://127.0.0.1:%d' % router_instance['stats_port']).is_listening


def test_sni_files_are_on_the_router_host_and_match_the_key_store(router, keystore, router_instance):
    """uWSGI opens the paths a subscription carries on the router's own filesystem: the keys role
    put each SNI certificate and key there (keys 0600), equal to the controller's key store."""
    name = router_instance['name']
    listing = router.run('ls %s' % CERTS)
    assert sorted(listing.stdout.split()) == sorted(
        ['%s.crt' % k for k in SNI_KEYS] + ['%s.key' % k for k in SNI_KEYS]
        + ['%s.crt' % name, '%s.key' % name, 'topology-ca.pem']), listing.stdout
    for key in SNI_KEYS:
        assert router_file_fingerprint(router, key + '.crt') == store_fingerprint(keystore, 'sni', key + '.crt'), key
        with open(os.path.join(keystore, 'sni', key + '.key')) as handle:
            assert router.file('%s/%s.key' % (CERTS, key)).content_string == handle.read(), key
        assert router.file('%s/%s.key' % (CERTS, key)).mode == 0o600, key
    assert router_file_fingerprint(router, name + '.crt') == store_fingerprint(keystore, 'routers', name + '.crt')
    assert router_file_fingerprint(router, 'topology-ca.pem') == store_fingerprint(keystore, 'ca', 'ca.crt')
    # Every SNI certificate reloads the router when it changes (uWSGI keeps its first context): the vassal
    # file holds the digest of the files the router loads (the SNI certificates, its own, its public keys, the
    # binary), no touch-reload (which would reload every replica at once).
    ini = router.file('%s/%s.router.topology.ini' % (VASSALS, name)).content_string
    assert '; uwsgi.topology: the files it loads (' in ini and 'touch-reload' not in ini, ini
    assert PLAIN_KEY not in ini, ini


def test_node_subscriptions_carry_the_router_hosts_paths():
    """The nodes hold no certificate: their announces name the files on the router's host."""
    for name in NODES:
        target = lib.host(name)
        assert target.run('ls -A %s' % CERTS).stdout.split() == [], name
        for node in lib.host_vars(name)['uwsgi_node_instances']:
            ini = target.file('%s/%s.node.topology.ini' % (VASSALS, node['name'])).content_string
            lines = [line for line in ini.splitlines() if line.startswith('subscribe2 = ')]
            assert len(lines) == len(node['subscriptions']), ini
            for sub, line in zip(node['subscriptions'], lines):
                assert 'key=%s,' % sub['key'] in line, (sub, line)
                if sub['sni']:
                    assert line.endswith(',sni_key=%s/%s.key,sni_crt=%s/%s.crt'
                                         % (CERTS, sub['key'], CERTS, sub['key'])), line
                else:
                    assert 'sni_' not in line, line


def test_pools_hold_every_node_and_sni_contexts_exist(router, stats, expected_pools):
    pools_expected, _names = expected_pools
    pools = lib.router_pools(router, stats, wait_for=pools_expected, wait_timeout=60)
    assert sorted(pools) == sorted(EXPECTED), pools
    for key, addresses in sorted(pools_expected.items()):
        nodes = dict((node['name'], node) for node in pools[key]['nodes'])
        assert sorted(nodes) == addresses, (key, pools[key])
        for address, node in sorted(nodes.items()):
            assert node['death_mark'] == 0, (key, address, node)
            assert node['weight'] == 1, (key, address, node)
        # The router built an SSL context from the files the announces named, for SNI keys only.
        assert pools[key]['sni_enabled'] is (key in SNI_KEYS), (key, pools[key])


def test_each_server_name_gets_its_keys_certificate(client, client_ca, keystore, router, router_instance,
                                                    router_address):
    port = router_instance['port']
    fingerprints = set()
    for key in SNI_KEYS:
        fp, subject, code = presented(client, router_address, port, key, client_ca, verify_name=key)
        print('%s: %s %s verify=%d' % (key, fp, subject, code))
        assert fp == store_fingerprint(keystore, 'sni', key + '.crt'), key
        assert fp == router_file_fingerprint(router, key + '.crt'), key
        assert subject == 'CN=%s' % key, subject
        assert code == 0, 'the certificate of %s does not verify with the bundled CA for that name' % key
        fingerprints.add(fp)
    assert len(fingerprints) == len(SNI_KEYS)


def test_other_names_get_the_routers_default_certificate(client, client_ca, keystore, router_instance, router_address):
    """An unknown name, no server name at all, and plain.test (subscribed with sni: false) get the
    router's own certificate, which names the router and verifies with the bundled CA."""
    name, port = router_instance['name'], router_instance['port']
    default = store_fingerprint(keystore, 'routers', name + '.crt')
    for server_name in ('unknown.test', PLAIN_KEY, None):
        fp, subject, code = presented(client, router_address, port, server_name, client_ca, verify_name=name)
        print('%s: %s %s verify=%d' % (server_name, fp, subject, code))
        assert (fp, subject, code) == (default, 'CN=%s' % name, 0), server_name
    # Asked for as unknown.test, that certificate does not verify (a client would refuse it).
    _fp, _subject, code = presented(client, router_address, port, 'unknown.test', client_ca, verify_name='unknown.test')
    assert code != 0


def _check_requests(client, client_ca, router_instance, router_address, count=6):
    """HTTPS requests with each key reach that key's nodes (curl verifies chain and name)."""
    port = router_instance['port']
    for key in sorted(EXPECTED):
        # plain.test has no certificate of its own: ask for the router's name, send the key as Host.
        server_name = key if key in SNI_KEYS else router_instance['name']
        answers = https_requests(client, router_address, port, server_name, key, count, client_ca)
        print('%s (SNI %s): %s' % (key, server_name, answers))
        assert [status for status, _body in answers] == [200] * count, (key, answers)
        assert set(body for _status, body in answers) == EXPECTED[key], (key, answers)
        if len(EXPECTED[key]) > 1:
            bodies = [body for _status, body in answers]
            assert all(a != b for a, b in zip(bodies, bodies[1:])), (key, bodies)


def test_https_requests_with_each_name_reach_that_keys_nodes(client, client_ca, router, stats, expected_pools,
                                                             router_instance, router_address):
    lib.router_pools(router, stats, wait_for=expected_pools[0], wait_timeout=60)
    before = lib.router_pools(router, stats)
    _check_requests(client, client_ca, router_instance, router_address)
    after = lib.router_pools(router, stats)
    # The router counted them, on the key's own nodes.
    for key in EXPECTED:
        sent = sum(n['requests'] for n in after[key]['nodes']) - sum(n['requests'] for n in before[key]['nodes'])
        assert sent == 6, (key, before[key], after[key])


def test_plain_key_name_does_not_verify(client, client_ca, router_instance, router_address):
    """A client asking for plain.test by name refuses the router's default certificate."""
    answers = https_requests(client, router_address, router_instance['port'], PLAIN_KEY, PLAIN_KEY, 1, client_ca)
    assert answers == [(0, '')], answers


def test_check_mode_converge_changes_nothing(router, stats, expected_pools):
    lib.check_converge_changes_nothing((ROUTER,) + NODES)
    lib.router_pools(router, stats, wait_for=expected_pools[0], wait_timeout=30)


def test_rotated_certificate_is_presented_after_a_converge(client, client_ca, keystore, router, stats, expected_pools,
                                                           router_instance, router_address):
    """Delete app.test's certificate and private key from the key store and converge: the keys
    role makes a new pair and places it on the router's host (the key first), the router reloads
    (the certificate's digest in its vassal file), the client gets the new certificate for app.test and the
    unchanged ones for api.test and other names, and the router never met the new certificate
    beside the old key (uWSGI logs "unable to assign key" and serves the default certificate for
    that name until the next announce)."""
    rotated, kept = 'app.test', 'api.test'
    port, name = router_instance['port'], router_instance['name']
    old = presented(client, router_address, port, rotated, client_ca, verify_name=rotated)[0]
    unchanged = presented(client, router_address, port, kept, client_ca, verify_name=kept)[0]
    default = presented(client, router_address, port, None, client_ca, verify_name=name)[0]
    assert old == store_fingerprint(keystore, 'sni', rotated + '.crt')
    old_key = hashlib.sha256(router.file('%s/%s.key' % (CERTS, rotated)).content).hexdigest()

    since = int(time.time()) - 1
    os.unlink(os.path.join(keystore, 'sni', rotated + '.crt'))
    os.unlink(os.path.join(keystore, 'sni', rotated + '.key'))
    rc, output, recap = lib.run_converge()
    assert rc == 0, output[-6000:]
    assert recap[ROUTER]['changed'] > 0, recap
    for node in NODES:
        assert recap[node]['changed'] == 0, (node, recap)

    new = store_fingerprint(keystore, 'sni', rotated + '.crt')
    assert new != old
    assert router_file_fingerprint(router, rotated + '.crt') == new

    deadline, seen = time.time() + 60, None
    while time.time() < deadline:
        seen = presented(client, router_address, port, rotated, client_ca, verify_name=rotated)
        if seen[0] == new:
            break
        time.sleep(2)
    assert seen[0] == new, 'the router still presents %s for %s, not the rotated %s' % (seen[0], rotated, new)
    assert seen[1:] == ('CN=%s' % rotated, 0), seen
    assert hashlib.sha256(router.file('%s/%s.key' % (CERTS, rotated)).content).hexdigest() != old_key
    journal = lib.emperor_journal(router, since)
    assert 'unable to assign key' not in journal, journal[-4000:]
    assert 'unable to initialize context' not in journal, journal[-4000:]
    assert presented(client, router_address, port, kept, client_ca, verify_name=kept) == (unchanged, 'CN=' + kept, 0)
    assert presented(client, router_address, port, None, client_ca, verify_name=name) == (default, 'CN=' + name, 0)

    # The pools filled again after the reload, with their SNI contexts, and every key routes.
    pools = lib.router_pools(router, stats, wait_for=expected_pools[0], wait_timeout=60)
    for key in EXPECTED:
        assert all(node['death_mark'] == 0 for node in pools[key]['nodes']), pools[key]
        assert pools[key]['sni_enabled'] is (key in SNI_KEYS), (key, pools[key])
    _check_requests(client, client_ca, router_instance, router_address)
