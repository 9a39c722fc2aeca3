# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter uwsgi.topology.host_paths: a host's prefix -> where it keeps each of its files.

The documentation is in the sidecar file host_paths.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.uwsgi.topology.plugins.module_utils.topology import host_paths as _host_paths

FILTER = 'uwsgi.topology.host_paths'


def host_paths(prefix):
    """The layout under ``prefix``, as the planner gives it in each host's ``paths``."""
    if not isinstance(prefix, str) or not prefix.startswith('/') or not prefix.strip('/'):
        raise AnsibleFilterError('%s: the prefix must be an absolute path other than /, got %r' % (FILTER, prefix))
    return _host_paths(prefix.rstrip('/'))


class FilterModule(object):
    """A host's layout under its prefix."""

    def filters(self):
        return {'host_paths': host_paths}
