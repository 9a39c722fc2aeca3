# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File logic of the uwsgi.topology.vassal module: read, stage, validate, diff.

Nothing here knows about AnsibleModule; the module passes in what it needs
(a ``run_command`` callable) and maps TopologyError to ``fail_json``.

A vassal file lives in a directory that a uWSGI Emperor may be watching, and
the Emperor spawns every file there whose name ends in a config extension.
The new content is therefore staged as ``.<name>.<random>.tmp`` in the same
directory (same file system, so the final rename is atomic) and checked there
before it replaces the real file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.uwsgi_command import without_uwsgi_env

# Extensions the Emperor's directory and glob monitors turn into vassals.
CONFIG_EXTENSIONS = ('.ini', '.xml', '.yml', '.yaml', '.json', '.js')

TEMP_SUFFIX = '.tmp'


def directory_of(path):
    """Return the directory a vassal file at ``path`` lives in."""
    return os.path.dirname(os.path.abspath(path))


def resolve(path):
    """The file to write for ``path``: the target of a symbolic link, else ``path`` itself."""
    if os.path.islink(path):
        return os.path.realpath(path)
    return path


def check_directory(path):
    """Raise TopologyError unless ``path``'s directory exists."""
    directory = directory_of(path)
    if not os.path.isdir(directory):
        raise TopologyError(
            path, 'the directory %s does not exist; create it first '
            '(for example with ansible.builtin.file, state=directory)' % directory)


def read_current(path):
    """Return the current content of ``path`` as bytes, or None if it does not exist."""
    if not os.path.lexists(path):
        return None
    if os.path.isdir(path):
        raise TopologyError(path, 'is a directory; give the path of the vassal file itself')
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise TopologyError(path, 'cannot read the current file: %s' % exc)


def as_text(data):
    """Decode file content for a diff; None (no file) reads as ''."""
    if data is None:
        return ''
    return data.decode('utf-8', 'replace')


def content_diff(path, before, after):
    """A diff entry for Ansible's --diff: ``before`` and ``after`` are text."""
    return {
        'before_header': path,
        'after_header': path,
        'before': before,
        'after': after,
    }


def temp_prefix(path):
    """Prefix of the staging file: hidden, and named after the vassal file."""
    return '.%s.' % os.path.basename(path)


def write_temp(path, data):
    """Write ``data`` (bytes) to a new staging file next to ``path``; return its path.

    The name is ``.<basename>.<random>.tmp``: hidden, and never ending in one of
    CONFIG_EXTENSIONS, so an Emperor watching the directory does not start it.
    """
    directory = directory_of(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=directory)
    except (IOError, OSError) as exc:
        raise TopologyError(path, 'cannot create a temporary file in %s: %s' % (directory, exc))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
    except (IOError, OSError) as exc:
        remove_quietly(tmp)
        raise TopologyError(path, 'cannot write the temporary file %s: %s' % (tmp, exc))
    return tmp


def remove_quietly(path):
    """Remove ``path`` if it exists; errors are ignored (clean-up only)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def validate_command(uwsgi_binary, config_path):
    """The command that checks a config without starting anything.

    ``--strict`` makes an unknown option fatal (exit 1,
    ``[strict-mode] unknown config directive``); ``--version`` then prints the
    version and exits 0 if the whole file was accepted.
    """
    return [uwsgi_binary, '--strict', '--ini', config_path, '--version']


def validate(run_command, uwsgi_binary, path, config_path):
    """Run the validator on the staged ``config_path``; raise TopologyError on rejection.

    ``run_command`` is ``AnsibleModule.run_command`` (or anything with its
    signature).  It runs in the vassal directory, as the Emperor would.  The
    message carries the validator's output only, never the file's content.
    """
    command = without_uwsgi_env(validate_command(uwsgi_binary, config_path))
    rc, out, err = run_command(command, cwd=directory_of(path))
    if rc == 0:
        return
    output = '\n'.join(part.strip() for part in (out, err) if part and part.strip())
    raise TopologyError(
        path, 'uWSGI rejected the new content (`%s` exited %s); the file was left unchanged:\n%s'
        % (' '.join(command), rc, output or '(no output)'))
