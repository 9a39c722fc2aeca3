# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An https router with the operator's own certificate (the instance's `cert` and `key`, from
any CA) and a key without an SNI certificate (`sni: false`): the play deploys it and its verify
step accepts that very certificate, asked for by the key's name as a client would, without
expecting the topology CA or a certificate named after the router.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import e2e_support as e2e

PORT_OFFSET = 300
KEY = 'app.test'


def _own_certificate(directory):
    """A self-signed certificate for www.own.test and app.test, and its key (0600)."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'www.own.test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(u'www.own.test'), x509.DNSName(KEY)]),
                           critical=False)
            .sign(private, hashes.SHA256()))
    cert_path, key_path = str(directory / 'own.crt'), str(directory / 'own.key')
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as handle:
        handle.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope='module')
def deployed(tmp_path_factory):
    base = tmp_path_factory.mktemp('own-certificate')
    cert_path, key_path, der = _own_certificate(base)
    inventory = e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)
    variables = e2e.host_vars(inventory)
    router = e2e.instance(inventory, 'router', 'edge-https')
    router.update(cert=cert_path, key=key_path, keys=[KEY])
    variables['uwsgi_router_instances'] = [router]
    node = e2e.instance(inventory, 'node', 'app1')
    node['subscriptions'] = [{'router': 'edge-https', 'key': KEY, 'sni': False}]
    variables['uwsgi_node_instances'] = [node]
    state = {'prefix': base / 'prefix', 'router': router, 'der': der,
             'inventory_path': e2e.write_inventory(inventory, base / 'inventory.yml')}
    state['env'] = e2e.clean_env(prefix=state['prefix'])
    e2e.require_free_ports(inventory)
    state['run'] = e2e.playbook('site.yml', state['inventory_path'], state['env'])
    yield state
    e2e.tear_down(state['prefix'], state['inventory_path'], state['env'])


def test_site_deploys_and_verifies_with_the_operators_certificate(deployed):
    run = deployed['run']
    print('site.yml with an own certificate: %.1f s, recap %s' % (run.seconds, run.recap))
    assert run.returncode == 0, run.tail(120)
    # The verify role's requests went through the router: its summary shows app1 with requests.
    summary = r'edge-https \(https 127\.0\.0\.1:%d\) key app\.test: app1 \[127\.0\.0\.1:\d+\] weight=1 requests=[1-9]'
    assert re.search(summary % deployed['router']['port'], run.output), run.tail(80)
    # No certificate was generated for the router: it serves the operator's files.
    assert not (deployed['prefix'] / 'certs' / 'edge-https.crt').exists()
    assert not (deployed['prefix'] / 'certs' / 'edge-https.key').exists()


def test_clients_asking_for_the_key_get_the_operators_certificate(deployed):
    assert deployed['run'].returncode == 0, deployed['run'].tail(40)
    status, body, der = e2e.http_get(deployed['router']['port'], KEY, tls=True)
    assert (status, body) == (200, 'app1')
    assert der == deployed['der']
