# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/buildinfo.py with fake uWSGI binaries that answer
``--version`` and ``--strict --ini PROBE --version`` the way uWSGI does."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import buildinfo

# The options each kind of build knows, built in and per plugin (from the uWSGI sources and
# the real binaries: Debian's uwsgi-core 2.0.21, a PyPI 2.0.31 build, a pyuwsgi 2.0.30 wheel).
CORE_SSL = ['subscriptions-sign-check-tolerance']
CORE = ['master', 'socket', 'load-file-in-cache-gzip']
HTTP = ['http-stats', 'http-auto-gzip']
HTTPS = ['https-session-context']
ROUTERS = {'fastrouter': ['fastrouter-stats'], 'rawrouter': ['rawrouter-stats'], 'sslrouter': ['sslrouter-stats'],
           'forkptyrouter': ['forkptyrouter-stats'], 'tuntap': ['tuntap-router-stats']}

DEBIAN = {
    'version': '2.0.21-debian',
    'builtin': CORE + CORE_SSL,
    'plugins': dict(ROUTERS, http=HTTP + HTTPS, python3=['wsgi-file'], python311=['wsgi-file']),
}
PYPI = {
    'version': '2.0.31',
    'builtin': (CORE + CORE_SSL + HTTP + HTTPS + ROUTERS['fastrouter'] + ROUTERS['rawrouter']
                + ROUTERS['sslrouter'] + ['wsgi-file']),
    'plugins': {},
}
PYUWSGI = {
    'version': '2.0.30',
    'builtin': CORE + HTTP + ROUTERS['fastrouter'] + ROUTERS['rawrouter'] + ['wsgi-file'],
    'plugins': {},
}

FAKE = r'''
import json, os, sys
profile = json.loads(%(profile)r)
args = sys.argv[1:]
config = args[args.index('--ini') + 1] if '--ini' in args else None
content = open(config).read() if config and os.path.exists(config) else None
with open(%(log)r, 'a') as log:
    log.write(json.dumps({'args': args, 'cwd': os.getcwd(), 'listing': sorted(os.listdir('.')),
                          'content': content}) + '\n')
if profile.get('version_rc') is not None and args == ['--version']:
    sys.stdout.write(profile.get('version_out', ''))
    sys.exit(profile['version_rc'])
if config:
    sys.stderr.write('[uWSGI] getting INI configuration from %%s\n' %% config)
    known = set(profile['builtin'])
    for line in content.splitlines():
        if '=' not in line:
            continue
        name, value = [part.strip() for part in line.split('=', 1)]
        if name == 'plugin':
            if value in profile['plugins']:
                known.update(profile['plugins'][value])
            else:
                sys.stderr.write('!!! UNABLE to load uWSGI plugin: ./%%s_plugin.so !!!\n' %% value)
            continue
        if name in profile.get('fail_on', []):
            sys.stderr.write('unable to find user %%s\n' %% value)
            sys.exit(1)
        if name not in known:
            sys.stderr.write('[strict-mode] unknown config directive: %%s\n' %% name)
            sys.exit(1)
if args[-1:] == ['--version']:
    sys.stdout.write(profile['version'] + '\n')
    sys.exit(0)
sys.stderr.write('a probe tried to start uWSGI: %%r\n' %% args)
sys.exit(99)
'''


class Fake(object):
    """A fake uWSGI binary at ``path``; ``calls`` lists how it was run."""

    def __init__(self, directory, profile, name='uwsgi'):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = str(directory / name)
        self.log = str(directory / (name + '.log'))
        script = str(directory / (name + '.py'))
        with open(script, 'w') as handle:
            handle.write(FAKE % {'profile': json.dumps(profile), 'log': self.log})
        with open(self.path, 'w') as handle:
            handle.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, script))
        os.chmod(self.path, stat.S_IRWXU)

    @property
    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as handle:
            return [json.loads(line) for line in handle]


def run(command, cwd):
    process = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, check=False)
    return process.returncode, process.stdout, process.stderr


@pytest.fixture
def fake(tmp_path):
    def make(profile, name='uwsgi'):
        return Fake(tmp_path / ('bin-%s' % len(os.listdir(str(tmp_path)))), profile, name)
    return make


# --- whole builds ----------------------------------------------------------------------------

def test_debian_plugin_build(fake, tmp_path):
    binary = fake(DEBIAN)
    facts = buildinfo.detect(run, binary.path, str(tmp_path))
    assert facts['version_string'] == '2.0.21-debian'
    assert facts['version'] == '2.0'
    assert facts['build'] == {'ssl': True, 'plugin_build': True,
                              'routers': ['http', 'https', 'fast', 'raw', 'ssl', 'forkpty', 'tuntap'],
                              'zlib': True, 'spdy': False}
    assert facts['router_plugins'] == {'http': 'http', 'https': 'http', 'fast': 'fastrouter', 'raw': 'rawrouter',
                                       'ssl': 'sslrouter', 'forkpty': 'forkptyrouter', 'tuntap': 'tuntap'}
    assert facts['python'] is True
    assert facts['python_plugin'] == 'python3'
    assert facts['warnings'] == []
    assert facts['binary'] == binary.path


