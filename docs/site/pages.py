# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the site's own pages into the Sphinx source directory that antsibull-docs filled.

    python docs/site/pages.py REPO_ROOT SOURCE_DIR

* ``guide.md``: the README's guide, its sections "Your own inventory", "Day 2 ...",
  "Known limits of uWSGI 2.0" and "Requirements", taken from README.md as they are at
  build time (a section that is missing fails the build: the README and this list stay in step);
* ``spec-reference.md`` and ``manifest.md``: docs/spec-reference.md and docs/manifest.md;
  links between these pages (``docs/manifest.md`` in the README) are rewritten to the pages;
* ``ansible-references.rst``: a local target for every ``:ref:`` label the generated pages
  use that this site does not define and that is not of this collection (``common_return_values``,
  ``action_plugins``, other collections' modules): they live in the Ansible documentation, whose
  inventory cannot be fetched offline. A missing label of uwsgi.topology itself is left alone,
  so Sphinx still fails on it.
"""

from __future__ import absolute_import, division, print_function

import os
import re
import sys

GUIDE_SECTIONS = ('Your own inventory', 'Day 2', 'Known limits of uWSGI 2.0', 'Requirements')
DOCS = ('spec-reference.md', 'manifest.md')
OWN_LABEL_PREFIX = 'ansible_collections.uwsgi.topology.'


def fail(message):
    sys.exit('docs/site/pages.py: %s' % message)


def rewrite_links(text):
    """``](docs/manifest.md)`` -> ``](manifest.md)``: the pages sit side by side on the site."""
    for name in DOCS:
        text = text.replace('](docs/%s' % name, '](%s' % name)
    return text


def readme_sections(readme):
    """The ``## `` sections of README.md whose titles start with one of GUIDE_SECTIONS, in that order."""
    sections = {}
    title, body = None, []
    in_fence = False
    for line in readme.splitlines():
        if line.startswith('```'):
            in_fence = not in_fence
        if not in_fence and line.startswith('## '):
            if title is not None:
                sections[title] = body
            title, body = line[3:].strip(), [line]
            continue
        if not in_fence and line.startswith('# '):
            if title is not None:
                sections[title] = body
            title, body = None, []
            continue
        if title is not None:
            body.append(line)
    if title is not None:
        sections[title] = body
    out = []
    for wanted in GUIDE_SECTIONS:
        found = [t for t in sections if t.startswith(wanted)]
        if len(found) != 1:
            fail('README.md has %d sections whose title starts with %r (want exactly one; titles: %s)'
                 % (len(found), wanted, ', '.join(sections)))
        out.append('\n'.join(sections[found[0]]).rstrip() + '\n')
    return out


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def label_title(label):
    if label.startswith('ansible_collections.'):
        fqcn, _sep, kind = label[len('ansible_collections.'):].rpartition('_')
        return '%s (%s)' % (fqcn, kind)
    return label.replace('_', ' ').capitalize()


def external_labels(source):
    defined, used = set(), set()
    for dirpath, _dirnames, filenames in os.walk(source):
        for name in filenames:
            if not name.endswith('.rst'):
                continue
            with open(os.path.join(dirpath, name)) as f:
                text = f.read()
            defined.update(re.findall(r'^\.\. _([^:\s][^:]*):\s*$', text, re.M))
            for target in re.findall(r':ref:`([^`]+)`', text):
                match = re.match(r'^(?:.*<([^<>]+)>|([^<>]+))$', target, re.S)
                used.add((match.group(1) or match.group(2)).strip())
    return sorted(label for label in used - defined if not label.startswith(OWN_LABEL_PREFIX))


def references_page(labels):
    lines = [
        '.. Written by docs/site/pages.py.', '',
        'References to the Ansible documentation',
        '=======================================', '',
        'The collection\'s pages point to these parts of the Ansible documentation (and other collections\'',
        'documentation), which this site, built offline, does not include. Look them up in the Ansible',
        'documentation of your ansible-core version, or with ``ansible-doc`` for a module.', '',
    ]
    if not labels:
        lines.extend(['(None at the moment.)', ''])
    for label in labels:
        title = label_title(label)
        lines.extend(['.. _%s:' % label, '', title, '-' * len(title), '',
                      'Documented in the Ansible documentation under the label ``%s``.' % label, ''])
    return '\n'.join(lines)


def main():
    if len(sys.argv) != 3:
        fail('usage: pages.py REPO_ROOT SOURCE_DIR')
    root, source = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, 'README.md')) as f:
        readme = f.read()
    guide = ['# Guide', '',
             'From the collection\'s README: running it on your own inventory, day-2 operations, '
             'what uWSGI 2.0 cannot do, and what the collection needs.', '']
    guide.extend(readme_sections(readme))
    write(os.path.join(source, 'guide.md'), rewrite_links('\n'.join(guide)))
    for name in DOCS:
        with open(os.path.join(root, 'docs', name)) as f:
            write(os.path.join(source, name), rewrite_links(f.read()))
    labels = external_labels(source)
    write(os.path.join(source, 'ansible-references.rst'), references_page(labels))
    print('pages: guide.md (%d README sections), %s, ansible-references.rst (%d labels: %s)'
          % (len(GUIDE_SECTIONS), ', '.join(DOCS), len(labels), ', '.join(labels)))


if __name__ == '__main__':
    main()
