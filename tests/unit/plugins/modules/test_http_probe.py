# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.http_probe module, run in-process against HTTP(S) servers
the test runs on 127.0.0.1 (two "nodes" answering in turn, like a router's round robin)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import http.server
import itertools
import json
import socket
import ssl
import threading

import pytest

from ansible_collections.uwsgi.topology.plugins.modules import http_probe

pytest.importorskip('cryptography')

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


class RoundRobin(http.server.BaseHTTPRequestHandler):
    """Answers like a router with two nodes for the key ``app.example.com``; 404 for another key."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        host = self.headers.get('Host', '')
        if host.split(':')[0] == 'app.example.com':
            status, body = 200, ('hello from node%d\n' % next(self.server.turn)).encode()
        else:
            status, body = 404, b'no such key'
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


def _serve(context=None):
    class _Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass

    httpd = _Server(('127.0.0.1', 0), RoundRobin)
    httpd.turn = itertools.cycle([1, 2])
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05})
    thread.daemon = True
    thread.start()
    return httpd


@pytest.fixture
def router():
    httpd = _serve()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp('pki')
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Topology CA')])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'app.example.com')])
    start, end = datetime.datetime(2024, 1, 1), datetime.datetime(2039, 1, 1)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(2).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName('app.example.com')]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {
        'ca.pem': ca.public_bytes(serialization.Encoding.PEM),
        'leaf.pem': leaf.public_bytes(serialization.Encoding.PEM),
        'leaf.key': leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return dict((name, str(directory / name)) for name in files)


@pytest.fixture
def tls_router(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki['leaf.pem'], pki['leaf.key'])
    httpd = _serve(context)
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _free_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
def test_round_robin_over_two_nodes(run_module, router, check_mode):
    failed, result, warnings = run_module(http_probe.main, {
        'port': router, 'host_header': 'app.example.com:8080', 'count': 10}, check_mode=check_mode)
    assert not failed, result
    assert warnings == []
    assert result['changed'] is False
    assert result['requests_total'] == 10
    assert result['responses_total'] == 10
    assert result['failures'] == []
    assert result['statuses'] == {'200': 10}
    assert result['bodies'] == {'hello from node1': 5, 'hello from node2': 5}
    assert 'peer_certificate' not in result
    json.dumps(result)


def test_unexpected_status_fails(run_module, router):
    failed, result, _warnings = run_module(http_probe.main, {'port': router, 'host_header': 'other.example.com', 'count': 3})
    assert failed
    assert result['msg'] == ('http://127.0.0.1:%d (Host: other.example.com): '
                             '3 responses had another status than 200: 404 (3)' % router)
    assert result['statuses'] == {'404': 3}  # the tally is returned with the failure


def test_expect_status(run_module, router):
    failed, result, _warnings = run_module(http_probe.main, {
        'port': router, 'host_header': 'other.example.com', 'expect_status': 404})
    assert not failed, result


def test_fail_on_error_false_reports_only(run_module):
    port = _free_port()
    failed, result, _warnings = run_module(http_probe.main, {'port': port, 'count': 2, 'fail_on_error': False})
    assert not failed
    assert result['failures'] == [{'index': 0, 'error': 'connection refused'}, {'index': 1, 'error': 'connection refused'}]
    assert result['responses_total'] == 0


def test_connection_refused_fails_naming_the_target(run_module):
    port = _free_port()
    failed, result, _warnings = run_module(http_probe.main, {'port': port, 'host_header': 'app.example.com'})
    assert failed
    assert result['msg'] == ('http://127.0.0.1:%d (Host: app.example.com): 1 of 1 requests failed: '
                             'connection refused (1)' % port)


def test_tls_verified(run_module, tls_router, pki):
    failed, result, _warnings = run_module(http_probe.main, {
        'port': tls_router, 'host_header': 'app.example.com:8443', 'tls': True, 'ca_path': pki['ca.pem'], 'count': 4})
    assert not failed, result
    assert result['bodies'] == {'hello from node1': 2, 'hello from node2': 2}
    assert result['server_name'] == 'app.example.com'
    cert = result['peer_certificate']
    assert cert['subject_cn'] == 'app.example.com'
    assert cert['issuer_cn'] == 'Topology CA'
    assert cert['subject_alt_name'] == ['DNS:app.example.com']
    assert cert['not_after'] == '20390101000000Z'
    assert cert['verified'] is True


def test_tls_mismatch_fails_and_still_shows_the_certificate(run_module, tls_router, pki):
    failed, result, _warnings = run_module(http_probe.main, {
        'port': tls_router, 'host_header': 'app.example.com', 'server_name': 'wrong.example.com', 'tls': True,
        'ca_path': pki['ca.pem']})
    assert failed
    assert result['msg'].startswith('https://127.0.0.1:%d (Host: app.example.com): 1 of 1 requests failed: '
                                    'TLS certificate verification failed: Hostname mismatch' % tls_router)
    assert result['peer_certificate']['subject_cn'] == 'app.example.com'
    assert result['peer_certificate']['verified'] is False


def test_tls_unverified(run_module, tls_router):
    failed, result, _warnings = run_module(http_probe.main, {'port': tls_router, 'host_header': 'app.example.com', 'tls': True})
    assert not failed, result
    assert result['peer_certificate']['verified'] is False


def test_tls_options_without_tls_warn(run_module, router, pki):
    failed, result, warnings = run_module(http_probe.main, {
        'port': router, 'host_header': 'app.example.com', 'server_name': 'x', 'ca_path': pki['ca.pem']})
    assert not failed, result
    assert warnings == ['server_name is ignored without tls=true', 'ca_path is ignored without tls=true']


@pytest.mark.parametrize('args, message', [
    ({'count': 0}, 'count: must be from 1 to 10000, got 0'),
    ({'count': 20000}, 'count: must be from 1 to 10000, got 20000'),
    ({'port': 70000}, 'port: must be from 1 to 65535, got 70000'),
    ({'path': 'x'}, "path: must start with / and hold no spaces or line breaks, got 'x'"),
    ({'tls': True, 'ca_path': '/nonexistent.pem'}, 'ca_path: /nonexistent.pem: no such file or directory'),
])
def test_bad_parameters(run_module, args, message):
    full = {'port': 9}
    full.update(args)
    failed, result, _warnings = run_module(http_probe.main, full)
    assert failed
    assert result['msg'] == message


def test_expect_certificate_matches(run_module, tls_router, pki):
    failed, result, _warnings = run_module(http_probe.main, {
        'port': tls_router, 'host_header': 'app.example.com', 'tls': True, 'ca_path': pki['ca.pem'],
        'expect_certificate': pki['leaf.pem']})
    assert not failed, result
    assert result['certificate_matches'] is True


def test_expect_certificate_other_one_fails(run_module, tls_router, pki):
    # The CA's certificate stands for a stale one: the router presents another.
    failed, result, _warnings = run_module(http_probe.main, {
        'port': tls_router, 'host_header': 'app.example.com', 'tls': True, 'ca_path': pki['ca.pem'],
        'expect_certificate': pki['ca.pem']})
    assert failed
    assert result['certificate_matches'] is False
    assert 'not the one in %s' % pki['ca.pem'] in result['msg']
    assert result['peer_certificate']['sha256_fingerprint'] in result['msg']


def test_expect_certificate_unreadable(run_module, tls_router, pki, tmp_path):
    bad = tmp_path / 'bad.pem'
    bad.write_text('no certificate here')
    failed, result, _warnings = run_module(http_probe.main, {
        'port': tls_router, 'host_header': 'app.example.com', 'tls': True, 'expect_certificate': str(bad)})
    assert failed
    assert result['msg'] == 'expect_certificate %s: no PEM certificate found' % bad
