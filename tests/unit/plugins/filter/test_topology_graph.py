# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the topology_graph filter: the picture behind Ansible's filter interface."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.uwsgi.topology.plugins.filter import topology_graph as plugin
from ansible_collections.uwsgi.topology.plugins.filter.topology_graph import topology_graph
from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_graph import GOLDEN, bundled_default, local


def golden(name):
    with open(os.path.join(GOLDEN, name)) as handle:
        return handle.read()


def test_registered_under_its_name():
    assert plugin.FilterModule().filters() == {'topology_graph': topology_graph}


def test_dot_by_default_and_mermaid_on_request():
    plan = bundled_default()
    assert topology_graph(plan) == golden('default.dot')
    assert topology_graph(plan, format='mermaid') == golden('default.mmd')


def test_templated_values_are_read_as_plain_ones():
    # What set_fact and register hand over: unsafe strings inside mappings and lists.
    pools = {'edge-http': {'app.test': ['app1'], 'api.test': []}}
    text = topology_graph(wrap_var(local()), format='dot', pools=wrap_var(pools))
    assert type(text) is str  # pylint: disable=unidiomatic-typecheck
    assert 'MISSING' in text and 'legend' in text


@pytest.mark.parametrize('args, kwargs, message', [
    (('not a plan',), {}, 'uwsgi.topology.topology_graph: the input must be the plan of the '
                          'uwsgi.topology.topology_plan filter (a mapping with "hosts"), got str'),
    (({'routers': []},), {}, 'uwsgi.topology.topology_graph: the input must be the plan'),
    ((None,), {'format': 'svg'}, "uwsgi.topology.topology_graph: format must be one of dot, mermaid, got 'svg'"),
    ((None,), {'format': ['dot']}, "uwsgi.topology.topology_graph: format must be one of dot, mermaid, got ['dot']"),
    ((None,), {'pools': 'edge-http'}, 'uwsgi.topology.topology_graph: pools must be a mapping router -> pools or '
                                      'a list of router_info or verify_router results, got str'),
    ((None,), {'pools': {'edge': {}}}, "uwsgi.topology.topology_graph: pools['edge']: router 'edge' is not in the "
                                       "plan; its routers: edge-http, edge-https"),
    (({'hosts': {'h': []}},), {}, "uwsgi.topology.topology_graph: plan.hosts['h']: must be a host plan"),
])
def test_bad_arguments_are_filter_errors(args, kwargs, message):
    args = tuple(local() if arg is None else arg for arg in args)
    with pytest.raises(AnsibleFilterError) as info:
        topology_graph(*args, **kwargs)
    assert str(info.value).startswith(message), str(info.value)
