# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/probe.py against HTTP and HTTPS servers run by the test on
127.0.0.1, with certificates made here by ``cryptography``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import http.server
import socket
import ssl
import threading

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import probe

cryptography = pytest.importorskip('cryptography')

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

import ipaddress  # noqa: E402


# --- certificates ----------------------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'uwsgi.topology tests'),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn, issuer_cn=None, issuer_key=None, sans=None, not_after=None, ca=False):
    """Return (certificate, private key); self-signed unless an issuer is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2024, 1, 1)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn))
               .issuer_name(_name(issuer_cn or cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now)
               .not_valid_after(not_after or datetime.datetime(2040, 6, 30, 12, 0, 0)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    if sans:
        entries = []
        for san in sans:
            kind, value = san.split(':', 1)
            entries.append(x509.DNSName(value) if kind == 'DNS' else x509.IPAddress(ipaddress.ip_address(value)))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return cert, key


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp('pki')
    ca, ca_key = make_cert('Probe Test CA', ca=True)
    leaf, leaf_key = make_cert('app.example.com', issuer_cn='Probe Test CA', issuer_key=ca_key,
                               sans=['DNS:app.example.com', 'DNS:www.example.com', 'IP:127.0.0.1'])
    other_ca, _other_key = make_cert('Some Other CA', ca=True)
    paths = {}
    for name, data in (('ca.pem', _pem(ca)), ('other-ca.pem', _pem(other_ca)),
                       ('leaf.pem', _pem(leaf)), ('leaf.key', _key_pem(leaf_key))):
        (directory / name).write_bytes(data)
        paths[name] = str(directory / name)
    paths['leaf'] = leaf
    return paths


# --- servers ---------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    """``/status/N`` answers N; ``/host`` echoes the Host header; ``/peer`` the client port;
    ``/big`` sends 2 MiB; ``/slow`` never answers; everything else answers ``hello``."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append({'path': self.path, 'host': self.headers.get('Host'),
                                 'connection': self.headers.get('Connection'),
                                 'agent': self.headers.get('User-Agent')})
        status, body = 200, b'  hello\n'
        if self.path.startswith('/status/'):
            status, body = int(self.path.rsplit('/', 1)[1]), b'status page'
        elif self.path == '/host':
            body = self.headers.get('Host', '').encode()
        elif self.path == '/peer':
            body = str(self.client_address[1]).encode()
        elif self.path == '/big':
            body = b'x' * (2 * 1024 * 1024)
        elif self.path == '/long':
            body = ('%s' % ('y' * 300)).encode()
        elif self.path == '/slow':
            self.server.release.wait(5)
            return
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        if self.headers.get('Connection', '').lower() == 'close':
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class Server(object):
    def __init__(self, context=None, family=socket.AF_INET):
        class _Server(http.server.ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # clients that hang up early (the 1 MiB cut) are expected
        self.httpd = _Server(('::1' if family == socket.AF_INET6 else '127.0.0.1', 0), Handler)
        self.httpd.seen = []
        self.httpd.release = threading.Event()
        self.server_names = []
        if context is not None:
            context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05})
        self.thread.daemon = True
        self.thread.start()

    @property
    def seen(self):
        return self.httpd.seen

    def close(self):
        self.httpd.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = Server()
    yield server
    server.close()


@pytest.fixture
def https_server(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki['leaf.pem'], pki['leaf.key'])
    server = Server(context)
    yield server
    server.close()


def _free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- plain HTTP ------------------------------------------------------------------------------

def test_counts_statuses_and_bodies(http_server):
    result = probe.probe('127.0.0.1', http_server.port, count=3)
    assert result == {'requests_total': 3, 'responses_total': 3, 'failures': [], 'statuses': {'200': 3},
                      'bodies': {'hello': 3}, 'elapsed': result['elapsed']}
    assert result['elapsed'] >= 0
    assert probe.problems(result, 200) is None
    assert [s['connection'] for s in http_server.seen] == ['close'] * 3
    assert http_server.seen[0]['agent'] == 'uwsgi.topology.http_probe'


