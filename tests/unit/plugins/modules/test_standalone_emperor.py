# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of uwsgi.topology.standalone_emperor with a real daemonizing stand-in for uWSGI.

The stand-in is a shell script: ``fake --ini FILE`` starts a sleeping process whose command line holds
FILE, writes its pid to the pidfile named in FILE, and exits, as a daemonizing Emperor does. SIGINT
ends it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import time

import pytest

from ansible_collections.uwsgi.topology.plugins.modules import standalone_emperor

FAKE = r'''#!/bin/sh
# fake uWSGI: --ini FILE; FILE's first line is the pidfile, its second "die" to exit at once.
ini="$2"
pidfile=$(sed -n 1p "$ini")
mode=$(sed -n 2p "$ini")
if [ "$mode" = die ]; then
    ( echo $$ > "$pidfile"; exit 0 ) &
    exit 0
fi
# A background job of sh ignores SIGINT; the Python loop takes it back, as uWSGI's master does.
nohup python3 -c 'import signal, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
while True:
    time.sleep(0.05)' "$ini" >/dev/null 2>&1 &
echo $! > "$pidfile"
'''


@pytest.fixture
def emperor(tmp_path):
    binary = tmp_path / 'uwsgi'
    binary.write_text(FAKE)
    binary.chmod(0o755)
    pidfile = tmp_path / 'emperor.pid'
    ini = tmp_path / 'emperor.ini'
    ini.write_text('%s\nrun\n' % pidfile)
    args = {'ini': str(ini), 'pidfile': str(pidfile), 'binary': str(binary), 'logfile': str(tmp_path / 'log'),
            'environment': {'PATH': '/usr/bin:/bin'}, 'start_timeout': 5, 'stop_timeout': 5}
    yield args
    pid = standalone_emperor.running_pid(str(pidfile), str(ini))
    if pid:
        os.kill(pid, signal.SIGKILL)


def test_start_is_idempotent_and_stop_ends_the_process(run_module, emperor):
    failed, result, _w = run_module(standalone_emperor.main, emperor)
    assert not failed and result['changed'] and result['previous_pid'] is None
    pid = result['pid']
    assert os.path.exists('/proc/%d' % pid)
    failed, again, _w = run_module(standalone_emperor.main, emperor)
    assert not failed and not again['changed'] and again['pid'] == pid
    failed, stopped, _w = run_module(standalone_emperor.main, dict(emperor, state='stopped'))
    assert not failed and stopped['changed'] and stopped['previous_pid'] == pid and stopped['pid'] is None
    for _i in range(50):
        if not os.path.exists('/proc/%d' % pid):
            break
        time.sleep(0.05)
    assert not os.path.exists(emperor['pidfile'])
    failed, again, _w = run_module(standalone_emperor.main, dict(emperor, state='stopped'))
    assert not failed and not again['changed']


def test_check_mode_predicts_and_starts_nothing(run_module, emperor):
    failed, result, _w = run_module(standalone_emperor.main, emperor, check_mode=True, diff=True)
    assert not failed and result['changed'] and result['pid'] is None
    assert result['diff'] == {'before': 'stopped\n', 'after': 'running (pid new)\n'}
    assert not os.path.exists(emperor['pidfile'])


def test_restart_gives_a_new_process(run_module, emperor):
    _f, first, _w = run_module(standalone_emperor.main, emperor)
    failed, result, _w = run_module(standalone_emperor.main, dict(emperor, state='restarted'))
    assert not failed and result['changed'] and result['previous_pid'] == first['pid']
    assert result['pid'] != first['pid']


def test_a_stale_pidfile_of_another_program_counts_as_stopped(run_module, emperor):
    with open(emperor['pidfile'], 'w') as handle:
        handle.write('%d\n' % os.getpid())
    assert standalone_emperor.running_pid(emperor['pidfile'], emperor['ini']) is None
    failed, result, _w = run_module(standalone_emperor.main, emperor)
    assert not failed and result['changed'] and result['previous_pid'] is None


def test_an_emperor_that_exits_at_once_fails_naming_its_log(run_module, emperor, tmp_path):
    with open(emperor['ini'], 'w') as handle:
        handle.write('%s\ndie\n' % emperor['pidfile'])
    failed, result, _w = run_module(standalone_emperor.main, dict(emperor, start_timeout=1))
    assert failed
    assert 'exited right after it was started' in result['msg'] and emperor['logfile'] in result['msg']
