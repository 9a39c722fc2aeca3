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
