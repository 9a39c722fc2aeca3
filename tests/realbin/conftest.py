# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the real-binary tests.

The binaries come from ``UWSGI_PYPI`` and ``UWSGI_DEBIAN``.  If either is unset
or not executable, every test that needs one FAILS (``pytest.fail``): a missing
binary must never turn into a green run of skipped tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import realbin_support as support  # noqa: E402 - also makes the collection importable


@pytest.fixture(scope='session')
def binaries(tmp_path_factory):
    """``{'pypi': Binary, 'debian': Binary}``; fails the test loudly if either is unusable."""
    workdir = str(tmp_path_factory.mktemp('probe'))
    found, problems = {}, []
    for name in support.BINARY_NAMES:
        try:
            found[name] = support.load_binary(name, workdir)
        except support.BinaryMissing as exc:
            problems.append(str(exc))
    if problems:
        pytest.fail('real uWSGI binaries unusable:\n  ' + '\n  '.join(problems), pytrace=False)
    return found


@pytest.fixture(scope='session')
def material(tmp_path_factory):
    """TLS certificate/key/CA, subscription key pairs and directories (see realbin_support.Material)."""
    return support.Material(str(tmp_path_factory.mktemp('material')))


@pytest.fixture(scope='session')
def zerg_socket(binaries, tmp_path_factory):
    """A zerg server on a UNIX socket: ``<router>-zerg`` connects to it while the config is parsed."""
    base = tmp_path_factory.mktemp('zerg')
    path = str(base / 'zerg.sock')
    proc = support.Process('zerg-server', [
        binaries['debian'].path, '--master', '--processes', '1',
        '--zerg-server', path, '--socket', str(base / 'node.sock'),
    ], str(base / 'zerg.log'))
    try:
        import os
        if not support.wait_for(lambda: os.path.exists(path) or not proc.alive(), 15) or not proc.alive():
            pytest.fail('the zerg server did not start:\n%s' % proc.log(), pytrace=False)
        yield path
    finally:
        proc.stop()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, 'rep_' + report.when, report)


@pytest.fixture
def processes(request):
    """Start uWSGI processes for one test; all are stopped at teardown, and their logs
    are printed when the test failed."""
    started = []

    def start(name, argv, log_path, cwd=None):
        proc = support.Process(name, argv, log_path, cwd=cwd)
        started.append(proc)
        return proc

    start.started = started
    try:
        yield start
    finally:
        for proc in reversed(started):
            proc.stop()
        report = getattr(request.node, 'rep_call', None)
        if report is None or report.failed:
            for proc in started:
                print('===== log of %s (pid %d, exit %s): %s\n%s' % (
                    proc.name, proc.pid, proc.popen.returncode, ' '.join(proc.argv), proc.log()))
