# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter uwsgi.topology.uwsgi_options: topology spec -> uWSGI option list.

The documentation is in the sidecar file uwsgi_options.yml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import (
    DEFAULT_VERSION,
    VERSIONS,
    compile_options,
)
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

FILTER = 'uwsgi.topology.uwsgi_options'


def _type_name(value):
    return type(value).__name__


def uwsgi_options(spec, version=DEFAULT_VERSION, build=None, strict=True):
    """Compile one instance's spec into its ordered ``[name, value]`` list."""
    if not isinstance(spec, Mapping):
        raise AnsibleFilterError(
            '%s: the input must be a dictionary (the instance spec), got %s'
            % (FILTER, _type_name(spec)))
    if not isinstance(version, str):
        raise AnsibleFilterError(
            '%s: version must be a string, one of %s, got %s %r (quote it: version=%r)'
            % (FILTER, ', '.join(VERSIONS), _type_name(version), version, str(version)))
    if version not in VERSIONS:
        raise AnsibleFilterError(
            '%s: version must be one of %s, got %r' % (FILTER, ', '.join(VERSIONS), version))
    if build is not None and not isinstance(build, Mapping):
        raise AnsibleFilterError(
            '%s: build must be a dictionary or omitted, got %s' % (FILTER, _type_name(build)))
    if not isinstance(strict, bool):
        raise AnsibleFilterError(
            '%s: strict must be a boolean, got %s %r' % (FILTER, _type_name(strict), strict))
    try:
        return compile_options(spec, version=version, build=build, strict=strict)
    except TopologyError as exc:
        raise AnsibleFilterError('%s: %s' % (FILTER, exc))


class FilterModule(object):
    """uWSGI topology spec compiler."""

    def filters(self):
        return {'uwsgi_options': uwsgi_options}
