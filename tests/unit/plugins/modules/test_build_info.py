# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.build_info module, run in-process with fake uWSGI binaries
(scripts that answer --version and --strict --ini PROBE --version like uWSGI)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import sys

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options
from ansible_collections.uwsgi.topology.plugins.modules import build_info

FAKE = r'''
import json, os, sys
profile = json.loads(%(profile)r)
args = sys.argv[1:]
with open(%(log)r, 'a') as log:
    log.write(json.dumps(args) + '\n')
if '--ini' in args:
    known = set(profile['builtin'])
    for line in open(args[args.index('--ini') + 1]).read().splitlines():
        if '=' not in line:
            continue
        name, value = [part.strip() for part in line.split('=', 1)]
        if name == 'plugin':
            known.update(profile['plugins'].get(value, []))
        elif name not in known:
            sys.stderr.write('[strict-mode] unknown config directive: %%s\n' %% name)
            sys.exit(1)
if args[-1:] == ['--version']:
    sys.stdout.write(profile['version'] + '\n')
    sys.exit(0)
sys.exit(99)
'''

DEBIAN = {
    'version': '2.0.21-debian',
    'builtin': ['subscriptions-sign-check-tolerance', 'load-file-in-cache-gzip'],
    'plugins': {'http': ['http-stats', 'https-session-context', 'http-auto-gzip'],
                'fastrouter': ['fastrouter-stats'], 'rawrouter': ['rawrouter-stats'],
                'sslrouter': ['sslrouter-stats'], 'forkptyrouter': ['forkptyrouter-stats'],
                'tuntap': ['tuntap-router-stats'], 'python3': ['wsgi-file']},
}
PYPI = {
    'version': '2.0.31',
    'builtin': ['subscriptions-sign-check-tolerance', 'http-stats', 'https-session-context', 'http-auto-gzip',
                'fastrouter-stats', 'rawrouter-stats', 'sslrouter-stats', 'wsgi-file'],
    'plugins': {},
}
MIXED = dict(PYPI, plugins={'tuntap': ['tuntap-router-stats']})


def make_fake(directory, profile, name='uwsgi'):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    script = directory / (name + '.py')
    script.write_text(FAKE % {'profile': json.dumps(profile), 'log': str(directory / (name + '.log'))})
    path.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, script))
    os.chmod(str(path), stat.S_IRWXU)
    return str(path)


def _calls(binary):
    with open(binary + '.log') as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
def test_debian_build(run_module, tmp_path, check_mode):
    binary = make_fake(tmp_path / 'bin', DEBIAN, 'uwsgi-core')
    failed, result, warnings = run_module(build_info.main, {'binary': binary}, check_mode=check_mode)
    assert not failed, result
    assert warnings == []
    assert result == {
        'changed': False,
        'exists': True,
        'binary': binary,
        'version_string': '2.0.21-debian',
        'version': '2.0',
        'build': {'ssl': True, 'plugin_build': True,
                  'routers': ['http', 'https', 'fast', 'raw', 'ssl', 'forkpty', 'tuntap'],
                  'zlib': True, 'spdy': False},
        'router_plugins': {'http': 'http', 'https': 'http', 'fast': 'fastrouter', 'raw': 'rawrouter',
                           'ssl': 'sslrouter', 'forkpty': 'forkptyrouter', 'tuntap': 'tuntap'},
        'python': True,
        'python_plugin': 'python3',
    }
    assert all(call[-1] == '--version' for call in _calls(binary))


def test_result_feeds_the_compiler(run_module, tmp_path):
    binary = make_fake(tmp_path / 'bin', DEBIAN)
    _failed, result, _warnings = run_module(build_info.main, {'binary': binary})
    spec = {'routers': [{'type': 'http', 'bind': '127.0.0.1:8080',
                         'forward_to': {'type': 'subscription_server', 'address': '127.0.0.1:2626'}}]}
    options = compile_options(spec, version=result['version'], build=result['build'])
    assert options[0] == ['plugin', 'http']


def test_command_name_is_looked_up_on_path(run_module, tmp_path, monkeypatch):
    binary = make_fake(tmp_path / 'bin', DEBIAN, 'uwsgi-core')
    monkeypatch.setenv('PATH', str(tmp_path / 'bin') + os.pathsep + '/usr/bin:/bin')
    failed, result, _warnings = run_module(build_info.main, {'binary': 'uwsgi-core'})
    assert not failed, result
    assert result['binary'] == binary


