# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement of a host's planned files: the logic of the ``uwsgi.topology.files`` action and module.

The manifest (docs/manifest.md, ``plan.hosts[HOST].manifest``) names, for one host, the directories
to create, the files to place (in order: a router reloads when a certificate changes, so a private key
must be in place before its certificate) and the directories in which whatever the plan does not name
is removed.  The action plugin reads each ``src`` on the controller (``gather_contents``) and hands the
contents to the module, which runs ``Placer`` on the host.

Nothing here knows about AnsibleModule or the action plugin: the callers pass in what they need and
map TopologyError to a failure.  The content of a file marked ``secret`` never leaves this module in a
result, a diff or an error message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import grp
import os
import pwd
import re
import shutil
import stat
import tempfile

from collections import namedtuple
from collections.abc import Mapping

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

Directory = namedtuple('Directory', 'where path mode private')
PlannedFile = namedtuple('PlannedFile', 'where index src dest mode secret private kind key stage')
Current = namedtuple('Current', 'kind content mode uid gid')
Ids = namedtuple('Ids', 'uid gid')

TEMP_SUFFIX = '.tmp'

# uid/gid stand-in for an owner that does not exist yet (check mode only): it matches no file.
UNKNOWN_ID = -2

_OCTAL_MODE = re.compile(r'^0?[0-7]{3,4}$')

SECRET_BEFORE = '(secret: the current content is not shown)\n'
SECRET_AFTER = '(secret: the new content is not shown)\n'


# --- the request -----------------------------------------------------------------------------

