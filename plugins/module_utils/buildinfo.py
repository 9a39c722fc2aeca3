# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a uWSGI binary can do, in the shape the compiler takes (``version``, ``build``).

Everything is learnt by asking the binary, never by starting it:

* ``<binary> --version`` gives the version string (``2.0.31``,
  ``2.0.21-debian``, ``2.1-dev+1a2b3c4``);
* ``<binary> --strict --ini PROBE --version`` accepts PROBE (exit 0, the
  version printed) only if the binary knows every option in it; an unknown
  one gives exit 1 and ``[strict-mode] unknown config directive: NAME``.
  ``--version`` exits while the command line is read, so nothing is bound or
  started; the probe options only set strings (stats addresses that are
  never bound, a session context name).

An option is looked for first without any ``plugin`` line (built in), then
with the plugin that carries it (Debian's ``uwsgi-core`` builds routers and
languages as plugins).  The probes:

* SSL: ``subscriptions-sign-check-tolerance``, defined in core/uwsgi.c only
  under ``UWSGI_SSL``;
* a router: its stats option (``http-stats``, ``fastrouter-stats``, ...,
  ``tuntap-router-stats``); ``https``: ``https-session-context``, defined in
  the http plugin only under ``UWSGI_SSL``;
* zlib: ``http-auto-gzip`` (http plugin, ``UWSGI_ZLIB``), or the core
  ``load-file-in-cache-gzip`` when there is no http router;
* Python: ``wsgi-file``, built in or from the ``python3`` / ``python`` plugin.

Probes run in a fresh, empty directory: a non-Debian uWSGI looks for
``./<name>_plugin.so`` relative to its working directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import tempfile

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

# (router type as the compiler names it, plugin that carries it, probe option)
ROUTER_PROBES = (
    ('http', 'http', 'http-stats = 127.0.0.1:1'),
    ('https', 'http', 'https-session-context = uwsgi-topology-probe'),
    ('fast', 'fastrouter', 'fastrouter-stats = 127.0.0.1:1'),
    ('raw', 'rawrouter', 'rawrouter-stats = 127.0.0.1:1'),
    ('ssl', 'sslrouter', 'sslrouter-stats = 127.0.0.1:1'),
    ('forkpty', 'forkptyrouter', 'forkptyrouter-stats = 127.0.0.1:1'),
    ('tuntap', 'tuntap', 'tuntap-router-stats = 127.0.0.1:1'),
)
SSL_PROBE = 'subscriptions-sign-check-tolerance = 1'
ZLIB_HTTP_PROBE = 'http-auto-gzip = true'
ZLIB_CORE_PROBE = 'load-file-in-cache-gzip = /nonexistent/uwsgi-topology-probe'
PYTHON_PROBE = 'wsgi-file = /nonexistent/uwsgi-topology-probe.py'
PYTHON_PLUGINS = ('python3', 'python')

_VERSION = re.compile(r'^(\d+)\.(\d+)(?:[.+\-~].*)?$')
_UNKNOWN = '[strict-mode] unknown config directive'


class BuildInfoError(TopologyError):
    """The binary could not be run, or answered in a way uWSGI does not."""

    def __init__(self, binary, message):
        super(BuildInfoError, self).__init__('uWSGI binary %s' % binary, message)


def _output(out, err):
    return '\n'.join(part.strip() for part in (out, err) if part and part.strip())


def version_of(version_string):
    """``2.0`` or ``2.1`` for a uWSGI version string; None for other versions."""
    match = _VERSION.match(version_string)
    if not match:
        return None
    major_minor = '%s.%s' % (match.group(1), match.group(2))
    return major_minor if major_minor in ('2.0', '2.1') else None


def read_version(run, binary, cwd=None):
    """Run ``<binary> --version``; return the version string."""
    command = [binary, '--version']
    try:
        rc, out, err = run(command, cwd)
    except (OSError, ValueError) as exc:
        raise BuildInfoError(binary, 'cannot run it: %s' % exc)
    lines = [line.strip() for line in (out or '').splitlines() if line.strip()]
    if rc != 0 or not lines:
        raise BuildInfoError(binary, '`%s` exited %s without printing a version; is it uWSGI? Output: %s'
                             % (' '.join(command), rc, _output(out, err) or '(none)'))
    version_string = lines[-1]
    if not _VERSION.match(version_string):
        raise BuildInfoError(binary, '`%s` printed %r, which is not a uWSGI version; is it uWSGI?'
                             % (' '.join(command), version_string))
    return version_string


