# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter uwsgi.topology.topology_plan: inventory -> validated per-host topology plan.

The documentation is in the sidecar file topology_plan.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.manifest import CA_COMMON_NAME, CA_FILE, add_manifests
from ansible_collections.uwsgi.topology.plugins.module_utils.metrics_plan import METRICS_HOST_VARS, add_metrics
from ansible_collections.uwsgi.topology.plugins.module_utils.topology import HOST_VARS, plan_topology

FILTER = 'uwsgi.topology.topology_plan'

# The demo application the node role ships; nodes without a wsgi_file of their own run it.
DEMO_APP_SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'roles', 'node',
                                             'files', 'demo_app.py'))
DEFAULT_STORE = '~/.ansible/uwsgi-topology/keystore'


def _resolve(name):
    """Resolve a host name to one IPv4 address on the controller (None when it cannot)."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    return infos[0][4][0] if infos else None


def _plain(value):
    """Templated values as plain Python containers."""
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def topology_plan(hostvars, groups, router_group='uwsgi_routers', node_group='uwsgi_nodes', version='2.0',
                  secured=True, prefix='/var/lib/uwsgi-topology', build=None, announce_interval=None,
                  store=DEFAULT_STORE, ca_file=CA_FILE, ca_common_name=CA_COMMON_NAME, digest='SHA256'):
    """Validate the topology described by the inventory and plan every host's files."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError('%s: the input must be hostvars (a mapping of hosts), got %s'
                                 % (FILTER, type(hostvars).__name__))
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError('%s: groups must be the inventory groups mapping, got %s'
                                 % (FILTER, type(groups).__name__))
    wanted = set(groups.get(router_group) or []) | set(groups.get(node_group) or [])
    hosts = {}
    for host in wanted:
        if host not in hostvars:
            continue
        variables = hostvars[host]
        hosts[host] = dict((name, _plain(variables.get(name))) for name in HOST_VARS + METRICS_HOST_VARS
                           if variables.get(name) is not None)
    try:
        plan = plan_topology(hosts, _plain(groups), router_group=router_group, node_group=node_group,
                             version=str(version), secured=secured, default_prefix=prefix,
                             default_build=_plain(build), resolve=_resolve,
                             default_announce_interval=announce_interval, digest=digest)
        for name, value in (('store', store), ('ca_file', ca_file), ('ca_common_name', ca_common_name)):
            if not isinstance(value, str) or not value.strip():
                raise TopologyError('filter option %s' % name, 'must be a non-empty string, got %r' % (value,))
        if '/' in ca_file:
            raise TopologyError('filter option ca_file', 'must be a file name (it goes into each router host\'s certs '
                                'directory), got %r' % ca_file)
        add_manifests(plan, store=str(store), ca_file=str(ca_file), ca_common_name=str(ca_common_name),
                      demo_app_src=DEMO_APP_SRC)
        add_metrics(plan, hosts)
    except TopologyError as exc:
        raise AnsibleFilterError('%s: %s' % (FILTER, exc))
    for warning in plan['warnings']:
        Display().warning('%s: %s' % (FILTER, warning))
    return plan


class FilterModule(object):
    """uWSGI topology planner."""

    def filters(self):
        return {'topology_plan': topology_plan}
