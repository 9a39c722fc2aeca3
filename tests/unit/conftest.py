# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make ``ansible_collections.uwsgi.topology`` importable for a plain ``pytest``.

The collection's code imports itself by its full name
(``ansible_collections.uwsgi.topology.plugins.module_utils...``), which only
resolves when the repository sits at ``.../ansible_collections/uwsgi/topology``.
A clone usually does not, so at session start this file builds
``<repo>/.build/collections/ansible_collections/uwsgi/topology -> <repo>``
(``.build/`` is git-ignored) and puts ``<repo>/.build/collections`` first on
``sys.path``.

``ansible_collections`` and ``ansible_collections.uwsgi`` stay namespace
packages (no ``__init__.py``), so they merge with the ``ansible_collections``
tree that the ``ansible`` pip package installs in site-packages:
``community.crypto`` keeps importing from there, ``uwsgi.topology`` from here.

When the repository already is at ``.../ansible_collections/uwsgi/topology``
(``ansible-test units`` runs it from such a place), that tree is used as it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

NAMESPACE = 'uwsgi'
NAME = 'topology'

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collections_root(repo_root):
    """Return the directory that holds ``ansible_collections`` for this repo.

    Builds the ``.build/collections`` symlink tree when the repository is not
    already inside an ``ansible_collections/<namespace>/<name>`` layout.
    """
    real_root = os.path.realpath(repo_root)
    parent, name = os.path.split(real_root)
    grandparent, namespace = os.path.split(parent)
    base, marker = os.path.split(grandparent)
    if (marker, namespace, name) == ('ansible_collections', NAMESPACE, NAME):
        return base

    base = os.path.join(repo_root, '.build', 'collections')
    namespace_dir = os.path.join(base, 'ansible_collections', NAMESPACE)
    link = os.path.join(namespace_dir, NAME)
    try:
        os.makedirs(namespace_dir)
    except OSError:
        if not os.path.isdir(namespace_dir):
            raise
    if os.path.islink(link) and os.path.realpath(link) != real_root:
        # A stale link, left by a clone that lived elsewhere.
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(real_root, link)
        except OSError:
            # Another pytest process (xdist) won the race; fine if it agrees.
            if os.path.realpath(link) != real_root:
                raise
    if os.path.realpath(link) != real_root:
        raise RuntimeError('%s exists and is not a link to %s; remove it' % (link, real_root))
    return base


def _make_importable():
    base = _collections_root(REPO_ROOT)
    if base in sys.path:
        sys.path.remove(base)
    sys.path.insert(0, base)
    # If ansible-core's collection loader gets installed by some test, it
    # searches ANSIBLE_COLLECTIONS_PATH, not sys.path: point it here as well.
    paths = os.environ.get('ANSIBLE_COLLECTIONS_PATH', '')
    if base not in paths.split(os.pathsep):
        os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(p for p in (base, paths) if p)
    # A namespace package imported before this point recomputes its __path__
    # when sys.path changes, so nothing else needs refreshing.


_make_importable()
