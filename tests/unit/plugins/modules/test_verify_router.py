# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.verify_router module, run in-process against the fake router of
test_verification (an HTTP(S) server on 127.0.0.1 answering with node names, and its stats server)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.uwsgi.topology.plugins.modules import verify_router

pytest.importorskip('cryptography')

from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_verification import (  # noqa: E402
    APP1, APP2, APP3, FakeRouter, entry_for, tls_entry, tls_fake_router, write_pki)


@pytest.fixture
def router():
    fake = FakeRouter({'app.test': [(APP1, 'app1'), (APP2, 'app2')]})
    yield fake
    fake.close()


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    return write_pki(tmp_path_factory.mktemp('verify-router-pki'))


@pytest.fixture
def tls_router(pki):
    fake = tls_fake_router(pki)
    yield fake
    fake.close()


def test_success(run_module, router):
    failed, result, warnings = run_module(verify_router.main, {'router': entry_for(router), 'requests_per_node': 2})
    assert not failed, result
    assert warnings == []
    assert result['changed'] is False
    assert result['router'] == 'edge-http'
    assert result['probes'][0]['bodies'] == {'app1': 2, 'app2': 2}
    assert result['probes'][0]['attempts'] == 1
    assert result['summary'] == [
        'edge-http (http 127.0.0.1:%d) key app.test: app1 [127.0.0.1:13031] weight=1 requests=2 live, '
        'app2 [127.0.0.1:13032] weight=1 requests=2 live' % router.port]
    assert [n['name'] for n in result['pools'][0]['nodes']] == ['app1', 'app2']
    json.dumps(result)


def test_check_mode_reads_and_sends_nothing(run_module, router):
    failed, result, _warnings = run_module(verify_router.main, {'router': entry_for(router)}, check_mode=True)
    assert not failed, result
    assert result == {'changed': False, 'skipped': True, 'router': 'edge-http',
                      'msg': 'router edge-http not verified: check mode reads and sends nothing'}
    assert router.stats.connections == 0
    assert router.hosts == []


def test_node_missing_from_the_pool(run_module):
    fake = FakeRouter({'app.test': [(APP1, 'app1')]})
    try:
        failed, result, _warnings = run_module(verify_router.main, {
            'router': entry_for(fake, pools={'app.test': [APP1, APP2]}), 'wait_timeout': 0.3})
    finally:
        fake.close()
    assert failed
    assert result['msg'].startswith('router edge-http (http 127.0.0.1:%d), stats %s: the pools are not the planned '
                                    'ones' % (fake.port, fake.stats_address))
    assert result['msg'].endswith('key app.test: missing 127.0.0.1:13032')
    assert result['missing'][0]['missing'] == [APP2]
    assert result['router'] == 'edge-http'
    assert fake.hosts == []


def test_node_never_answering(run_module):
    fake = FakeRouter({'app.test': [(APP1, 'app1')]}, members={'app.test': [APP1, APP2]})
    try:
        failed, result, _warnings = run_module(verify_router.main, {
            'router': entry_for(fake, probes=[{'key': 'app.test', 'answers': {APP1: 'app1', APP2: 'app2'}}]),
            'requests_per_node': 1, 'probe_retries': 1, 'probe_delay': 0})
    finally:
        fake.close()
    assert failed
    assert result['msg'] == (
        'router edge-http (http://127.0.0.1:%d), key app.test, after 2 round(s) of 2 requests: '
        "nodes that never answered: app2 (127.0.0.1:13032); bodies seen: 'app1' x2" % fake.port)
    assert result['probes'][0]['missing'] == ['app2']
    assert result['summary'][0].startswith(
        'edge-http (http 127.0.0.1:%d) key app.test: app1 [127.0.0.1:13031] weight=1 requests=4 live' % fake.port)


def test_tls_success(run_module, tls_router, pki):
    failed, result, _warnings = run_module(verify_router.main, {
        'router': tls_entry(tls_router, pki), 'requests_per_node': 1})
    assert not failed, result
    report = result['probes'][0]
    assert report['certificate_matches'] is True
    assert report['peer_certificate']['verified'] is True
    assert tls_router.server_names[0] == 'app.test'


def test_certificate_mismatch(run_module, tls_router, pki):
    failed, result, _warnings = run_module(verify_router.main, {
        'router': tls_entry(tls_router, pki, certificate=pki['stale.pem']), 'requests_per_node': 1,
        'probe_retries': 0})
    assert failed
    assert 'router edge-https (https://127.0.0.1:%d), key app.test' % tls_router.port in result['msg']
    assert 'certificate mismatch: the router presented %s (CN app.test), not the one in %s' % (
        result['probes'][0]['peer_certificate']['sha256_fingerprint'], pki['stale.pem']) in result['msg']
    assert result['probes'][0]['certificate_matches'] is False


def test_entry_refused_before_anything(run_module, router, pki):
    entry = entry_for(router)
    entry['probes'][0]['certificate'] = pki['leaf.pem']
    failed, result, _warnings = run_module(verify_router.main, {'router': entry})
    assert failed
    assert result['msg'] == "router.probes[0].certificate: is only for https routers; router edge-http is http, " \
                            "got '%s'" % pki['leaf.pem']
    assert router.stats.connections == 0


def test_entry_without_a_required_field(run_module, router):
    entry = entry_for(router)
    del entry['probes'][0]['answers']
    failed, result, _warnings = run_module(verify_router.main, {'router': entry})
    assert failed
    assert 'answers' in result['msg'] and 'router' in result['msg']


def test_unknown_key_is_refused(run_module, router):
    entry = entry_for(router)
    entry['expect'] = {}
    failed, result, _warnings = run_module(verify_router.main, {'router': entry})
    assert failed
    assert 'expect' in result['msg']


def test_bad_option(run_module, router):
    failed, result, _warnings = run_module(verify_router.main, {'router': entry_for(router), 'requests_per_node': 0})
    assert failed
    assert result['msg'] == 'requests_per_node: must be 1 or more, got 0'
    assert router.hosts == []


def test_a_key_the_router_does_not_serve(run_module, router):
    probes = [{'key': 'nobody.test', 'answers': {APP3: 'app3'}}]
    failed, result, _warnings = run_module(verify_router.main, {
        'router': entry_for(router, probes=probes), 'requests_per_node': 1, 'probe_retries': 0})
    assert failed
    assert 'nodes that never answered: app3 (127.0.0.1:13033)' in result['msg']
    assert router.hosts == ['nobody.test']
