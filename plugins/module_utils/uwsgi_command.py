# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running a uWSGI binary from a module without the caller's UWSGI_* variables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def without_uwsgi_env(command, environ=None):
    """``command`` prefixed with ``env -u NAME ...`` for every UWSGI_* variable set.

    uWSGI reads every ``UWSGI_<NAME>`` environment variable as the option ``--<name>``:
    a stray one (``UWSGI_PYPI=...``) makes a strict check refuse a valid file and a
    probe misread the build.  The Emperor's vassals do not inherit the controller's
    environment, so checks run without them.
    """
    environ = os.environ if environ is None else environ
    stray = sorted(name for name in environ if name.startswith('UWSGI_'))
    if not stray:
        return list(command)
    return ['env'] + [arg for name in stray for arg in ('-u', name)] + list(command)
