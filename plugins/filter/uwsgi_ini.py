# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter uwsgi.topology.uwsgi_ini: uWSGI option list -> INI text.

The documentation is in the sidecar file uwsgi_ini.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

FILTER = 'uwsgi.topology.uwsgi_ini'


def uwsgi_ini(options):
    """Render an option list from uwsgi_options as the text of a vassal file."""
    if isinstance(options, Mapping):
        raise AnsibleFilterError(
            '%s: got a dictionary, but this filter renders an option list; '
            'compile the spec first: {{ spec | uwsgi.topology.uwsgi_options | uwsgi.topology.uwsgi_ini }}'
            % FILTER)
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
        raise AnsibleFilterError(
            '%s: the input must be a list of [name, value] pairs, got %s'
            % (FILTER, type(options).__name__))
    try:
        return render_ini(options)
    except TopologyError as exc:
        raise AnsibleFilterError('%s: %s' % (FILTER, exc))


class FilterModule(object):
    """uWSGI INI renderer."""

    def filters(self):
        return {'uwsgi_ini': uwsgi_ini}