class Prober(object):
    """Asks one binary whether it knows options, with probe configs in ``directory``."""

    def __init__(self, run, binary, directory):
        self.run = run
        self.binary = binary
        self.directory = directory
        self.calls = 0

    def known(self, lines, plugins=()):
        """True if the binary accepts the option ``lines`` after ``plugin`` lines for ``plugins``."""
        self.calls += 1
        path = os.path.join(self.directory, 'probe-%d.ini' % self.calls)
        content = ['[uwsgi]'] + ['plugin = %s' % name for name in plugins] + list(lines)
        with open(path, 'w') as handle:
            handle.write('\n'.join(content) + '\n')
        command = [self.binary, '--strict', '--ini', path, '--version']
        try:
            rc, out, err = self.run(command, self.directory)
        except (OSError, ValueError) as exc:
            raise BuildInfoError(self.binary, 'cannot run it: %s' % exc)
        finally:
            os.unlink(path)
        if rc == 0:
            return True
        output = _output(out, err)
        if _UNKNOWN in output:
            return False
        raise BuildInfoError(self.binary, 'the option probe `%s` (config: %s) exited %s without naming an unknown '
                                          'option: %s' % (' '.join(command), '; '.join(content[1:]), rc,
                                                          output or '(no output)'))

    def where(self, lines, plugin):
        """``''`` if built in, ``plugin`` if it takes that plugin, None if unavailable."""
        if self.known(lines):
            return ''
        if plugin and self.known(lines, [plugin]):
            return plugin
        return None


def detect(run, binary, probe_dir=None):
    """Probe ``binary``; return the facts (see the build_info module's RETURN).

    ``run(command, cwd)`` runs a command (a list, no shell) and returns
    ``(rc, stdout, stderr)``.  ``probe_dir`` is where the temporary probe
    directory is made (default: the system's temporary directory).
    """
    if probe_dir is not None and not os.path.isdir(probe_dir):
        raise BuildInfoError(binary, 'probe_dir %s is not a directory' % probe_dir)
    try:
        directory = tempfile.mkdtemp(prefix='uwsgi-probe-', dir=probe_dir)
    except OSError as exc:
        raise BuildInfoError(binary, 'cannot make a probe directory in %s: %s'
                             % (probe_dir or tempfile.gettempdir(), exc))
    try:
        return _detect(run, binary, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _detect(run, binary, directory):
    version_string = read_version(run, binary, directory)
    version = version_of(version_string)
    if version is None:
        raise BuildInfoError(binary, 'version %s is not supported: this collection knows uWSGI 2.0 and the 2.1 '
                                     'development branch (master)' % version_string)
    prober = Prober(run, binary, directory)
    ssl = prober.known([SSL_PROBE])

    places = {}  # router type -> '' (built in) or its plugin
    for router, plugin, line in ROUTER_PROBES:
        if router == 'https':
            if 'http' in places and ssl:
                plugins = [places['http']] if places['http'] else []
                if prober.known([line], plugins):
                    places[router] = places['http']
            continue
        place = prober.where([line], plugin)
        if place is not None:
            places[router] = place

    if 'http' in places:
        zlib = prober.known([ZLIB_HTTP_PROBE], [places['http']] if places['http'] else [])
    else:
        zlib = prober.known([ZLIB_CORE_PROBE])

    python_plugin = None
    python = prober.known([PYTHON_PROBE])
    if not python:
        for name in PYTHON_PLUGINS:
            if prober.known([PYTHON_PROBE], [name]):
                python, python_plugin = True, name
                break

    routers = [router for router, _plugin, _line in ROUTER_PROBES if router in places]
    as_plugins = sorted(set(router for router in routers if places[router]))
    built_in = sorted(set(router for router in routers if not places[router]))
    plugin_build = bool(as_plugins) or python_plugin is not None
    warnings = []
    if plugin_build and built_in:
        loaded = ['%s (plugin %s)' % (router, places[router]) for router in routers if places[router]]
        if python_plugin:
            loaded.append('python (plugin %s)' % python_plugin)
        warnings.append('mixed build: %s built in, but %s loaded as plugins; with build.plugin_build=true the '
                        'compiler writes a plugin line for every router, and uWSGI only logs the plugins it '
                        'cannot load' % (', '.join(built_in), ', '.join(loaded)))
    return {
        'binary': binary,
        'version_string': version_string,
        'version': version,
        'build': {
            'ssl': ssl,
            'plugin_build': plugin_build,
            'routers': routers,
            'zlib': zlib,
            'spdy': False,
        },
        'router_plugins': dict((router, places[router] or None) for router in routers),
        'python': python,
        'python_plugin': python_plugin,
        'probes': prober.calls + 1,
        'warnings': warnings,
    }