def test_relative_path_is_made_absolute(run_module, tmp_path, monkeypatch):
    binary = make_fake(tmp_path / 'bin', PYPI)
    monkeypatch.chdir(str(tmp_path))
    failed, result, warnings = run_module(build_info.main, {'binary': './bin/uwsgi'})
    assert not failed, result
    assert result['binary'] == binary
    assert result['build']['plugin_build'] is False
    assert result['python_plugin'] is None
    assert warnings == []


def test_mixed_build_warns(run_module, tmp_path):
    binary = make_fake(tmp_path / 'bin', MIXED)
    failed, result, warnings = run_module(build_info.main, {'binary': binary})
    assert not failed, result
    assert result['build']['plugin_build'] is True
    assert result['router_plugins']['tuntap'] == 'tuntap'
    assert len(warnings) == 1 and warnings[0].startswith('mixed build: ')


def test_probe_dir(run_module, tmp_path):
    binary = make_fake(tmp_path / 'bin', DEBIAN)
    probes = tmp_path / 'probes'
    probes.mkdir()
    failed, result, _warnings = run_module(build_info.main, {'binary': binary, 'probe_dir': str(probes)})
    assert not failed, result
    configs = [call[2] for call in _calls(binary) if '--ini' in call]
    assert configs and all(path.startswith(str(probes) + os.sep) for path in configs)
    assert os.listdir(str(probes)) == []


def test_missing_command(run_module, tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    failed, result, _warnings = run_module(build_info.main, {'binary': 'uwsgi-nonexistent'})
    assert failed
    assert result['msg'] == "binary: no 'uwsgi-nonexistent' found on the target's PATH"


@pytest.mark.parametrize('make', ['missing', 'not-executable', 'directory'])
def test_not_an_executable(run_module, tmp_path, make):
    path = tmp_path / 'uwsgi'
    if make == 'not-executable':
        path.write_text('#!/bin/sh\n')
    elif make == 'directory':
        path.mkdir()
    failed, result, _warnings = run_module(build_info.main, {'binary': str(path)})
    assert failed
    assert result['msg'] == 'binary: %s is not an executable file' % path


def test_not_uwsgi(run_module, tmp_path):
    path = tmp_path / 'true'
    path.write_text('#!/bin/sh\necho "not uwsgi at all"\n')
    os.chmod(str(path), stat.S_IRWXU)
    failed, result, _warnings = run_module(build_info.main, {'binary': str(path)})
    assert failed
    assert result['msg'] == ("uWSGI binary %s: `%s --version` printed 'not uwsgi at all', which is not a uWSGI "
                             "version; is it uWSGI?" % (path, path))
    assert result['binary'] == str(path)


def test_unsupported_version(run_module, tmp_path):
    binary = make_fake(tmp_path / 'bin', dict(PYPI, version='1.9.21.2'))
    failed, result, _warnings = run_module(build_info.main, {'binary': binary})
    assert failed
    assert 'version 1.9.21.2 is not supported' in result['msg']


def test_probe_dir_missing(run_module, tmp_path):
    binary = make_fake(tmp_path / 'bin', PYPI)
    failed, result, _warnings = run_module(build_info.main, {'binary': binary, 'probe_dir': str(tmp_path / 'no')})
    assert failed
    assert result['msg'] == 'uWSGI binary %s: probe_dir %s is not a directory' % (binary, tmp_path / 'no')


def test_missing_ok_reports_a_missing_binary(run_module, tmp_path):
    path = tmp_path / 'venv' / 'bin' / 'uwsgi'
    failed, result, _warnings = run_module(build_info.main, {'binary': str(path), 'missing_ok': True})
    assert not failed
    assert result == {'changed': False, 'exists': False, 'binary': str(path)}


def test_missing_ok_still_refuses_what_is_not_executable(run_module, tmp_path):
    path = tmp_path / 'uwsgi'
    path.write_text('#!/bin/sh\n')
    failed, result, _warnings = run_module(build_info.main, {'binary': str(path), 'missing_ok': True})
    assert failed and result['msg'] == 'binary: %s is not an executable file' % path
