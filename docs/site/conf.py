# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx configuration of the collection's documentation site (``make docs``, scripts/docs.sh).

Started from ``antsibull-docs sphinx-init --use-current uwsgi.topology`` (antsibull-docs 2.28.0), then:

* built offline: no ``sphinx.ext.intersphinx`` (its inventories cannot be fetched here); the few labels
  that only the Ansible documentation defines (``common_return_values``, ``action_plugins``, other
  collections' modules, ...) get a local page that says where they are (written by docs/site/pages.py);
* ``myst_parser`` for the Markdown pages: the README's guide, docs/spec-reference.md, docs/manifest.md;
* scripts/docs.sh runs ``sphinx-build -W --keep-going``: every warning fails the build.
"""

project = 'uwsgi.topology'
copyright = 'uwsgi.topology contributors'  # pylint: disable=redefined-builtin

title = 'uwsgi.topology Collection Documentation'
html_short_title = 'uwsgi.topology'

extensions = ['sphinx_antsibull_ext', 'myst_parser']

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

# Markdown: ``#`` headings get anchors down to level 3, so that links like ``manifest.md#plan-keystore`` resolve.
myst_heading_anchors = 3

default_role = 'any'
