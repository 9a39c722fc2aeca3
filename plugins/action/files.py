# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of uwsgi.topology.files: read each src on the controller, then run the module.

The contents go to the host in the module's internal ``_contents`` option (base64, one per file,
in order), which the module declares ``no_log``: they never show in the task's invocation, and the
module never puts a secret file's content in its result or diff.  One module call places a whole
host's files.  The logic of reading lives in module_utils/placement.py (``gather_contents``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError, AnsibleFileNotFound
from ansible.plugins.action import ActionBase

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.placement import gather_contents

MODULE = 'uwsgi.topology.files'


def read_controller_file(loader, path):
    """The bytes of ``path`` on the controller (decrypted when vault-encrypted), or None if it does not exist.

    Raise TopologyError for a path that exists but cannot be read as a file.
    """
    if os.path.isdir(path):
        raise TopologyError(path, 'is a directory on the controller, not a file to place')
    try:
        real = loader.get_real_file(path, decrypt=True)
    except AnsibleFileNotFound:
        return None
    except AnsibleError as exc:
        raise TopologyError(path, 'cannot read it on the controller: %s' % exc)
    try:
        with open(real, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise TopologyError(path, 'cannot read it on the controller: %s' % exc)
    finally:
        loader.cleanup_tmp_file(real)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _source(self, src):
        """Where ``src`` is on the controller: as given when absolute, else found like copy's src."""
        src = os.path.expanduser(src)
        if os.path.isabs(src):
            return src
        try:
            return self._find_needle('files', src)
        except AnsibleError:
            return None

    def _read(self, src):
        path = self._source(src)
        if path is None:
            return None
        return read_controller_file(self._loader, path)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # not used

        args = dict(self._task.args)
        args.pop('_contents', None)
        try:
            if args.get('state', 'present') == 'present':
                args['_contents'] = gather_contents(args.get('files') or [], bool(self._task.check_mode),
                                                    self._read)
        except TopologyError as exc:
            # The message names the src and the dest; it never holds a file's content.
            result.update(failed=True, changed=False, msg=str(exc))
            return result

        try:
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
