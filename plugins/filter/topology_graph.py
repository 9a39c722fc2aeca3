# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter uwsgi.topology.topology_graph: the plan -> a picture of the topology (Graphviz DOT or Mermaid).

The documentation is in the sidecar file topology_graph.yml; the graph is built in
plugins/module_utils/graph.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.graph import FORMATS, render

FILTER = 'uwsgi.topology.topology_graph'


def _plain(value):
    """Templated values (hostvars, registered results) as plain Python containers."""
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def topology_graph(plan, format='dot', pools=None):  # pylint: disable=redefined-builtin
    """The picture of ``plan`` as DOT or Mermaid text; with ``pools``, what the routers' stats hold."""
    if not isinstance(plan, Mapping) or not isinstance(plan.get('hosts'), Mapping):
        raise AnsibleFilterError('%s: the input must be the plan of the uwsgi.topology.topology_plan filter (a mapping '
                                 'with "hosts"), got %s' % (FILTER, type(plan).__name__))
    if not isinstance(format, str) or format not in FORMATS:
        raise AnsibleFilterError('%s: format must be one of %s, got %r' % (FILTER, ', '.join(FORMATS), format))
    if pools is not None and not isinstance(pools, (Mapping, list, tuple)):
        raise AnsibleFilterError('%s: pools must be a mapping router -> pools or a list of router_info or '
                                 'verify_router results, got %s' % (FILTER, type(pools).__name__))
    try:
        return render(_plain(plan), str(format), None if pools is None else _plain(pools))
    except TopologyError as exc:
        raise AnsibleFilterError('%s: %s' % (FILTER, exc))


class FilterModule(object):
    """A picture of the uWSGI topology."""

    def filters(self):
        return {'topology_graph': topology_graph}
