# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Broken inventories through the real site playbook.

Each case breaks the bundled inventory in one way. The play must fail with a message that
names the host and the variable, before any host is changed: the prefix (a fresh temporary
directory) must not exist afterwards. test_local_default.py runs one such case against a
running topology and checks that it answers as before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import e2e_support as e2e

PORT_OFFSET = 200


def _unknown_router(inv):
    e2e.instance(inv, 'node', 'app2')['subscriptions'][1]['router'] = 'edge-nowhere'


def _host_name_as_router_address(inv):
    e2e.host_vars(inv)['uwsgi_topology_advertise_address'] = 'router.example.invalid'


def _duplicate_port(inv):
    e2e.instance(inv, 'node', 'app2')['port'] = e2e.instance(inv, 'node', 'app1')['port']


def _federation_cycle(inv):
    base = e2e.instance(inv, 'router', 'edge-http')['port']
    e2e.instances(inv, 'router').extend([
        {'name': 'fed-a', 'type': 'fast', 'port': base + 10, 'subscription_port': base + 11,
         'secured': False, 'resubscribe_to': 'fed-b'},
        {'name': 'fed-b', 'type': 'fast', 'port': base + 12, 'subscription_port': base + 13,
         'secured': False, 'resubscribe_to': 'fed-a'},
    ])


def _signed_node_to_unsigned_router(inv):
    e2e.instance(inv, 'router', 'edge-http')['secured'] = False
    e2e.instance(inv, 'node', 'app1')['subscriptions'][0]['signed'] = True


def _option_of_21_on_20(inv):
    # subscription-mountpoints exists only in uWSGI 2.1 (master); 2.0 would silently ignore it.
    e2e.instance(inv, 'router', 'edge-http')['spec'] = {'subscriptions': {'server_params': {'mountpoints_depth': 1}}}


def _missing_certificate(inv):
    router = e2e.instance(inv, 'router', 'edge-https')
    router['cert'] = '/nonexistent/uwsgi-topology/edge-https.crt'
    router['key'] = '/nonexistent/uwsgi-topology/edge-https.key'


def _port_not_a_number(inv):
    e2e.instance(inv, 'node', 'api1')['port'] = 'thirteen'


def _instances_not_a_list(inv):
    e2e.host_vars(inv)['uwsgi_node_instances'] = {'name': 'app1', 'port': 13031}


def _secured_not_a_boolean(inv):
    e2e.instance(inv, 'router', 'edge-https')['secured'] = 'maybe'


def _role_variable_of_wrong_type(inv):
    e2e.host_vars(inv)['emperor_start_timeout'] = 'soon'


def _role_variable_not_a_choice(inv):
    e2e.host_vars(inv)['emperor_install_method'] = 'conda'


def _key_not_served(inv):
    e2e.instance(inv, 'node', 'api1')['subscriptions'][1]['key'] = 'other.test'


def _https_key_without_cert(inv):
    e2e.instance(inv, 'router', 'edge-https')['key'] = '/nonexistent/uwsgi-topology/edge-https.key'


def _https_cert_without_key(inv):
    e2e.instance(inv, 'router', 'edge-https')['cert'] = '/nonexistent/uwsgi-topology/edge-https.crt'


def _bind_address_with_port(inv):
    e2e.instance(inv, 'router', 'edge-http')['bind_address'] = '127.0.0.1:9000'


def _federated_edge_on_wildcard(inv):
    base = e2e.instance(inv, 'router', 'edge-http')['port']
    e2e.instances(inv, 'router').extend([
        {'name': 'fed-edge', 'type': 'fast', 'port': base + 10, 'subscription_port': base + 11,
         'secured': False, 'bind_address': '0.0.0.0', 'resubscribe_to': 'fed-core'},
        {'name': 'fed-core', 'type': 'fast', 'port': base + 12, 'subscription_port': base + 13, 'secured': False},
    ])


def _spec_router_a_string(inv):
    e2e.instance(inv, 'router', 'edge-http')['spec'] = {'router': 'fast'}


def _spec_options_overriding_processes(inv):
    e2e.instance(inv, 'node', 'app1')['spec'] = {'options': {'processes': 8}}


def _fractional_weight(inv):
    e2e.instance(inv, 'node', 'app1')['subscriptions'][0]['weight'] = 2.5


def _tolerance_zero(inv):
    e2e.instance(inv, 'router', 'edge-http')['tolerance'] = 0


def _play_version_unknown(inv):
    inv['all']['vars']['uwsgi_topology_version'] = '1.9'


def _play_announce_interval_zero(inv):
    inv['all']['vars']['uwsgi_topology_announce_interval'] = 0


def _play_digest_unknown(inv):
    inv['all']['vars']['uwsgi_topology_digest'] = 'MD5'


