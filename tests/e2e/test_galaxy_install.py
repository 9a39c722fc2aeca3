# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a Galaxy user gets it: `ansible-galaxy collection build`, the tarball
installed into an empty collections path, and the site playbook run by its FQCN from that
installed copy (outside the repository, without its ansible.cfg), then torn down.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import subprocess

import pytest

import e2e_support as e2e

PORT_OFFSET = 300


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp('galaxy')
    dist, collections = base / 'dist', base / 'collections'
    dist.mkdir()
    collections.mkdir()
    # An empty collections path: the repository's link (.build/collections) must not count as
    # an installed copy, nor its ansible.cfg apply.
    env = e2e.clean_env(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_CONFIG=_empty_config(base))
    subprocess.run([e2e.tool('ansible-galaxy'), 'collection', 'build', '--output-path', str(dist), e2e.ROOT],
                   check=True, cwd=str(base), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tarballs = glob.glob(str(dist / 'uwsgi-topology-*.tar.gz'))
    assert len(tarballs) == 1, tarballs
    out = subprocess.run([e2e.tool('ansible-galaxy'), 'collection', 'install', '--offline', '--no-deps',
                          '-p', str(collections), tarballs[0]],
                         check=True, cwd=str(base), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert (collections / 'ansible_collections' / 'uwsgi' / 'topology' / 'MANIFEST.json').is_file(), out.stdout
    return {'base': base, 'collections': collections, 'tarball': tarballs[0]}


def test_tarball_holds_the_roles_and_playbooks_but_no_dev_files(installed):
    root = installed['collections'] / 'ansible_collections' / 'uwsgi' / 'topology'
    for path in ('roles/emperor/meta/argument_specs.yml', 'roles/keys/tasks/main.yml',
                 'roles/router/tasks/main.yml', 'roles/node/files/demo_app.py', 'roles/verify/tasks/main.yml',
                 'playbooks/site.yml', 'playbooks/teardown.yml', 'plugins/modules/vassal.py'):
        assert (root / path).is_file(), path
    for path in ('.venv', '.build', 'scripts'):
        assert not (root / path).exists(), path


def test_site_playbook_by_fqcn_from_the_installed_copy(installed):
    base = installed['base']
    inventory = e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)
    e2e.require_free_ports(inventory)
    path = e2e.write_inventory(inventory, base / 'inventory.yml')
    prefix = base / 'prefix'
    # Only the installed copy is on the collections path (it needs no other collection); no
    # ansible.cfg of the repository applies in `base`.
    env = e2e.clean_env(prefix=prefix, ANSIBLE_COLLECTIONS_PATH=str(installed['collections']),
                        ANSIBLE_CONFIG=_empty_config(base))
    where = subprocess.run([e2e.tool('ansible-galaxy'), 'collection', 'list', 'uwsgi.topology'], cwd=str(base),
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                           check=False)
    assert str(installed['collections']) in where.stdout, where.stdout
    try:
        run = e2e.playbook('uwsgi.topology.site', path, env, cwd=str(base))
        assert run.returncode == 0, run.tail(120)
        assert str(installed['collections']) in run.output or 'Show the pools' in run.output
        # Through the bundled default's two router replicas: which nodes answer, not how often each.
        assert e2e.answered_by(inventory['all']['hosts'][e2e.HOST]['uwsgi_router_instances'][0]['port'],
                               'app.test', 6) == {'app1', 'app2'}
        down = e2e.playbook('uwsgi.topology.teardown', path, env, cwd=str(base))
        assert down.returncode == 0, down.tail(120)
        assert not prefix.exists()
        assert e2e.processes_under(prefix) == []
    finally:
        e2e.kill_leftovers(prefix)


def _empty_config(base):
    path = base / 'ansible.cfg'
    path.write_text('[defaults]\n')
    return str(path)