def test_pypi_build_has_routers_built_in(fake):
    facts = buildinfo.detect(run, fake(PYPI).path)
    assert facts['build'] == {'ssl': True, 'plugin_build': False, 'routers': ['http', 'https', 'fast', 'raw', 'ssl'],
                              'zlib': True, 'spdy': False}
    assert facts['router_plugins'] == {'http': None, 'https': None, 'fast': None, 'raw': None, 'ssl': None}
    assert facts['python'] is True and facts['python_plugin'] is None


def test_pyuwsgi_has_no_ssl(fake):
    facts = buildinfo.detect(run, fake(PYUWSGI).path)
    assert facts['build'] == {'ssl': False, 'plugin_build': False, 'routers': ['http', 'fast', 'raw'],
                              'zlib': True, 'spdy': False}


def test_https_needs_ssl_even_if_the_option_were_known(fake):
    # Without SSL the https probe is not even run.
    profile = dict(PYPI, builtin=[o for o in PYPI['builtin'] if o not in CORE_SSL])
    binary = fake(profile)
    facts = buildinfo.detect(run, binary.path)
    assert 'https' not in facts['build']['routers']
    assert facts['build']['ssl'] is False
    assert not any('https-session-context' in (c['content'] or '') for c in binary.calls)


@pytest.mark.parametrize('version_string, version', [
    ('2.0.31', '2.0'), ('2.0.21-debian', '2.0'), ('2.0', '2.0'), ('2.0.18~rc1', '2.0'),
    ('2.1-dev', '2.1'), ('2.1-dev+6cbb2177', '2.1'), ('2.1.0', '2.1'),
])
def test_versions(fake, version_string, version):
    facts = buildinfo.detect(run, fake(dict(PYPI, version=version_string)).path)
    assert facts['version_string'] == version_string
    assert facts['version'] == version


@pytest.mark.parametrize('version_string', ['1.9.21', '2.2.0', '3.0.0'])
def test_unsupported_versions(fake, version_string):
    binary = fake(dict(PYPI, version=version_string))
    with pytest.raises(buildinfo.BuildInfoError) as caught:
        buildinfo.detect(run, binary.path)
    assert str(caught.value) == ('uWSGI binary %s: version %s is not supported: this collection knows uWSGI 2.0 '
                                 'and the 2.1 development branch (master)' % (binary.path, version_string))


def test_no_zlib(fake):
    profile = dict(PYPI, builtin=[o for o in PYPI['builtin'] if o != 'http-auto-gzip'])
    assert buildinfo.detect(run, fake(profile).path)['build']['zlib'] is False


def test_zlib_without_http_router_uses_the_core_option(fake):
    profile = {'version': '2.0.31', 'builtin': CORE + ROUTERS['fastrouter'], 'plugins': {}}
    facts = buildinfo.detect(run, fake(profile).path)
    assert facts['build']['routers'] == ['fast']
    assert facts['build']['zlib'] is True
    profile['builtin'] = ['master'] + ROUTERS['fastrouter']
    assert buildinfo.detect(run, fake(profile).path)['build']['zlib'] is False


def test_python_from_the_python_plugin(fake):
    profile = dict(DEBIAN, plugins=dict(ROUTERS, http=HTTP, python=['wsgi-file']))
    facts = buildinfo.detect(run, fake(profile).path)
    assert facts['python_plugin'] == 'python'
    assert facts['build']['ssl'] is True and 'https' not in facts['build']['routers']


def test_no_python(fake):
    profile = dict(DEBIAN, plugins=dict(ROUTERS, http=HTTP))
    facts = buildinfo.detect(run, fake(profile).path)
    assert facts['python'] is False and facts['python_plugin'] is None


def test_mixed_build_warns(fake):
    profile = dict(PYPI, plugins={'tuntap': ['tuntap-router-stats']})
    facts = buildinfo.detect(run, fake(profile).path)
    assert facts['build']['plugin_build'] is True
    assert facts['build']['routers'] == ['http', 'https', 'fast', 'raw', 'ssl', 'tuntap']
    assert facts['router_plugins']['tuntap'] == 'tuntap' and facts['router_plugins']['http'] is None
    (warning,) = facts['warnings']
    assert warning.startswith('mixed build: fast, http, https, raw, ssl built in, but tuntap (plugin tuntap) loaded')


# --- what the probes do ----------------------------------------------------------------------