def parse_mode(value, where):
    """Return the numeric mode of ``value`` (an octal string such as ``'0600'``, or an integer)."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if 0 <= value <= 0o7777:
            return value
    elif isinstance(value, str) and _OCTAL_MODE.match(value.strip()):
        return int(value.strip(), 8)
    raise TopologyError(where, 'mode %r is not a numeric file mode; write it as a quoted octal string '
                               'such as \'0644\'' % (value,))


def format_mode(mode):
    return '%04o' % mode


def _absolute(value, where, what):
    if not isinstance(value, str) or not value:
        raise TopologyError(where, '%s is required (an absolute path on the host), got %r' % (what, value))
    if not os.path.isabs(value):
        raise TopologyError(where, '%s %r is not an absolute path' % (what, value))
    return os.path.normpath(value)


def normalize_directories(directories):
    """The ``directories`` option as Directory tuples; raise TopologyError naming a bad entry."""
    out = []
    for index, entry in enumerate(directories or []):
        where = 'directories[%d]' % index
        if not isinstance(entry, Mapping):
            raise TopologyError(where, 'must be a mapping with path, mode and private, got %r' % (entry,))
        path = _absolute(entry.get('path'), where, 'path')
        where = '%s (%s)' % (where, path)
        private = bool(entry.get('private'))
        mode = entry.get('mode')
        mode = parse_mode(mode, where) if mode is not None else (0o700 if private else 0o755)
        out.append(Directory(where, path, mode, private))
    return out


def normalize_files(files):
    """The ``files`` option as PlannedFile tuples; raise TopologyError naming a bad entry."""
    out = []
    seen = {}
    for index, entry in enumerate(files or []):
        where = 'files[%d]' % index
        if not isinstance(entry, Mapping):
            raise TopologyError(where, 'must be a mapping with src, dest, mode, secret, private and kind, '
                                       'got a %s' % type(entry).__name__)
        dest = _absolute(entry.get('dest'), where, 'dest')
        where = '%s (%s)' % (where, dest)
        if dest in seen:
            raise TopologyError(where, 'dest is planned twice, also as files[%d]' % seen[dest])
        seen[dest] = index
        secret = bool(entry.get('secret'))
        private = bool(entry.get('private'))
        mode = entry.get('mode')
        mode = parse_mode(mode, where) if mode is not None else (0o600 if secret or private else 0o644)
        if secret and mode & 0o007:
            raise TopologyError(where, 'a secret file must not be readable by others, but mode is %s'
                                % format_mode(mode))
        stage = entry.get('stage')
        if stage is not None:
            stage = _absolute(stage, where, 'stage')
            if os.path.dirname(stage) != os.path.dirname(dest) or stage == dest:
                raise TopologyError(where, 'stage must be another file in the directory of dest, got %s' % stage)
        out.append(PlannedFile(where, index, entry.get('src'), dest, mode, secret, private,
                               entry.get('kind') or 'file', entry.get('key'), stage))
    return out


def normalize_paths(paths, option):
    """A list of absolute host paths (``prune``, ``keep``), normalized, duplicates dropped."""
    out = []
    for index, path in enumerate(paths or []):
        path = _absolute(path, '%s[%d]' % (option, index), 'the path')
        if path not in out:
            out.append(path)
    return out


def ancestors(path):
    """Every directory above ``path``, up to ``/`` (excluded)."""
    out = []
    parent = os.path.dirname(path)
    while parent and parent != os.path.dirname(parent):
        out.append(parent)
        parent = os.path.dirname(parent)
    return out


def protected_paths(directories, files, keep=()):
    """Paths pruning leaves: planned files and directories, the ``keep`` paths, and their ancestors."""
    protected = set()
    staged = [f.stage for f in files if f.stage]
    for path in [d.path for d in directories] + [f.dest for f in files] + staged + list(keep):
        protected.add(path)
        protected.update(ancestors(path))
    return protected


# --- contents: read on the controller, carried to the host in base64 --------------------------

def encode_content(data):
    return base64.b64encode(data).decode('ascii')


def decode_content(text, where):
    try:
        return base64.b64decode(text.encode('ascii') if isinstance(text, str) else text, validate=True)
    except (binascii.Error, ValueError, TypeError, UnicodeError):
        # The text may be a secret: never echo it.
        raise TopologyError(where, 'the content passed by the action plugin is not valid base64')


def gather_contents(files, check_mode, read):
    """Read every ``src`` of ``files`` (the raw option, on the controller); return the contents list.

    ``read(src)`` returns the bytes of ``src``, or None when it does not exist.  Each item of the
    result is the base64 text of one file, in the order of ``files``.  A missing ``src`` fails,
    naming it and the dest it was to be placed at; in check mode it gives None instead (the key
    store was not written because its action ran in check mode too): the module then predicts a
    change.
    """
    if not isinstance(files, list):
        raise TopologyError('files', 'must be a list of mappings, got a %s' % type(files).__name__)
    contents = []
    for index, entry in enumerate(files):
        where = 'files[%d]' % index
        if not isinstance(entry, Mapping):
            raise TopologyError(where, 'must be a mapping with src and dest, got a %s' % type(entry).__name__)
        src, dest = entry.get('src'), entry.get('dest')
        if not isinstance(src, str) or not src:
            raise TopologyError(where, 'needs src, the path of the file on the controller (dest: %s)' % (dest,))
        data = read(src)
        if data is None:
            if check_mode:
                contents.append(None)
                continue
            raise TopologyError(where + '.src', '%s does not exist on the controller; it is to be placed at %s on '
                                'this host. Write the key store first (uwsgi.topology.keystore), or fix the '
                                'path.' % (src, dest))
        contents.append(encode_content(data))
    return contents


# --- the host: what is there -------------------------------------------------------------------

def kind_of(info):
    if stat.S_ISDIR(info.st_mode):
        return 'directory'
    if stat.S_ISLNK(info.st_mode):
        return 'link'
    if stat.S_ISREG(info.st_mode):
        return 'file'
    return 'special'


def inspect(path, read=True):
    """What is at ``path`` now (a symbolic link is not followed), or None.

    The content of a regular file is read unless ``read`` is false.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TopologyError(path, 'cannot look at it: %s' % exc)
    kind = kind_of(info)
    content = None
    if kind == 'file' and read:
        try:
            with open(path, 'rb') as handle:
                content = handle.read()
        except (IOError, OSError) as exc:
            raise TopologyError(path, 'cannot read the current file: %s' % exc)
    return Current(kind, content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


def resolve_ids(owner, group):
    """Ids(uid, gid) of ``owner`` and ``group`` (names or numbers; None: not managed).

    Raise TopologyError naming the option when a name does not exist on this host.
    """
    uid = gid = None
    if owner not in (None, ''):
        owner = str(owner)
        if owner.isdigit():
            uid = int(owner)
        else:
            try:
                uid = pwd.getpwnam(owner).pw_uid
            except KeyError:
                raise TopologyError('owner', 'the user %r does not exist on this host (the owner of the '
                                             'entries with private: true)' % owner)
    if group not in (None, ''):
        group = str(group)
        if group.isdigit():
            gid = int(group)
        else:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise TopologyError('group', 'the group %r does not exist on this host (the group of the '
                                             'entries with private: true)' % group)
    return Ids(uid, gid)


def attribute_changes(current, mode, ids):
    """({name: before}, {name: after}) of the attributes of ``current`` that differ from the wanted ones."""
    before, after = {}, {}
    if current.mode != mode:
        before['mode'], after['mode'] = format_mode(current.mode), format_mode(mode)
    if ids.uid is not None and current.uid != ids.uid:
        before['owner'], after['owner'] = current.uid, _shown_id(ids.uid)
    if ids.gid is not None and current.gid != ids.gid:
        before['group'], after['group'] = current.gid, _shown_id(ids.gid)
    return before, after


def _shown_id(value):
    return '(not yet on the host)' if value == UNKNOWN_ID else value


# --- the host: acting --------------------------------------------------------------------------

def write_atomically(dest, data, mode, ids, replace=None, before_replace=None):
    """Put ``data`` at ``dest`` through a temporary file in the same directory.

    The temporary file is created readable by its creator only (mkstemp), then given its owner and
    its mode, and only then renamed over ``dest``: a secret is never readable by anyone else, not
    even for a moment.  ``replace(tmp, dest)`` does the rename (default: os.replace);
    ``before_replace(tmp, dest)`` may adjust the temporary file first (SELinux context).
    """
    directory = os.path.dirname(dest)
    try:
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), suffix=TEMP_SUFFIX, dir=directory)
    except (IOError, OSError) as exc:
        raise TopologyError(dest, 'cannot create a temporary file in %s: %s' % (directory, exc))
    try:
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
                handle.flush()
                if ids.uid is not None or ids.gid is not None:
                    os.fchown(handle.fileno(), -1 if ids.uid is None else ids.uid,
                              -1 if ids.gid is None else ids.gid)
                # After chown, which may clear set-id bits.
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
        except (IOError, OSError) as exc:
            raise TopologyError(dest, 'cannot write the temporary file %s (mode %s, owner %s, group %s): %s'
                                % (tmp, format_mode(mode), ids.uid, ids.gid, exc))
        if before_replace is not None:
            before_replace(tmp, dest)
        try:
            (replace or os.replace)(tmp, dest)
        except (IOError, OSError) as exc:
            raise TopologyError(dest, 'cannot move %s into place: %s' % (tmp, exc))
        tmp = None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def set_attributes(path, mode, ids):
    """Give ``path`` its mode and owner in place (its content is right)."""
    try:
        if ids.uid is not None or ids.gid is not None:
            os.chown(path, -1 if ids.uid is None else ids.uid, -1 if ids.gid is None else ids.gid)
        os.chmod(path, mode)
    except OSError as exc:
        raise TopologyError(path, 'cannot set mode %s, owner %s, group %s: %s'
                            % (format_mode(mode), ids.uid, ids.gid, exc))


