#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typing rules of the changelog fragments that ``antsibull-changelog lint`` cannot know.

    python scripts/changelog_types.py check REPO_ROOT
    python scripts/changelog_types.py rendered REPO_ROOT CHANGELOG.rst

``check`` (the fragments, changelogs/fragments/*.yml):

* an entry about the test infrastructure (it starts with "Test infrastructure") belongs in
  ``trivial``, which the release notes leave out;
* a new playbook or role is an object (``add object.playbook`` / ``add object.role`` with name and
  description, listed under "New Playbooks" / "New Roles"), not a sentence in ``minor_changes``
  starting with "New playbook" or "New role";
* exactly one fragment holds the release summary.

``rendered`` (the notes of a trial ``antsibull-changelog release``, scripts/changelog-check.sh):
a "Release Summary", every role of roles/ under "New Roles", every playbook of playbooks/*.yml
under "New Playbooks", and no "Test infrastructure" anywhere.
"""

from __future__ import absolute_import, division, print_function

import glob
import os
import re
import sys

import yaml

PRELUDE = 'release_summary'
NOT_IN_NOTES = ('trivial',)
INFRA = re.compile(r'^\s*test infrastructure\b', re.I)
NEW_OBJECT = re.compile(r'^\s*new (playbook|role)s?\b', re.I)


def fragments(root):
    paths = sorted(glob.glob(os.path.join(root, 'changelogs', 'fragments', '*.y*ml')))
    for path in paths:
        with open(path) as f:
            yield os.path.relpath(path, root), yaml.safe_load(f) or {}


def check(root):
    problems, summaries = [], []
    for path, data in fragments(root):
        for section, entries in data.items():
            if section == PRELUDE:
                summaries.append(path)
                continue
            if section.startswith('add ') or section in NOT_IN_NOTES:
                continue
            for entry in entries if isinstance(entries, list) else [entries]:
                text = str(entry)
                if INFRA.match(text):
                    problems.append('%s: %s: a test infrastructure entry belongs in `trivial:` (the release notes '
                                    'leave it out)' % (path, section))
                match = NEW_OBJECT.match(text)
                if match:
                    problems.append('%s: %s: a new %s is an object: `add object.%s:` with `- name: NAME` and '
                                    '`description: ...`' % (path, section, match.group(1).lower(), match.group(1).lower()))
    if len(summaries) != 1:
        problems.append('want exactly one fragment with `%s:`, found %d (%s)' % (PRELUDE, len(summaries), ', '.join(summaries)))
    for problem in problems:
        print('changelog: FAIL: %s' % problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print('changelog: fragments typed right (test infrastructure trivial, new roles and playbooks as objects, '
          'one release summary: %s)' % summaries[0])


def section(text, title):
    """The lines of a ``title`` section of the rendered notes (underlined with -), up to the next one."""
    match = re.search(r'^%s\n-+\n(.*?)(?=^\S[^\n]*\n[-=~]+\n|\Z)' % re.escape(title), text, re.M | re.S)
    return match.group(1) if match else None


def rendered(root, path):
    with open(path) as f:
        text = f.read()
    problems = []
    if section(text, 'Release Summary') is None:
        problems.append('no "Release Summary"')
    if re.search(r'test infrastructure', text, re.I):
        problems.append('"Test infrastructure" appears in the release notes (type it `trivial`)')
    wanted = {
        'New Roles': sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(root, 'roles', '*', 'tasks'))),
        'New Playbooks': sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(root, 'playbooks', '*.yml'))),
    }
    for title, names in wanted.items():
        body = section(text, title) or ''
        listed = set(re.findall(r'^- uwsgi\.topology\.([A-Za-z0-9_]+) - ', body, re.M))
        missing = [n for n in names if n not in listed]
        if missing:
            problems.append('"%s" lacks %s: add them to a fragment as `add object.%s:` entries'
                            % (title, ', '.join(missing), 'role' if title == 'New Roles' else 'playbook'))
    for problem in problems:
        print('changelog: FAIL: release notes %s: %s' % (path, problem), file=sys.stderr)
    if problems:
        sys.exit(1)
    print('changelog: trial release notes at %s: release summary, %d new roles, %d new playbooks, no test infrastructure'
          % (path, len(wanted['New Roles']), len(wanted['New Playbooks'])))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == 'check':
        check(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == 'rendered':
        rendered(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
