# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for module tests: run a module's main() in-process, fake uWSGI binaries."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # older ansible-core: the classic way
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args=None):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


class ModuleExit(Exception):
    """Raised instead of exit_json/fail_json; ``result`` is what the module returned."""

    def __init__(self, failed, result):
        super(ModuleExit, self).__init__(result)
        self.failed = failed
        self.result = result


def _exit_json(self, **kwargs):
    kwargs.setdefault('changed', False)
    raise ModuleExit(False, kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs['msg'] = msg
    kwargs['failed'] = True
    raise ModuleExit(True, kwargs)


@pytest.fixture
def run_module(monkeypatch):
    """``run_module(main, args, check_mode=False, diff=False)`` -> (failed, result, warnings)."""
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, warning: warnings.append(warning))

    def run(main, args, check_mode=False, diff=False):
        del warnings[:]
        args = dict(args)
        args['_ansible_check_mode'] = check_mode
        args['_ansible_diff'] = diff
        with patch_module_args(args):
            with pytest.raises(ModuleExit) as caught:
                main()
        return caught.value.failed, caught.value.result, list(warnings)

    return run


class FakeUwsgi(object):
    """A stand-in for the target's uwsgi binary: a shell script that logs its calls.

    Each call appends one JSON line to ``log``: the arguments, the working
    directory and a copy of the config it was given (read while it existed).
    """

    def __init__(self, directory, name, rc, output):
        self.path = str(directory / name)
        self.log = str(directory / (name + '.log'))
        recorder = (
            'import json, os, sys\n'
            'args = sys.argv[1:]\n'
            'config = args[args.index("--ini") + 1] if "--ini" in args else None\n'
            'content = open(config).read() if config and os.path.exists(config) else None\n'
            'with open(%r, "a") as log:\n'
            '    log.write(json.dumps({"args": args, "cwd": os.getcwd(), "content": content}) + "\\n")\n'
            'sys.stdout.write(%r)\n'
            'sys.exit(%d)\n'
        ) % (self.log, output + '\n', rc)
        # /bin/sh and an absolute interpreter: works whatever PATH a test sets.
        script = '#!/bin/sh\nexec %s -c %s "$@"\n' % (_shell_quote(sys.executable), _shell_quote(recorder))
        with open(self.path, 'w') as handle:
            handle.write(script)
        os.chmod(self.path, stat.S_IRWXU)

    @property
    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as handle:
            return [json.loads(line) for line in handle]


def _shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def make_uwsgi(tmp_path):
    """``make_uwsgi(name, rc, output)`` -> a FakeUwsgi in its own directory under tmp_path."""
    def make(name, rc, output):
        bindir = tmp_path / ('bin-' + name)
        bindir.mkdir()
        return FakeUwsgi(bindir, 'uwsgi', rc, output)
    return make


@pytest.fixture
def uwsgi_ok(tmp_path):
    """A uwsgi that accepts every config (prints a version, exits 0)."""
    bindir = tmp_path / 'bin-ok'
    bindir.mkdir()
    return FakeUwsgi(bindir, 'uwsgi', 0, '2.0.31')


@pytest.fixture
def uwsgi_strict_fail(tmp_path):
    """A uwsgi that rejects every config the way --strict does (exit 1)."""
    bindir = tmp_path / 'bin-fail'
    bindir.mkdir()
    return FakeUwsgi(bindir, 'uwsgi', 1,
                     '[uWSGI] getting INI configuration from the file\n'
                     '[strict-mode] unknown config directive: http-bogus')


@pytest.fixture
def vassal_dir(tmp_path):
    directory = tmp_path / 'vassals'
    directory.mkdir()
    return directory


@pytest.fixture(autouse=True)
def _no_uwsgi_environment(monkeypatch):
    """Module tests assert exact commands: run them without UWSGI_* variables of the caller."""
    for name in list(os.environ):
        if name.startswith('UWSGI_'):
            monkeypatch.delenv(name)