def test_host_header_is_the_subscription_key(http_server):
    result = probe.probe('127.0.0.1', http_server.port, host_header='app.example.com:8080', path='/host')
    assert result['bodies'] == {'app.example.com:8080': 1}
    assert [s['host'] for s in http_server.seen] == ['app.example.com:8080']


def test_default_host_header(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/host')
    assert result['bodies'] == {'127.0.0.1:%d' % http_server.port: 1}


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip('no IPv6')
    try:
        server = Server(family=socket.AF_INET6)
    except OSError:
        pytest.skip('::1 cannot be bound here')
    try:
        result = probe.probe('::1', server.port, path='/host')
        assert result['bodies'] == {'[::1]:%d' % server.port: 1}
    finally:
        server.close()


def test_other_status_is_a_problem(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/status/502', count=2)
    assert result['statuses'] == {'502': 2}
    assert result['bodies'] == {'status page': 2}
    assert result['failures'] == []
    assert probe.problems(result, 200) == '2 responses had another status than 200: 502 (2)'
    assert probe.problems(result, 502) is None


def test_body_key_is_stripped_and_cut(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/long')
    assert list(result['bodies']) == ['y' * 200]


def test_big_body_is_read_up_to_the_limit(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/big', count=2, keepalive=True)
    assert result['statuses'] == {'200': 2}
    assert list(result['bodies']) == ['x' * 200]


def test_keepalive_reuses_the_connection(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/peer', count=4, keepalive=True)
    assert result['responses_total'] == 4
    assert len(result['bodies']) == 1  # one client port: one connection
    assert [s['connection'] for s in http_server.seen] == ['keep-alive'] * 4


def test_without_keepalive_each_request_has_its_own_connection(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/peer', count=4)
    assert len(result['bodies']) == 4


def test_connection_refused():
    result = probe.probe('127.0.0.1', _free_port(), count=2)
    assert result['responses_total'] == 0
    assert result['failures'] == [{'index': 0, 'error': 'connection refused'},
                                  {'index': 1, 'error': 'connection refused'}]
    assert probe.problems(result, 200) == '2 of 2 requests failed: connection refused (2)'


def test_timeout(http_server):
    result = probe.probe('127.0.0.1', http_server.port, path='/slow', timeout=0.2)
    assert result['failures'] == [{'index': 0, 'error': 'timed out after 0.2 s'}]


def _closing_server(reply):
    """A TCP server on 127.0.0.1 that reads a request, writes ``reply`` and closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    sock.listen(8)
    sock.settimeout(0.05)
    stop = threading.Event()

    def run():
        while not stop.is_set():
            try:
                conn, _peer = sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(2)
            try:
                conn.recv(65536)
                conn.sendall(reply)
            except OSError:
                pass
            conn.close()

    thread = threading.Thread(target=run)
    thread.daemon = True
    thread.start()

    def close():
        stop.set()
        thread.join(2)
        sock.close()
    return sock.getsockname()[1], close


@pytest.mark.parametrize('reply, error', [
    (b'', 'the server closed the connection without a response (a uWSGI router does so when no live node '
          'serves the Host key)'),
    (b'garbage\r\n\r\n', 'bad HTTP response'),
])
def test_router_that_closes(reply, error):
    port, close = _closing_server(reply)
    try:
        result = probe.probe('127.0.0.1', port)
    finally:
        close()
    assert result['failures'][0]['error'].startswith(error)
    assert result['responses_total'] == 0


def test_mixed_failures_are_summarised(http_server):
    result = {'requests_total': 5, 'failures': [{'index': 0, 'error': 'a'}, {'index': 1, 'error': 'b'},
                                                {'index': 2, 'error': 'b'}],
              'statuses': {'200': 1, '404': 1}}
    assert probe.problems(result, 200) == ('3 of 5 requests failed: b (2); a (1); '
                                           '1 responses had another status than 200: 404 (1)')


@pytest.mark.parametrize('kwargs, fragment', [
    ({'count': 0}, 'count: must be from 1 to 10000'),
    ({'count': 10001}, 'count: must be from 1 to 10000'),
    ({'port': 0}, 'port: must be from 1 to 65535'),
    ({'path': 'index.html'}, 'path: must start with /'),
    ({'path': '/a b'}, 'path: must start with /'),
    ({'host_header': 'a\r\nX-Evil: 1'}, 'host_header: must be a non-empty line'),
    ({'timeout': 0}, 'timeout: must be a positive number'),
    ({'tls': True, 'ca_path': '/nonexistent/ca.pem'}, 'ca_path: /nonexistent/ca.pem: no such file'),
])
def test_bad_parameters(kwargs, fragment):
    args = {'host': '127.0.0.1', 'port': 9}
    args.update(kwargs)
    with pytest.raises(probe.ProbeError) as caught:
        probe.probe(**args)
    assert fragment in str(caught.value)


def test_ca_path_that_is_no_pem(tmp_path):
    bad = tmp_path / 'bad.pem'
    bad.write_text('not a certificate')
    with pytest.raises(probe.ProbeError) as caught:
        probe.probe('127.0.0.1', 9, tls=True, ca_path=str(bad))
    assert 'cannot load CA certificates' in str(caught.value)


@pytest.mark.parametrize('host, header, expected', [
    ('127.0.0.1', 'app.example.com:8443', 'app.example.com'),
    ('127.0.0.1', 'app.example.com', 'app.example.com'),
    ('127.0.0.1', '[::1]:8443', '::1'),
    ('10.0.0.1', None, '10.0.0.1'),
])
def test_default_server_name(host, header, expected):
    assert probe.default_server_name(host, header) == expected


# --- TLS -------------------------------------------------------------------------------------

def test_tls_unverified_still_reports_the_certificate(https_server, pki):
    result = probe.probe('127.0.0.1', https_server.port, host_header='app.example.com:8443', tls=True, count=2)
    assert result['statuses'] == {'200': 2}
    assert result['server_name'] == 'app.example.com'
    assert https_server.server_names == ['app.example.com', 'app.example.com']
    cert = result['peer_certificate']
    fingerprint = pki['leaf'].fingerprint(hashes.SHA256()).hex()
    assert cert == {
        'subject_cn': 'app.example.com',
        'issuer_cn': 'Probe Test CA',
        'subject_alt_name': ['DNS:app.example.com', 'DNS:www.example.com', 'IP:127.0.0.1'],
        'not_after': '20400630120000Z',
        'sha256_fingerprint': ':'.join(fingerprint[i:i + 2] for i in range(0, 64, 2)),
        'verified': False,
    }


def test_tls_verified(https_server, pki):
    result = probe.probe('127.0.0.1', https_server.port, host_header='www.example.com', tls=True,
                         ca_path=pki['ca.pem'])
    assert result['statuses'] == {'200': 1}
    assert result['peer_certificate']['verified'] is True
    assert https_server.server_names == ['www.example.com']


def test_tls_verified_with_an_explicit_server_name(https_server, pki):
    result = probe.probe('127.0.0.1', https_server.port, host_header='whatever', server_name='app.example.com',
                         tls=True, ca_path=pki['ca.pem'])
    assert result['failures'] == []
    assert https_server.server_names == ['app.example.com']


def test_tls_name_mismatch(https_server, pki):
    result = probe.probe('127.0.0.1', https_server.port, host_header='evil.example.com', tls=True,
                         ca_path=pki['ca.pem'], count=2)
    assert result['responses_total'] == 0
    assert [f['index'] for f in result['failures']] == [0, 1]
    assert result['failures'][0]['error'].startswith('TLS certificate verification failed: Hostname mismatch')
    # Read again without verification, for the report.
    assert result['peer_certificate']['subject_cn'] == 'app.example.com'
    assert result['peer_certificate']['verified'] is False


def test_tls_unknown_ca(https_server, pki):
    result = probe.probe('127.0.0.1', https_server.port, host_header='app.example.com', tls=True,
                         ca_path=pki['other-ca.pem'])
    assert 'certificate verify failed' in result['failures'][0]['error'] or \
        'unable to get local issuer' in result['failures'][0]['error']
    assert result['peer_certificate']['verified'] is False


def test_tls_to_a_plain_http_server(http_server):
    result = probe.probe('127.0.0.1', http_server.port, tls=True, timeout=2)
    assert result['failures'][0]['error'].startswith(('TLS error', 'the server closed', 'connection reset'))
    assert result['peer_certificate'] is None


def test_tls_keepalive(https_server):
    result = probe.probe('127.0.0.1', https_server.port, tls=True, path='/peer', count=3, keepalive=True)
    assert len(result['bodies']) == 1
    assert result['statuses'] == {'200': 3}


def test_plain_result_has_no_tls_keys(http_server):
    result = probe.probe('127.0.0.1', http_server.port)
    assert 'peer_certificate' not in result and 'server_name' not in result


# --- certificate_info ------------------------------------------------------------------------

def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_info_utc_time_and_no_san():
    cert, _key = make_cert('plain', not_after=datetime.datetime(2030, 1, 2, 3, 4, 5))
    info = probe.certificate_info(_der(cert))
    assert info['subject_cn'] == 'plain' and info['issuer_cn'] == 'plain'
    assert info['not_after'] == '20300102030405Z'  # UTCTime before 2050
    assert info['subject_alt_name'] == []
    assert 'error' not in info


def test_certificate_info_generalized_time_unicode_and_ipv6():
    cert, _key = make_cert(u'n\u00e4me', not_after=datetime.datetime(2060, 12, 31, 23, 59, 59),
                           sans=['IP:::1', 'DNS:x.example'])
    info = probe.certificate_info(_der(cert), verified=True)
    assert info['subject_cn'] == u'n\u00e4me'
    assert info['not_after'] == '20601231235959Z'  # GeneralizedTime from 2050 on
    assert info['subject_alt_name'] == ['IP:::1', 'DNS:x.example']
    assert info['verified'] is True


def test_certificate_info_without_common_name():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'no cn')])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2024, 1, 1))
            .not_valid_after(datetime.datetime(2025, 1, 1)).sign(key, hashes.SHA256()))
    info = probe.certificate_info(_der(cert))
    assert info['subject_cn'] is None and info['issuer_cn'] is None


@pytest.mark.parametrize('der', [b'', b'\x30', b'\x30\x05\x02\x01\x01', b'\x04\x00', b'\x30\x84\xff\xff\xff\xff'])
def test_certificate_info_garbage(der):
    info = probe.certificate_info(der)
    assert info['error'].startswith('cannot read the certificate')
    assert len(info['sha256_fingerprint']) == 95


def test_pem_fingerprint_equals_the_presented_one(pki):
    fingerprint = pki['leaf'].fingerprint(hashes.SHA256()).hex()
    with open(pki['leaf.pem']) as stream:
        text = stream.read()
    expected = ':'.join(fingerprint[i:i + 2] for i in range(0, 64, 2))
    assert probe.pem_fingerprint(text) == expected
    # Text around it (a bundle, comments) is ignored; the first certificate counts.
    assert probe.pem_fingerprint('subject=CN=x\n' + text + open(pki['ca.pem']).read()) == expected


@pytest.mark.parametrize('text', ['', 'garbage', '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n'])
def test_pem_fingerprint_refuses_what_is_no_certificate(text):
    with pytest.raises(probe.ProbeError):
        probe.pem_fingerprint(text)
