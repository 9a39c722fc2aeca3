# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File logic of the uwsgi.topology.vassal and uwsgi.topology.vassals modules:
compile, read, stage, validate, diff, put in place; read old vassals, wait for them to stop.

The modules map TopologyError to ``fail_json``.  Functions that act on the host
take the module as ``module`` and use only its public interface (``check_mode``,
``params['unsafe_writes']``, ``run_command``, ``get_bin_path``, ``warn``,
``atomic_move``, ``load_file_common_arguments``, ``set_fs_attributes_if_different``).

A vassal file lives in a directory that a uWSGI Emperor may be watching, and
the Emperor spawns every file there whose name ends in a config extension.
The new content is therefore staged as ``.<name>.<random>.tmp`` in the same
directory (same file system, so the final rename is atomic) and checked there
before it replaces the real file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import tempfile
import time

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.stats import parse_address
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


# --- compile and put in place (shared by the vassal and vassals modules) -------------------

def compile_text(spec=None, options=None, version=None, build=None, strict=True):
    """Return ``(options, ini text)``: ``spec`` compiled for the target, else the ready ``options``.

    ``build`` is the modules' ``build`` parameter: keys left unset (None) take the
    compiler's defaults.
    """
    if spec is not None:
        if build is not None:
            build = dict((key, value) for key, value in build.items() if value is not None)
        options = compile_options(spec, version=version, build=build, strict=strict)
    return options, render_ini(options)


class Validator(object):
    """The uWSGI binary that checks new content, looked up once, when first needed.

    Calling it returns the binary's path, or None when validation is off, or in
    check mode when the binary is missing (an earlier task that would install it
    was skipped): the module then warns and predicts without validating.
    """

    def __init__(self, module, enabled, wanted):
        self.module = module
        self.enabled = enabled
        self.wanted = wanted or 'uwsgi'
        self._looked_up = False
        self._binary = None

    def __call__(self):
        if not self.enabled:
            return None
        if not self._looked_up:
            self._binary = self._find()
            self._looked_up = True
        return self._binary

    def _find(self):
        wanted, module = self.wanted, self.module
        binary = wanted if os.sep in wanted else module.get_bin_path(wanted)
        if binary and os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary
        problem = ('uwsgi_binary %s is not an executable file' % binary if binary
                   else "no %r binary found on the target's PATH" % wanted)
        if module.check_mode:
            module.warn('%s; skipping validation in check mode' % problem)
            return None
        raise TopologyError(None, 'validate=true needs the uWSGI binary that will run the config: %s. '
                                  'Set uwsgi_binary, or validate=false.' % problem)


def put(module, path, ini, validator):
    """Make the file at ``path`` hold ``ini``, validated, atomically, only if it differs.

    ``path`` is the file to write (a link already resolved) in an existing
    directory.  ``validator`` is a Validator (called only when the content
    changes).  In check mode the new content is still validated in a staging
    file, which is removed again.  Returns ``(content_changed, diff)``: ``diff``
    is the content diff entry.
    """
    new = ini.encode('utf-8')
    current = read_current(path)
    diff = content_diff(path, as_text(current), ini)
    if current == new:
        return False, diff
    binary = validator()
    tmp = None
    try:
        if binary is not None or not module.check_mode:
            tmp = write_temp(path, new)
        if binary is not None:
            validate(module.run_command, binary, path, tmp)
        if not module.check_mode:
            module.atomic_move(tmp, path, unsafe_writes=module.params['unsafe_writes'])
            tmp = None
    finally:
        if tmp is not None:
            remove_quietly(tmp)
    return True, diff


def set_attributes(module, path, changed):
    """Apply the file options (owner, group, mode, ...) to an existing ``path``.

    Returns ``(changed, diff)``: ``changed`` is the given value or True when an
    attribute changed; ``diff`` is the attribute diff entry, or None if none changed.
    """
    if not os.path.lexists(path):
        return changed, None
    attributes = {'before': {'path': path}, 'after': {'path': path}}
    file_args = module.load_file_common_arguments(module.params, path=path)
    changed = module.set_fs_attributes_if_different(file_args, changed, diff=attributes)
    if len(attributes['before']) > 1 or len(attributes['after']) > 1:
        return changed, attributes
    return changed, None


# --- old vassals: what they listen on, and waiting until they stopped -----------------------

# Options whose value is an address the instance listens on (the first one uWSGI also
# announces when a subscription has no addr=, core/subscription.c).
SOCKET_OPTIONS = ('socket', 'uwsgi-socket', 'http-socket')


def ini_options(text, section='uwsgi'):
    """The ``(name, value)`` pairs of ``section`` in INI ``text``, in file order, repeats kept.

    Read as uWSGI's own INI reader does (core/ini.c): lines are stripped, empty
    lines and lines starting with ``;`` or ``#`` are skipped, ``[name]`` opens a
    section, anything else is ``name = value`` split at the first ``=`` (a line
    without ``=`` is a flag with an empty value).  ``%%`` reads as ``%`` (the
    compiler doubles ``%`` so that uWSGI's magic variables leave it alone).
    """
    current = None
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in ';#':
            continue
        if line.startswith('['):
            current = line[1:-1] if line.endswith(']') else line[1:]
            continue
        if current != section:
            continue
        name, _sep, value = line.partition('=')
        pairs.append((name.strip(), value.strip().replace('%%', '%')))
    return pairs


def listening_sockets(data):
    """The addresses a vassal file (bytes) listens on: its SOCKET_OPTIONS values, in order."""
    return [value for name, value in ini_options(as_text(data)) if name in SOCKET_OPTIONS and value]


def socket_target(address):
    """``(family, target)`` to connect to ``address`` as uWSGI binds it, or None if it cannot be.

    ``HOST:PORT`` is TCP (``:PORT`` and ``0.0.0.0:PORT`` through the loopback),
    anything else a UNIX socket path; a shared-socket reference (``=N``) or an
    unexpanded ``%(placeholder)`` cannot be connected to.
    """
    if address.startswith('=') or '%(' in address:
        return None
    try:
        return parse_address(address)
    except TopologyError:
        return None


def sockets_clash(first, second):
    """Whether two listening addresses are the same bind: equal, or one port with a wildcard host."""
    if first == second:
        return True
    if ':' not in first or ':' not in second:
        return False
    host1, _sep, port1 = first.rpartition(':')
    host2, _sep, port2 = second.rpartition(':')
    wildcard = ('', '0.0.0.0', '*', '[::]')
    return port1 == port2 and (host1 == host2 or host1 in wildcard or host2 in wildcard)


def accepts(target, timeout=1.0):
    """Whether ``(family, target)`` accepts a connection now."""
    family, address = target
    try:
        if family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            finally:
                sock.close()
        else:
            socket.create_connection(address, timeout=timeout).close()
    except (OSError, socket.error):
        return False
    return True


def wait_closed(targets, deadline, interval=0.2, clock=time.monotonic, sleep=time.sleep):
    """Wait until no target in ``targets`` (a list of ``(family, target)``) accepts connections.

    Returns the targets still accepting at ``deadline`` (a ``clock()`` value):
    an empty list means they all stopped.
    """
    waiting = list(targets)
    while waiting:
        remaining = deadline - clock()
        waiting = [target for target in waiting if accepts(target, timeout=max(0.1, min(1.0, remaining)))]
        if not waiting or clock() >= deadline:
            break
        sleep(min(interval, max(0.0, deadline - clock())))
    return waiting