CASES = [
    # (id, break the inventory, substrings the output must contain)
    ('unknown-router', _unknown_router,
     ['host uwsgi-local: uwsgi_node_instances[1].subscriptions[1].router', "'edge-nowhere'"]),
    ('host-name-as-router-address', _host_name_as_router_address,
     ['host uwsgi-local: uwsgi_topology_advertise_address', 'router.example.invalid']),
    ('duplicate-port', _duplicate_port,
     ['host uwsgi-local: uwsgi_node_instances[', '].port', '(instance app2)', 'already claimed by instance app1']),
    ('federation-cycle', _federation_cycle,
     ['host uwsgi-local: uwsgi_router_instances[2].resubscribe_to', 'cycle']),
    ('signed-node-to-unsigned-router', _signed_node_to_unsigned_router,
     ['host uwsgi-local: uwsgi_node_instances[0].subscriptions[0].signed', 'does not check signatures']),
    ('option-of-2.1-on-2.0', _option_of_21_on_20,
     ['host uwsgi-local: uwsgi_router_instances[0]', 'subscription-mountpoints', '2.1']),
    ('missing-certificate', _missing_certificate,
     ['host uwsgi-local: uwsgi_router_instances[1].cert', '/nonexistent/uwsgi-topology/edge-https.crt']),
    ('port-not-a-number', _port_not_a_number,
     ['host uwsgi-local: uwsgi_node_instances[2].port', 'must be an integer']),
    ('instances-not-a-list', _instances_not_a_list,
     ['host uwsgi-local: uwsgi_node_instances', 'must be a list']),
    ('secured-not-a-boolean', _secured_not_a_boolean,
     ['host uwsgi-local: uwsgi_router_instances[1].secured', 'must be a boolean']),
    ('role-variable-of-wrong-type', _role_variable_of_wrong_type,
     ['[uwsgi-local]', 'emperor_start_timeout']),
    ('role-variable-not-a-choice', _role_variable_not_a_choice,
     ['[uwsgi-local]', 'emperor_install_method', 'conda']),
    ('key-not-served-by-router', _key_not_served,
     ['host uwsgi-local: uwsgi_node_instances[2].subscriptions[1].key', "'other.test'"]),
    ('https-key-without-cert', _https_key_without_cert,
     ['host uwsgi-local: uwsgi_router_instances[1].cert: is required with key', 'key and cert come as a pair']),
    ('https-cert-without-key', _https_cert_without_key,
     ['host uwsgi-local: uwsgi_router_instances[1].key: is required with cert', 'key and cert come as a pair']),
    ('bind-address-with-port', _bind_address_with_port,
     ['host uwsgi-local: uwsgi_router_instances[0].bind_address: ', "without a port, got '127.0.0.1:9000'"]),
    ('federated-edge-on-wildcard', _federated_edge_on_wildcard,
     ['host uwsgi-local: uwsgi_router_instances[2].bind_address: ', 'must not be the wildcard 0.0.0.0']),
    ('spec-router-a-string', _spec_router_a_string,
     ['host uwsgi-local: uwsgi_router_instances[0].spec.router: ', 'must be a mapping']),
    ('spec-options-overriding-processes', _spec_options_overriding_processes,
     ['host uwsgi-local: uwsgi_node_instances[0].spec.options.processes: ', "instance's processes"]),
    ('fractional-weight', _fractional_weight,
     ['host uwsgi-local: uwsgi_node_instances[0].subscriptions[0].weight: ', 'must be an integer, got 2.5']),
    ('tolerance-zero', _tolerance_zero,
     ['host uwsgi-local: uwsgi_router_instances[0].tolerance: ', 'must be >= 1, got 0']),
    ('play-version-unknown', _play_version_unknown,
     ["play variable uwsgi_topology_version: must be one of 2.0, 2.1, got '1.9'"]),
    ('play-announce-interval-zero', _play_announce_interval_zero,
     ['play variable uwsgi_topology_announce_interval: must be >= 1, got 0']),
    ('play-digest-unknown', _play_digest_unknown,
     ["play variable uwsgi_topology_digest: must be one of SHA1, SHA256, SHA384, SHA512, got 'MD5'"]),
]


@pytest.mark.parametrize('breaker, expected', [pytest.param(b, e, id=i) for i, b, e in CASES])
def test_broken_inventory_fails_before_any_change(tmp_path, breaker, expected):
    inventory = e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)
    breaker(inventory)
    path = e2e.write_inventory(inventory, tmp_path / 'inventory.yml')
    prefix = tmp_path / 'prefix'
    run = e2e.playbook('site.yml', path, e2e.clean_env(prefix=prefix))
    assert run.returncode != 0, run.tail()
    for text in expected:
        assert text in run.output, 'missing %r in:\n%s' % (text, run.tail(40))
    assert not prefix.exists(), 'the failed run created %s' % prefix
    # Nothing reported a change anywhere.
    assert all(counts['changed'] == 0 for counts in run.recap.values()), run.recap