def remove(path):
    """Remove a file, a link or a whole directory tree."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        raise TopologyError(path, 'cannot remove it: %s' % exc)


def prune_candidates(prune, protected, keep_files):
    """What goes from the ``prune`` directories: the entries that are neither protected nor kept.

    ``protected`` holds the planned paths and their ancestors (a protected directory is kept and
    searched), ``keep_files`` the planned files and ``keep`` paths (kept, not searched).  A removed
    directory is listed alone, not its content.  Links are never followed.  A prune directory that
    does not exist has nothing to remove.
    """
    out = []

    def inside_removed(path):
        return any(path == gone or path.startswith(gone + os.sep) for gone in out)

    def walk(directory):
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            raise TopologyError(directory, 'cannot list it to prune what the plan does not name: %s' % exc)
        for name in names:
            path = os.path.join(directory, name)
            if path in keep_files or inside_removed(path):
                continue
            if path not in protected:
                out.append(path)
            elif os.path.isdir(path) and not os.path.islink(path):
                walk(path)

    for top in prune:
        if not inside_removed(top) and os.path.isdir(top):
            walk(top)
    return out


# --- diffs: never a secret ---------------------------------------------------------------------

def is_text(data):
    if b'\x00' in data:
        return False
    try:
        data.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


def _shown(data):
    if data is None:
        return ''
    if is_text(data):
        return data.decode('utf-8')
    return '(binary content, %d bytes)\n' % len(data)


def content_diff(entry, before, after, unknown=False):
    """A diff entry for the content of ``entry`` (None: no file); for a secret only that it changes.

    ``unknown``: the new content is not known (its source does not exist yet, check mode).
    """
    if entry.secret:
        before_text = '' if before is None else SECRET_BEFORE
        after_text = '' if after is None else SECRET_AFTER
    else:
        before_text, after_text = _shown(before), _shown(after)
    if unknown:
        after_text = ('(to come from %s on the controller, which does not exist yet; in check mode this '
                      'predicts a change)\n' % entry.src)
    return {'before_header': entry.dest, 'after_header': entry.dest, 'before': before_text, 'after': after_text}


def attribute_diff(path, before, after):
    shown_before, shown_after = {'path': path}, {'path': path}
    shown_before.update(before)
    shown_after.update(after)
    return {'before': shown_before, 'after': shown_after}


def state_diff(path, before_state, after_state):
    return {'before': {'path': path, 'state': before_state}, 'after': {'path': path, 'state': after_state}}


# --- the whole host ----------------------------------------------------------------------------

class Placer(object):
    """Apply one host's ``directories``, ``files`` and ``prune``, or remove them (``absent``).

    ``contents`` is the list the action plugin passed (base64 text per file, None for a source that
    does not exist yet, check mode only).  ``warn(message)`` reports a warning.  ``replace`` and
    ``before_replace`` are handed to write_atomically.  After ``present()`` or ``absent()``,
    ``result`` holds what was done (or would be, in check mode) and ``diff`` the diff entries;
    both stay valid when an error stops the work half-way.
    """

    def __init__(self, directories, files, prune, contents=None, owner=None, group=None, keep=(),
                 check_mode=False, warn=None, replace=None, before_replace=None):
        self.directories = normalize_directories(directories)
        self.files = normalize_files(files)
        self.prune = normalize_paths(prune, 'prune')
        self.keep = normalize_paths(keep, 'keep')
        self.contents = contents
        self.owner, self.group = owner, group
        self.check_mode = check_mode
        self.warn = warn or (lambda message: None)
        self.replace = replace
        self.before_replace = before_replace
        self.diff = []
        self.result = {
            'changed': False,
            'placed': [],
            'updated_attributes': [],
            'created_directories': [],
            'pruned': [],
            'removed': [],
            'staged': [],
            'changed_files_by_kind': dict((f.kind, []) for f in self.files),
        }
        self._predicted_directories = set()

    # present ------------------------------------------------------------------------------------

    def present(self):
        data = self._decoded_contents()
        ids = self._private_ids()
        for directory in self.directories:
            self._directory(directory, ids if directory.private else Ids(None, None))
        for entry, content in zip(self.files, data):
            self._file(entry, content, ids if entry.private else Ids(None, None))
        keep_files = set(f.dest for f in self.files) | set(f.stage for f in self.files if f.stage) | set(self.keep)
        self._prune(protected_paths(self.directories, self.files, self.keep), keep_files)
        return self.result

    def _decoded_contents(self):
        contents = self.contents
        if contents is None:
            raise TopologyError('_contents', 'no file contents were passed: this module runs through its action '
                                             'plugin (uwsgi.topology.files), which reads each src on the controller')
        if len(contents) != len(self.files):
            raise TopologyError('_contents', '%d contents for %d files' % (len(contents), len(self.files)))
        out = []
        for entry, text in zip(self.files, contents):
            if text is None:
                if not self.check_mode:
                    raise TopologyError(entry.where, 'no content for %s from the controller (src %s)'
                                        % (entry.dest, entry.src))
                out.append(None)
            else:
                out.append(decode_content(text, entry.where))
        return out

    def _private_ids(self):
        try:
            return resolve_ids(self.owner, self.group)
        except TopologyError as exc:
            if not self.check_mode:
                raise
            # The user may come from an earlier task that check mode skipped.
            self.warn('%s; predicting that the private entries change owner' % exc)
            uid, gid = None, None
            try:
                uid = resolve_ids(self.owner, None).uid
            except TopologyError:
                uid = UNKNOWN_ID
            try:
                gid = resolve_ids(None, self.group).gid
            except TopologyError:
                gid = UNKNOWN_ID
            return Ids(uid, gid)

    def _changed(self):
        self.result['changed'] = True

    def _directory(self, directory, ids):
        current = inspect(directory.path)
        if current is not None and current.kind == 'link' and os.path.isdir(directory.path):
            # A link to a directory serves as the directory; its target gets the mode and owner.
            info = os.stat(directory.path)
            current = Current('directory', None, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
        if current is None:
            self._changed()
            self.result['created_directories'].append(directory.path)
            self.diff.append(state_diff(directory.path, 'absent', 'directory'))
            if self.check_mode:
                self._predicted_directories.add(directory.path)
                return
            self._create_directory(directory, ids)
            return
        if current.kind != 'directory':
            raise TopologyError(directory.where, 'is a %s, not a directory; remove it or fix the plan' % current.kind)
        before, after = attribute_changes(current, directory.mode, ids)
        if before:
            self._changed()
            self.result['updated_attributes'].append(directory.path)
            self.diff.append(attribute_diff(directory.path, before, after))
            if not self.check_mode:
                set_attributes(directory.path, directory.mode, ids)

    def _create_directory(self, directory, ids):
        parent = os.path.dirname(directory.path)
        try:
            if not os.path.isdir(parent):
                os.makedirs(parent)
            # Created closed, then given its owner, then its mode: a private directory is never open.
            os.mkdir(directory.path, 0o700)
        except OSError as exc:
            raise TopologyError(directory.where, 'cannot create the directory: %s' % exc)
        set_attributes(directory.path, directory.mode, ids)

    def _parent_ready(self, entry):
        parent = os.path.dirname(entry.dest)
        if os.path.isdir(parent):
            return True
        if self.check_mode and (parent in self._predicted_directories or
                                any(parent.startswith(d + os.sep) for d in self._predicted_directories)):
            return False
        if self.check_mode:
            self.warn('%s: the directory %s does not exist; predicting that it will' % (entry.where, parent))
            return False
        raise TopologyError(entry.where, 'the directory %s does not exist and is not among the directories '
                                         'to create' % parent)

    def _file(self, entry, content, ids):
        current = inspect(entry.dest) if self._parent_ready(entry) else None
        if current is not None and current.kind == 'directory':
            raise TopologyError(entry.where, 'is a directory on the host, where the plan places a file')
        unknown = content is None
        regular = current is not None and current.kind == 'file'
        if entry.stage and regular and not unknown and current.content != content:
            # A replacement of a file in use (a rotated signing key): it goes beside it, and
            # whoever hands the use over (uwsgi.topology.subscription_handover) moves it into place.
            self._stage(entry, content, ids)
            return
        if unknown or not regular or current.content != content:
            self._changed()
            self.result['placed'].append(entry.dest)
            self.result['changed_files_by_kind'][entry.kind].append(entry.dest)
            self.diff.append(content_diff(entry, current.content if regular else None, content, unknown=unknown))
            if regular:
                before, after = attribute_changes(current, entry.mode, ids)
                if before:
                    self.diff.append(attribute_diff(entry.dest, before, after))
            if not self.check_mode:
                write_atomically(entry.dest, content, entry.mode, ids, replace=self.replace,
                                 before_replace=self.before_replace)
            return
        before, after = attribute_changes(current, entry.mode, ids)
        if before:
            self._changed()
            self.result['updated_attributes'].append(entry.dest)
            self.diff.append(attribute_diff(entry.dest, before, after))
            if not self.check_mode:
                set_attributes(entry.dest, entry.mode, ids)

    def _stage(self, entry, content, ids):
        # Reported while it waits to be moved into place, also when staged by an earlier run.
        self.result['staged'].append(entry.stage)
        staged = inspect(entry.stage)
        if staged is not None and staged.kind == 'file' and staged.content == content \
                and not attribute_changes(staged, entry.mode, ids)[0]:
            return
        self._changed()
        self.diff.append(content_diff(entry._replace(dest=entry.stage),
                                      staged.content if staged is not None and staged.kind == 'file' else None,
                                      content))
        if not self.check_mode:
            write_atomically(entry.stage, content, entry.mode, ids, replace=self.replace,
                             before_replace=self.before_replace)

    def _prune(self, protected, keep_files):
        for path in prune_candidates(self.prune, protected, keep_files):
            current = inspect(path, read=False)
            if current is None:
                continue
            self._changed()
            self.result['pruned'].append(path)
            self.diff.append(state_diff(path, current.kind, 'absent'))
            if not self.check_mode:
                remove(path)

    # absent -------------------------------------------------------------------------------------

    def absent(self):
        """Remove every planned file and everything in the ``prune`` directories (they stay, empty);
        the ``directories`` stay too."""
        for entry in self.files:
            current = inspect(entry.dest)
            if current is None:
                continue
            if current.kind == 'directory':
                raise TopologyError(entry.where, 'is a directory on the host, where the plan names a file; '
                                                 'it was left in place')
            self._changed()
            self.result['removed'].append(entry.dest)
            self.result['changed_files_by_kind'][entry.kind].append(entry.dest)
            if current.kind == 'file':
                self.diff.append(content_diff(entry, current.content, None))
            else:
                self.diff.append(state_diff(entry.dest, current.kind, 'absent'))
            if not self.check_mode:
                remove(entry.dest)
        # In check mode the removed files are still there: not listed twice.
        self._prune(protected_paths([], [], self.keep), set(self.result['removed']) | set(self.keep))
        return self.result
