# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""End-to-end tests: the real site playbook on this machine, 127.0.0.1 only.

They need the test virtualenv (.venv, `make venv`) and what pip needs to build uWSGI
2.0.31 with SSL (gcc, python3-dev, libssl-dev: `make apt` or scripts/demo.sh as root).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

import e2e_support as e2e


@pytest.fixture(scope='session', autouse=True)
def collection_link():
    """uwsgi.topology.* resolves to the working tree (ansible.cfg's collections_path)."""
    base = subprocess.check_output([os.path.join(e2e.ROOT, 'scripts', 'collection-link.sh')],
                                   universal_newlines=True).strip()
    return base


@pytest.fixture(scope='session')
def ansible_playbook():
    path = e2e.tool('ansible-playbook')
    if not os.path.exists(path):
        pytest.fail('ansible-playbook not found in %s: run `make venv` first' % e2e.VENV_BIN)
    return path
