# -*- coding: utf-8 -*-
"""without_uwsgi_env: uWSGI children run without the caller's UWSGI_* variables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.uwsgi.topology.plugins.module_utils.uwsgi_command import without_uwsgi_env


def test_no_stray_variables_leaves_the_command():
    assert without_uwsgi_env(['uwsgi', '--version'], {'PATH': '/bin'}) == ['uwsgi', '--version']


def test_stray_variables_are_unset_in_order():
    environ = {'UWSGI_PYPI': '/x', 'PATH': '/bin', 'UWSGI_A': '1', 'NOT_UWSGI_B': '2'}
    assert without_uwsgi_env(('uwsgi', '--version'), environ) == [
        'env', '-u', 'UWSGI_A', '-u', 'UWSGI_PYPI', 'uwsgi', '--version']
