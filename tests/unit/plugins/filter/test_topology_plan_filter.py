# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the topology_plan filter: the planner behind Ansible's filter interface."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.uwsgi.topology.plugins.filter import topology_plan as plugin
from ansible_collections.uwsgi.topology.plugins.filter.topology_plan import topology_plan

GROUPS = {'all': ['r', 'n'], 'uwsgi_routers': ['r'], 'uwsgi_nodes': ['n']}


def hostvars(router_address='10.0.0.1', secured=True):
    return {
        'r': {'ansible_host': router_address, 'unrelated': 'ignored', 'uwsgi_router_instances': [
            {'name': 'edge', 'type': 'http', 'port': 8080, 'subscription_port': 2626, 'secured': secured}]},
        'n': {'ansible_host': '10.0.1.1', 'uwsgi_node_instances': [
            {'name': 'app', 'port': 3031, 'subscriptions': [{'router': 'edge', 'key': 'app.test'}]}]},
    }


@pytest.fixture
def shown(monkeypatch):
    seen = []
    monkeypatch.setattr(Display, 'warning', lambda self, msg, *args, **kwargs: seen.append(msg))
    return seen


def test_registered_under_its_name():
    assert plugin.FilterModule().filters() == {'topology_plan': topology_plan}


def test_plan_without_warnings_shows_none(shown):
    result = topology_plan(hostvars(), GROUPS)
    assert result['routers'] == ['edge'] and result['nodes'] == ['app']
    assert result['keys'] == ['app.test']
    assert result['warnings'] == [] and shown == []


def test_each_plan_warning_is_shown_as_an_ansible_warning(shown):
    result = topology_plan(hostvars(secured=False), GROUPS)
    assert len(result['warnings']) == 1
    assert shown == ['uwsgi.topology.topology_plan: ' + result['warnings'][0]]
    assert 'takes unsigned subscriptions on 10.0.0.1:2626' in shown[0]


def test_loopback_router_is_not_exposed(shown):
    assert topology_plan(hostvars('127.0.0.1', secured=False), GROUPS)['warnings'] == [] and shown == []


def test_inventory_errors_become_filter_errors_naming_the_path(shown):
    broken = hostvars()
    broken['n']['uwsgi_node_instances'][0]['subscriptions'][0]['router'] = 'nowhere'
    with pytest.raises(AnsibleFilterError) as exc:
        topology_plan(broken, GROUPS)
    assert str(exc.value).startswith('uwsgi.topology.topology_plan: host n: '
                                     'uwsgi_node_instances[0].subscriptions[0].router')
    assert shown == []


@pytest.mark.parametrize('args, fragment', [
    (('not hostvars', GROUPS), 'the input must be hostvars'),
    (({}, ['not', 'groups']), 'groups must be the inventory groups mapping'),
])
def test_wrong_inputs(args, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        topology_plan(*args)
