# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/verification.py against a fake router run by the test on 127.0.0.1:
an HTTP(S) server that answers each key with the names of its nodes in turn (as the demo application
behind a round-robin router does) and a stats server that writes the router's JSON, with uWSGI's
stray comma, and closes. Certificates are made here with ``cryptography`` (helpers of test_probe)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.server
import json
import socket
import ssl
import threading

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import verification

pytest.importorskip('cryptography')

from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_probe import (  # noqa: E402
    _key_pem, _pem, make_cert)

APP1, APP2, APP3 = '127.0.0.1:13031', '127.0.0.1:13032', '127.0.0.1:13033'


# --- the fake router -------------------------------------------------------------------------

class _RouterHandler(http.server.BaseHTTPRequestHandler):
    """Answers a known key with the next node's name; closes without an answer otherwise (as uWSGI)."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        node = self.server.fake.pick(self.headers.get('Host', ''))
        if node is None:
            self.close_connection = True
            return
        body = node[1].encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class FakeRouter(object):
    """A router's HTTP(S) socket and its stats server, both on 127.0.0.1.

    ``routes``: ``{key: [(address, name), ...]}``, the nodes that answer each key in turn;
    ``members``: ``{key: [address, ...]}``, the pool the stats show (default: the routes' addresses);
    ``dead``: addresses the stats mark dead. ``counts`` tallies the requests per address.
    """

    def __init__(self, routes, members=None, dead=(), context=None, stats_text=None):
        self.routes = dict((key, list(nodes)) for key, nodes in routes.items())
        self.members = members if members is not None else dict(
            (key, [address for address, _name in nodes]) for key, nodes in routes.items())
        self.dead = set(dead)
        self.counts = {}
        self.server_names = []
        self.hosts = []
        self.stats_reads = 0
        self.stats_text = stats_text
        self._turn = {}
        self._lock = threading.Lock()

        class _Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # clients that give up (failed verification) are expected

        self.httpd = _Server(('127.0.0.1', 0), _RouterHandler)
        self.httpd.fake = self
        if context is not None:
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.stats = StatsServer(self.stats_document)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05})
        self._thread.daemon = True
        self._thread.start()

    def pick(self, host):
        with self._lock:
            self.hosts.append(host)
            nodes = self.routes.get(host)
            if not nodes:
                return None
            turn = self._turn.get(host, 0)
            self._turn[host] = turn + 1
            node = nodes[turn % len(nodes)]
            self.counts[node[0]] = self.counts.get(node[0], 0) + 1
            return node

    def stats_document(self):
        """The router's stats as uWSGI 2.0 writes them, stray comma in the socket list included."""
        with self._lock:
            self.stats_reads += 1
            if self.stats_text is not None:
                return self.stats_text
            slots = []
            for key, addresses in self.members.items():
                nodes = [{'name': a, 'modifier1': 0, 'modifier2': 0, 'last_check': 1700000000, 'pid': 0, 'uid': 0,
                          'gid': 0, 'requests': self.counts.get(a, 0), 'last_requests': 0, 'tx': 0, 'rx': 0,
                          'cores': 1, 'load': 0, 'weight': 1, 'wrr': 0, 'ref': 0,
                          'failcnt': 3 if a in self.dead else 0, 'death_mark': 1 if a in self.dead else 0}
                         for a in addresses]
                slots.append({'key': key, 'hash': 7, 'hits': sum(self.counts.get(a, 0) for a in addresses),
                              'sni_enabled': 0, 'nodes': nodes})
            doc = {'version': '2.0.31', 'pid': 4242, 'http': ['127.0.0.1:12626', '127.0.0.1:%d' % self.port],
                   'subscriptions': slots, 'cheap': 0}
            text = json.dumps(doc, indent='\t')
            # corerouter.c writes a comma after the last socket when another gateway follows.
            return text.replace('\n\t]', ',\n\t]', 1)

    @property
    def stats_address(self):
        return self.stats.address

    def close(self):
        self.stats.close()
        self.httpd.shutdown()
        self.httpd.server_close()


class StatsServer(object):
    """Writes ``document()`` to each connection and closes it, as a uWSGI stats server does."""

    def __init__(self, document):
        self.document = document
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                conn.sendall(self.document().encode('utf-8'))
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def entry_for(router, pools=None, probes=None, rtype='http', name='edge-http', stats=True, connect=True):
    """A verify entry (docs/manifest.md, as plugins/module_utils/manifest.py writes it) for ``router``."""
    if pools is None:
        pools = dict(router.members)
    if probes is None:
        probes = [{'key': key, 'server_name': None, 'ca': None, 'certificate': None, 'common_name': None,
                   'answers': dict(nodes)} for key, nodes in sorted(router.routes.items())]
    return {'router': name, 'type': rtype, 'bind': '127.0.0.1:%d' % router.port,
            'stats': router.stats_address if stats else None, 'pools': pools,
            'connect': {'host': '127.0.0.1', 'port': router.port} if connect else None, 'probes': probes}


class Sleeps(object):
    def __init__(self):
        self.calls = []

    def __call__(self, seconds):
        self.calls.append(seconds)


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture
def router():
    fake = FakeRouter({'app.test': [(APP1, 'app1'), (APP2, 'app2')]})
    yield fake
    fake.close()


def write_pki(directory):
    """A CA, the planned certificate of app.test, a stale one with the same name, another CA: their paths."""
    ca, ca_key = make_cert('Verify Test CA', ca=True)
    leaf, leaf_key = make_cert('app.test', issuer_cn='Verify Test CA', issuer_key=ca_key, sans=['DNS:app.test'])
    stale, _stale_key = make_cert('app.test', issuer_cn='Verify Test CA', issuer_key=ca_key, sans=['DNS:app.test'])
    other_ca, _other_key = make_cert('Some Other CA', ca=True)
    paths = {}
    for name, data in (('ca.pem', _pem(ca)), ('leaf.pem', _pem(leaf)), ('leaf.key', _key_pem(leaf_key)),
                       ('stale.pem', _pem(stale)), ('other-ca.pem', _pem(other_ca))):
        (directory / name).write_bytes(data)
        paths[name] = str(directory / name)
    return paths


def tls_fake_router(pki):
    """A FakeRouter over TLS presenting the planned certificate of app.test."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki['leaf.pem'], pki['leaf.key'])
    return FakeRouter({'app.test': [(APP1, 'app1'), (APP2, 'app2')]}, context=context)


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return write_pki(tmp_path_factory.mktemp('verify-pki'))


@pytest.fixture
def tls_router(pki):
    fake = tls_fake_router(pki)
    yield fake
    fake.close()


def tls_entry(router, pki, **probe):
    fields = {'key': 'app.test', 'server_name': 'app.test', 'ca': pki['ca.pem'], 'certificate': pki['leaf.pem'],
              'common_name': 'app.test', 'answers': {APP1: 'app1', APP2: 'app2'}}
    fields.update(probe)
    return entry_for(router, probes=[fields], rtype='https', name='edge-https')


# --- the entry -------------------------------------------------------------------------------

def _entry(**changes):
    entry = {'router': 'edge', 'type': 'http', 'stats': '127.0.0.1:9191', 'pools': {'a.test': [APP1]},
             'connect': {'host': '127.0.0.1', 'port': 8080},
             'probes': [{'key': 'a.test', 'answers': {APP1: 'app1'}}]}
    entry.update(changes)
    return entry


@pytest.mark.parametrize('changes, path, message', [
    ({'router': ''}, 'router.router', "must be the router instance name, got ''"),
    ({'pools': {'a.test': APP1}}, "router.pools['a.test']",
     "router edge: must be a list of node addresses, got '127.0.0.1:13031'"),
    ({'bind': 8080}, 'router.bind', "router edge: must be the router's bind address or null, got 8080"),
    ({'connect': {'host': '127.0.0.1', 'port': 0}}, 'router.connect.port',
     'router edge: must be from 1 to 65535, got 0'),
    ({'type': 'fast'}, 'router.connect', 'router edge: only http and https routers answer HTTP requests; '
                                         'this one is fast'),
    ({'probes': [{'key': 'a.test', 'ca': '/ca.pem', 'answers': {APP1: 'app1'}}]}, 'router.probes[0].ca',
     "is only for https routers; router edge is http, got '/ca.pem'"),
    ({'probes': [{'key': 'a.test', 'answers': [APP1]}]}, 'router.probes[0].answers',
     "router edge, key a.test: must map node addresses to node names, got ['127.0.0.1:13031']"),
])
def test_bad_entries_name_the_field(changes, path, message):
    with pytest.raises(verification.VerifyError) as caught:
        verification.check_entry(_entry(**changes))
    assert caught.value.path == path
    assert caught.value.message == message


def test_wildcard_connect_host_goes_through_the_loopback():
    entry = verification.check_entry(_entry(connect={'host': '0.0.0.0', 'port': 8080}))
    assert entry['connect'] == {'host': '127.0.0.1', 'port': 8080}
    assert entry['pools'] == [{'key': 'a.test', 'nodes': [APP1]}]


@pytest.mark.parametrize('option, value, message', [
    ('requests_per_node', 0, 'requests_per_node: must be 1 or more, got 0'),
    ('probe_retries', -1, 'probe_retries: must be 0 or more, got -1'),
    ('wait_timeout', -1, 'wait_timeout: must be 0 or more seconds, got -1'),
    ('request_timeout', 0, 'request_timeout: must be a positive number of seconds, got 0'),
])
def test_bad_options(option, value, message):
    with pytest.raises(verification.VerifyError) as caught:
        verification.verify_router(_entry(), **{option: value})
    assert str(caught.value) == message


# --- plain http ------------------------------------------------------------------------------

def test_success_waits_probes_and_summarises(router):
    sleeps = Sleeps()
    result = verification.verify_router(entry_for(router), requests_per_node=3, sleep=sleeps)
    assert sleeps.calls == []
    assert router.hosts == ['app.test'] * 6
    assert router.counts == {APP1: 3, APP2: 3}
    assert result['router'] == 'edge-http'
    assert result['waited'] < 1
    [report] = result['probes']
    assert report == {'key': 'app.test', 'expected': ['app1', 'app2'], 'attempts': 1, 'requests': 6, 'ok': True,
                      'bodies': {'app1': 3, 'app2': 3}, 'statuses': {'200': 6}, 'failures': [],
                      'answered': ['app1', 'app2'], 'missing': [], 'problems': []}
    assert result['pools'] == [{'key': 'app.test', 'hits': 6, 'nodes': [
        {'address': APP1, 'name': 'app1', 'weight': 1, 'requests': 3, 'live': True, 'death_mark': 0, 'failcnt': 0},
        {'address': APP2, 'name': 'app2', 'weight': 1, 'requests': 3, 'live': True, 'death_mark': 0, 'failcnt': 0}]}]
    assert result['summary'] == [
        'edge-http (http 127.0.0.1:%d) key app.test: app1 [127.0.0.1:13031] weight=1 requests=3 live, ' % router.port +
        'app2 [127.0.0.1:13032] weight=1 requests=3 live']
    assert router.stats.connections == 2  # the wait (met at once) and the read after the requests
    json.dumps(result)


def test_node_missing_from_the_pool_times_out_naming_it():
    fake = FakeRouter({'app.test': [(APP1, 'app1'), (APP2, 'app2')]}, members={'app.test': [APP1, APP3]})
    try:
        with pytest.raises(verification.VerificationFailed) as caught:
            verification.verify_router(entry_for(fake, pools={'app.test': [APP1, APP2]}), wait_timeout=0.3)
    finally:
        fake.close()
    message = caught.value.message
    assert message.startswith('router edge-http (http 127.0.0.1:%d), stats %s: the pools are not the planned ones '
                              'after ' % (fake.port, fake.stats_address))
    assert message.endswith('s: key app.test: missing 127.0.0.1:13032 (app2); unexpected 127.0.0.1:13033')
    result = caught.value.result
    assert result['missing'] == [{'key': 'app.test', 'present': True, 'expected': [APP1, APP2],
                                  'live': [APP1, APP3], 'dead': [], 'missing': [APP2], 'unexpected': [APP3]}]
    assert fake.hosts == []  # no request before the pools are right
    assert result['summary'] == ['edge-http (http 127.0.0.1:%d) key app.test: app1 [127.0.0.1:13031] weight=1 '
                                 'requests=0 live, 127.0.0.1:13033 weight=1 requests=0 live' % fake.port]
    assert fake.stats.connections >= 1


def test_a_dead_node_does_not_count_and_is_named():
    fake = FakeRouter({'app.test': [(APP1, 'app1')]}, members={'app.test': [APP1, APP2]}, dead=[APP2])
    try:
        with pytest.raises(verification.VerificationFailed) as caught:
            verification.verify_router(entry_for(fake, pools={'app.test': [APP1, APP2]},
                                                 probes=[{'key': 'app.test', 'answers': {APP1: 'app1',
                                                                                         APP2: 'app2'}}]),
                                       wait_timeout=0.2)
    finally:
        fake.close()
    assert caught.value.message.endswith('key app.test: missing 127.0.0.1:13032 (app2); dead 127.0.0.1:13032 (app2)')
    assert 'app2 [127.0.0.1:13032] weight=1 requests=0 DEAD' in caught.value.result['summary'][0]


def test_a_key_without_a_pool(router):
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(entry_for(router, pools={'other.test': [APP3]}, probes=[]), wait_timeout=0)
    assert caught.value.message.endswith(
        'key other.test: the router has no pool for this key; missing 127.0.0.1:13033')


def test_stats_server_not_running_is_retried_then_reported(router):
    entry = entry_for(router)
    entry['stats'] = '127.0.0.1:%d' % free_port()
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(entry, wait_timeout=0.2)
    assert caught.value.message.startswith('router edge-http (http 127.0.0.1:%d): the stats server could not be '
                                           'read within ' % router.port)
    assert 'connection refused' in caught.value.message
    assert caught.value.result['missing'][0]['present'] is False
    assert router.hosts == []


def test_instance_stats_server_is_refused_at_once(router):
    router.stats_text = '{"version": "2.0.31", "workers": []}'
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(entry_for(router), wait_timeout=30)
    assert caught.value.message.startswith('router edge-http (http 127.0.0.1:%d): router stats server %s: this is '
                                           'the instance stats server' % (router.port, router.stats_address))
    assert router.stats_reads == 1


def test_node_that_never_answers_is_named_with_the_bodies_seen():
    fake = FakeRouter({'app.test': [(APP1, 'app1')]}, members={'app.test': [APP1, APP2]})
    sleeps = Sleeps()
    try:
        with pytest.raises(verification.VerificationFailed) as caught:
            verification.verify_router(
                entry_for(fake, probes=[{'key': 'app.test', 'answers': {APP1: 'app1', APP2: 'app2'}}]),
                requests_per_node=2, probe_retries=2, probe_delay=0.25, sleep=sleeps)
    finally:
        fake.close()
    assert caught.value.message == (
        'router edge-http (http://127.0.0.1:%d), key app.test, after 3 round(s) of 4 requests: '
        "nodes that never answered: app2 (127.0.0.1:13032); bodies seen: 'app1' x4" % fake.port)
    assert sleeps.calls == [0.25, 0.25]
    assert len(fake.hosts) == 12
    result = caught.value.result
    assert result['probes'][0]['ok'] is False
    assert result['probes'][0]['missing'] == ['app2']
    assert result['probes'][0]['answered'] == ['app1']
    assert result['pools'][0]['nodes'][0]['requests'] == 12  # the pools are read again for the report


def test_a_round_that_is_right_ends_the_retries():
    fake = FakeRouter({'app.test': [(APP1, 'app1')]}, members={'app.test': [APP1, APP2]})
    sleeps = Sleeps()

    def second_node_arrives(seconds):
        sleeps(seconds)
        fake.routes['app.test'].append((APP2, 'app2'))

    try:
        result = verification.verify_router(
            entry_for(fake, probes=[{'key': 'app.test', 'answers': {APP1: 'app1', APP2: 'app2'}}]),
            requests_per_node=2, probe_retries=5, probe_delay=0, sleep=second_node_arrives)
    finally:
        fake.close()
    assert sleeps.calls == [0]
    assert result['probes'][0]['attempts'] == 2
    assert result['probes'][0]['bodies'] == {'app1': 2, 'app2': 2}


def test_a_key_the_router_does_not_serve_reports_the_failures(router):
    probes = [{'key': 'nobody.test', 'answers': {APP3: 'app3'}}]
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(entry_for(router, probes=probes), requests_per_node=1, probe_retries=0)
    assert caught.value.message == (
        'router edge-http (http://127.0.0.1:%d), key nobody.test, after 1 round(s) of 1 requests: '
        'nodes that never answered: app3 (127.0.0.1:13033); 1 of 1 requests failed: the server closed the '
        'connection without a response (a uWSGI router does so when no live node serves the Host key) (1); '
        'bodies seen: none' % router.port)


def test_without_stats_the_summary_comes_from_the_answers(router):
    result = verification.verify_router(entry_for(router, pools={}, stats=False), requests_per_node=1)
    assert 'pools' not in result
    assert result['waited'] == 0.0
    assert result['summary'] == ['edge-http (http 127.0.0.1:%d) key app.test: answered by app1 x1, app2 x1 '
                                 '(no stats server: pools not read)' % router.port]
    assert router.stats.connections == 0


def test_without_stats_the_planned_pools_are_not_waited_for(router):
    entry = entry_for(router, pools={'app.test': [APP3]}, stats=False)
    result = verification.verify_router(entry, requests_per_node=1, wait_timeout=30)
    assert result['probes'][0]['ok'] is True
    assert router.stats.connections == 0


def test_without_connect_the_pools_are_checked_and_named_but_nothing_is_sent(router):
    result = verification.verify_router(entry_for(router, rtype='fast', connect=False))
    assert router.hosts == []
    assert result['probes'] == []
    assert result['summary'] == ['edge-http (fast 127.0.0.1:%d) key app.test: app1 [127.0.0.1:13031] weight=1 '
                                 'requests=0 live, app2 [127.0.0.1:13032] weight=1 requests=0 live' % router.port]


def test_a_key_no_node_answers_sends_nothing(router):
    result = verification.verify_router(entry_for(router, probes=[{'key': 'app.test', 'answers': {}}]))
    assert result['probes'] == [{'key': 'app.test', 'expected': [], 'attempts': 0, 'requests': 0, 'ok': True}]
    assert router.hosts == []


# --- https -----------------------------------------------------------------------------------

def test_tls_success_checks_sni_ca_file_and_name(tls_router, pki):
    result = verification.verify_router(tls_entry(tls_router, pki), requests_per_node=2)
    [report] = result['probes']
    assert report['ok'] is True, report
    assert report['bodies'] == {'app1': 2, 'app2': 2}
    assert report['server_name'] == 'app.test'
    assert report['certificate_matches'] is True
    assert report['peer_certificate']['subject_cn'] == 'app.test'
    assert report['peer_certificate']['verified'] is True
    assert set(tls_router.server_names) == {'app.test'}


def test_stale_certificate_with_the_right_name_is_a_mismatch(tls_router, pki):
    sleeps = Sleeps()
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(tls_entry(tls_router, pki, certificate=pki['stale.pem']), requests_per_node=1,
                                   probe_retries=1, probe_delay=0, sleep=sleeps)
    report = caught.value.result['probes'][0]
    presented = report['peer_certificate']['sha256_fingerprint']
    assert report['certificate_matches'] is False
    assert report['attempts'] == 2
    assert report['missing'] == []  # every node answered: the certificate alone is wrong
    expected = verification.read_fingerprint(pki['stale.pem'], 'x', 'y')
    assert caught.value.message == (
        'router edge-https (https://127.0.0.1:%d), key app.test, after 2 round(s) of 2 requests: '
        'certificate mismatch: the router presented %s (CN app.test), not the one in %s (%s); '
        "bodies seen: 'app1' x1, 'app2' x1; SNI app.test" % (tls_router.port, presented, pki['stale.pem'], expected))


def test_wrong_common_name(tls_router, pki):
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(tls_entry(tls_router, pki, common_name='edge-https', certificate=None),
                                   requests_per_node=1, probe_retries=0)
    assert 'certificate mismatch: CN app.test presented, edge-https expected' in caught.value.message
    assert 'certificate_matches' not in caught.value.result['probes'][0]


def test_certificate_of_another_ca_does_not_verify(tls_router, pki):
    with pytest.raises(verification.VerificationFailed) as caught:
        verification.verify_router(tls_entry(tls_router, pki, ca=pki['other-ca.pem']), requests_per_node=1,
                                   probe_retries=0)
    message = caught.value.message
    assert 'nodes that never answered: app1 (127.0.0.1:13031), app2 (127.0.0.1:13032)' in message
    assert '2 of 2 requests failed: TLS certificate verification failed' in message
    assert 'the certificate (CN app.test) does not verify against %s' % pki['other-ca.pem'] in message
    report = caught.value.result['probes'][0]
    assert report['peer_certificate']['verified'] is False
    assert report['certificate_matches'] is True  # the right file, from the wrong CA's point of view


def test_unreadable_expected_certificate_fails_before_anything(tls_router, pki, tmp_path):
    bad = tmp_path / 'bad.pem'
    bad.write_text('no certificate here')
    with pytest.raises(verification.VerifyError) as caught:
        verification.verify_router(tls_entry(tls_router, pki, certificate=str(bad)))
    assert str(caught.value) == 'router.probes[0].certificate %s: router edge-https, key app.test: no PEM ' \
                                'certificate found' % bad
    missing = str(tmp_path / 'missing.pem')
    with pytest.raises(verification.VerifyError) as caught:
        verification.verify_router(tls_entry(tls_router, pki, certificate=missing))
    assert str(caught.value) == ('router.probes[0].certificate %s: router edge-https, key app.test: cannot read '
                                 'the expected certificate: No such file or directory' % missing)
    assert tls_router.stats.connections == 0
    assert tls_router.hosts == []


def test_missing_ca_file_names_the_field(tls_router, pki, tmp_path):
    missing = str(tmp_path / 'no-ca.pem')
    with pytest.raises(verification.VerifyError) as caught:
        verification.verify_router(tls_entry(tls_router, pki, ca=missing))
    assert caught.value.path == 'router.probes[0].ca'
    assert caught.value.message == 'router edge-https, key app.test: %s: no such file or directory' % missing
    assert tls_router.stats.connections == 0  # refused before the wait


# --- the summary -----------------------------------------------------------------------------

def test_summary_lines():
    entry = {'router': 'core'}
    pools = [{'key': 'a.test', 'hits': 5, 'nodes': [
        {'address': '10.0.0.5:3017', 'name': None, 'weight': 2, 'requests': 5, 'live': True},
        {'address': APP1, 'name': 'app1', 'weight': 1, 'requests': 0, 'live': False}]},
        {'key': 'b.test', 'hits': 0, 'nodes': []}]
    assert verification.summary_lines(entry, pools) == [
        'core key a.test: 10.0.0.5:3017 weight=2 requests=5 live, app1 [127.0.0.1:13031] weight=1 requests=0 DEAD',
        'core key b.test: no nodes']
    assert verification.summary_lines(entry, []) == ['core: no pools (no node has subscribed)']
    assert verification.summary_lines(entry) == ['core: nothing to verify (no stats server, no probe)']