def test_probes_only_ask_for_the_version_in_an_empty_private_directory(fake, tmp_path):
    probe_dir = tmp_path / 'probes'
    probe_dir.mkdir()
    binary = fake(DEBIAN)
    facts = buildinfo.detect(run, binary.path, str(probe_dir))
    calls = binary.calls
    assert len(calls) == facts['probes']
    assert calls[0]['args'] == ['--version']
    directories = set()
    for call in calls[1:]:
        assert call['args'][:2] == ['--strict', '--ini'] and call['args'][3:] == ['--version']
        config = call['args'][2]
        assert os.path.dirname(config) == call['cwd']
        assert call['listing'] == [os.path.basename(config)]  # nothing else where plugins are looked for
        assert call['content'].startswith('[uwsgi]\n')
        directories.add(call['cwd'])
    (directory,) = directories
    assert os.path.dirname(directory) == str(probe_dir)
    assert not os.path.exists(directory)  # removed afterwards
    assert os.listdir(str(probe_dir)) == []
    # Plugin lines come first, as uWSGI needs them before the plugin's options.
    with_plugin = [c['content'] for c in calls if 'plugin = ' in (c['content'] or '')]
    assert with_plugin and all(c.splitlines()[1].startswith('plugin = ') for c in with_plugin)


def test_probe_options_bind_nothing():
    # Stats addresses are only stored while parsing; the port 1 is never bound.
    for _router, _plugin, line in buildinfo.ROUTER_PROBES:
        assert line.endswith('127.0.0.1:1') or line.startswith('https-session-context')


# --- failures --------------------------------------------------------------------------------

@pytest.mark.parametrize('rc, out, fragment', [
    (1, '', 'exited 1 without printing a version; is it uWSGI? Output: (none)'),
    (0, '', 'exited 0 without printing a version'),
    (0, 'Python 3.11.7\n', "printed 'Python 3.11.7', which is not a uWSGI version"),
])
def test_not_uwsgi(fake, rc, out, fragment):
    binary = fake(dict(PYPI, version_rc=rc, version_out=out))
    with pytest.raises(buildinfo.BuildInfoError) as caught:
        buildinfo.detect(run, binary.path)
    assert str(caught.value).startswith('uWSGI binary %s: `%s --version` ' % (binary.path, binary.path))
    assert fragment in str(caught.value)


def test_probe_that_fails_for_another_reason(fake):
    binary = fake(dict(PYPI, fail_on=['http-stats']))
    with pytest.raises(buildinfo.BuildInfoError) as caught:
        buildinfo.detect(run, binary.path)
    message = str(caught.value)
    assert 'exited 1 without naming an unknown option' in message
    assert 'config: http-stats = 127.0.0.1:1' in message
    assert 'unable to find user 127.0.0.1:1' in message


def test_binary_that_cannot_run(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(buildinfo.BuildInfoError) as caught:
        buildinfo.detect(run, missing)
    assert str(caught.value).startswith('uWSGI binary %s: cannot run it: ' % missing)


def test_probe_dir_must_exist(fake, tmp_path):
    with pytest.raises(buildinfo.BuildInfoError) as caught:
        buildinfo.detect(run, fake(PYPI).path, str(tmp_path / 'missing'))
    assert 'probe_dir %s is not a directory' % (tmp_path / 'missing') in str(caught.value)


def test_probe_directory_is_removed_after_a_failure(fake, tmp_path):
    probe_dir = tmp_path / 'probes'
    probe_dir.mkdir()
    with pytest.raises(buildinfo.BuildInfoError):
        buildinfo.detect(run, fake(dict(PYPI, fail_on=['http-stats'])).path, str(probe_dir))
    assert os.listdir(str(probe_dir)) == []


# --- real binaries, when this machine has them -----------------------------------------------

REAL = [
    ('/usr/bin/uwsgi-core', {'ssl': True, 'plugin_build': True, 'zlib': True, 'spdy': False,
                             'routers': ['http', 'https', 'fast', 'raw', 'ssl', 'forkpty', 'tuntap']}, 'python3'),
]
_HERE = os.path.dirname(os.path.abspath(__file__))
_PYPI = os.path.join(_HERE, '..', '..', '..', '..', '.build', 'uwsgi-pypi', 'bin', 'uwsgi')
REAL.append((os.path.normpath(_PYPI), {'ssl': True, 'plugin_build': False, 'zlib': True, 'spdy': False,
                                       'routers': ['http', 'https', 'fast', 'raw', 'ssl']}, None))


@pytest.mark.parametrize('path, build, python_plugin', REAL, ids=['debian-uwsgi-core', 'pypi-build'])
def test_real_binary(path, build, python_plugin):
    if not os.access(path, os.X_OK):
        pytest.skip('%s is not installed here' % path)
    facts = buildinfo.detect(run, path)
    assert facts['version'] == '2.0'
    assert facts['build'] == build
    assert facts['python_plugin'] == python_plugin


@pytest.fixture(autouse=True)
def _no_uwsgi_environment(monkeypatch):
    """Real-binary probes read UWSGI_* variables as options: run them without the caller's."""
    for name in list(os.environ):
        if name.startswith('UWSGI_'):
            monkeypatch.delenv(name)
