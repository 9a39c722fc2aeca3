# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.vassals module: tmp dirs, fake uwsgi binaries, real sockets on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import stat
import sys
import threading
import time

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import drain, vassal_file
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.modules import vassals

SUFFIXES = ['.router.topology.ini', '.node.topology.ini']

ROUTER_SPEC = {
    'routers': [{
        'type': 'http',
        'bind': '127.0.0.1:8080',
        'forward_to': {'type': 'subscription_server', 'address': '127.0.0.1:2626'},
    }],
}


def _node_spec(address):
    return {'options': [['socket', address], ['wsgi-file', '/srv/app/wsgi.py']]}


def _router(name='edge'):
    return {'file': name + '.router.topology.ini', 'instance': name, 'role': 'router', 'spec': ROUTER_SPEC,
            'socket': None}


def _node(name, address):
    return {'file': name + '.node.topology.ini', 'instance': name, 'role': 'node', 'spec': _node_spec(address),
            'socket': address}


def _ini(item):
    return render_ini(compile_options(item['spec']))


def _args(directory, binary, planned, **extra):
    args = {'path': str(directory), 'vassals': planned, 'suffixes': SUFFIXES, 'uwsgi_binary': binary.path}
    args.update(extra)
    return args


def _read(path):
    with open(str(path)) as handle:
        return handle.read()


def _write(path, content):
    with open(str(path), 'w') as handle:
        handle.write(content)


def _listing(directory):
    return sorted(os.listdir(str(directory)))


def _free_port():
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Listener(object):
    """A TCP socket listening on 127.0.0.1 that accepts (and drops) connections until closed."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.closed_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)
        self._thread.daemon = True
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
                conn.close()
            except (socket.timeout, OSError):
                pass
        self.sock.close()
        self.closed_at = time.monotonic()

    def close_after(self, delay):
        timer = threading.Timer(delay, self._stop.set)
        timer.daemon = True
        timer.start()

    def close_when_gone(self, path):
        """Close as an Emperor stops a vassal: once its file is gone."""
        def watch():
            while os.path.lexists(path) and not self._stop.is_set():
                time.sleep(0.02)
            time.sleep(0.3)
            self._stop.set()
        thread = threading.Thread(target=watch)
        thread.daemon = True
        thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def listener():
    listeners = []

    def make():
        listeners.append(Listener())
        return listeners[-1]
    yield make
    for item in listeners:
        item.close()


# --- writing the planned set ------------------------------------------------------------------

def test_writes_every_planned_vassal_validated(run_module, uwsgi_ok, vassal_dir):
    planned = [_router(), _node('app1', '127.0.0.1:13031')]

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, planned))

    assert not failed, result
    assert result['changed'] is True
    assert result['written'] == ['edge.router.topology.ini', 'app1.node.topology.ini']
    assert result['removed'] == result['touched'] == result['unchanged'] == result['stopped'] == []
    assert _listing(vassal_dir) == ['app1.node.topology.ini', 'edge.router.topology.ini']
    for item in planned:
        assert _read(vassal_dir / item['file']) == _ini(item)
    assert [call['content'] for call in uwsgi_ok.calls] == [_ini(item) for item in planned]
    for call in uwsgi_ok.calls:
        assert call['args'][0:2] == ['--strict', '--ini'] and call['args'][3] == '--version'
        assert os.path.basename(call['args'][2]).startswith('.') and call['args'][2].endswith('.tmp')
    assert 'diff' not in result


def test_second_run_changes_nothing_and_validates_nothing(run_module, uwsgi_ok, vassal_dir):
    planned = [_router(), _node('app1', '127.0.0.1:13031')]
    run_module(vassals.main, _args(vassal_dir, uwsgi_ok, planned))
    mtimes = [os.stat(str(vassal_dir / item['file'])).st_mtime_ns for item in planned]

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, planned))

    assert not failed, result
    assert result['changed'] is False
    assert result['written'] == []
    assert result['unchanged'] == ['edge.router.topology.ini', 'app1.node.topology.ini']
    assert len(uwsgi_ok.calls) == 2
    assert [os.stat(str(vassal_dir / item['file'])).st_mtime_ns for item in planned] == mtimes


def test_only_the_differing_vassal_is_rewritten(run_module, uwsgi_ok, vassal_dir):
    router, node = _router(), _node('app1', '127.0.0.1:13031')
    _write(vassal_dir / router['file'], _ini(router))
    _write(vassal_dir / node['file'], '[uwsgi]\nsocket = 127.0.0.1:9\n')

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router, node]), diff=True)

    assert not failed, result
    assert result['written'] == [node['file']]
    assert result['unchanged'] == [router['file']]
    path = str(vassal_dir / node['file'])
    assert result['diff'] == [{'before_header': path, 'after_header': path,
                               'before': '[uwsgi]\nsocket = 127.0.0.1:9\n', 'after': _ini(node)}]
    assert [call['content'] for call in uwsgi_ok.calls] == [_ini(node)]


def test_build_version_and_strict_reach_the_compiler(run_module, uwsgi_ok, vassal_dir):
    router = _router()
    build = {'plugin_build': True}

    failed, result, _warnings = run_module(vassals.main, _args(
        vassal_dir, uwsgi_ok, [router], build=build, version='2.1', strict=False))

    assert not failed, result
    expected = render_ini(compile_options(ROUTER_SPEC, version='2.1', build=build, strict=False))
    assert _read(vassal_dir / router['file']) == expected
    assert expected.startswith('[uwsgi]\nplugin = ') and 'strict' not in expected


def test_mode_is_applied_and_an_attribute_only_change_is_reported(run_module, uwsgi_ok, vassal_dir):
    router = _router()
    _write(vassal_dir / router['file'], _ini(router))
    os.chmod(str(vassal_dir / router['file']), 0o600)

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router], mode='0644'),
                                           diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['written'] == []
    assert result['attributes_set'] == [router['file']]
    assert stat.S_IMODE(os.stat(str(vassal_dir / router['file'])).st_mode) == 0o644
    assert result['diff'][0]['before']['mode'] == '0600' and result['diff'][0]['after']['mode'] == '0644'
    assert uwsgi_ok.calls == []

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router], mode='0644'))
    assert result['changed'] is False and result['attributes_set'] == []


def test_a_planned_link_stays_a_link_and_its_target_is_written(run_module, uwsgi_ok, tmp_path, vassal_dir):
    router = _router()
    available = tmp_path / 'available'
    available.mkdir()
    target = str(available / 'edge.ini')
    _write(target, '[uwsgi]\n')
    os.symlink(target, str(vassal_dir / router['file']))

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router]))

    assert not failed, result
    assert result['written'] == [router['file']]
    assert os.path.islink(str(vassal_dir / router['file']))
    assert _read(target) == _ini(router)


# --- pruning ------------------------------------------------------------------------------------

def test_prunes_unplanned_files_with_a_suffix_only(run_module, uwsgi_ok, vassal_dir):
    router = _router()
    _write(vassal_dir / 'old.router.topology.ini', '[uwsgi]\nhttp = 127.0.0.1:9\n')
    _write(vassal_dir / 'mine.ini', '[uwsgi]\n')                    # not ours
    _write(vassal_dir / '.edge.router.topology.ini.x1.tmp', '')       # a staging file of another run
    os.symlink(str(vassal_dir / 'gone'), str(vassal_dir / 'dangling.node.topology.ini'))

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router]), diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['removed'] == ['dangling.node.topology.ini', 'old.router.topology.ini']
    assert result['stopped'] == []
    assert _listing(vassal_dir) == ['.edge.router.topology.ini.x1.tmp', 'edge.router.topology.ini', 'mine.ini']
    old = str(vassal_dir / 'old.router.topology.ini')
    assert {'before_header': old, 'after_header': old, 'before': '[uwsgi]\nhttp = 127.0.0.1:9\n',
            'after': ''} in result['diff']


def test_prune_false_keeps_unplanned_files(run_module, uwsgi_ok, vassal_dir):
    _write(vassal_dir / 'old.node.topology.ini', '[uwsgi]\n')

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_router()], prune=False))

    assert not failed, result
    assert result['removed'] == []
    assert 'old.node.topology.ini' in _listing(vassal_dir)


def test_state_absent_removes_every_file_with_a_suffix(run_module, uwsgi_ok, vassal_dir):
    for name in ('a.router.topology.ini', 'b.node.topology.ini', 'keep.ini'):
        _write(vassal_dir / name, '[uwsgi]\n')

    failed, result, _warnings = run_module(vassals.main, _args(
        vassal_dir, uwsgi_ok, [_router('a')], state='absent', touch=['a.router.topology.ini']))

    assert not failed, result
    assert result['changed'] is True
    assert result['removed'] == ['a.router.topology.ini', 'b.node.topology.ini']
    assert result['written'] == result['touched'] == []
    assert _listing(vassal_dir) == ['keep.ini']

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [], state='absent'))
    assert not failed and result['changed'] is False


def test_state_absent_without_a_directory_changes_nothing(run_module, uwsgi_ok, tmp_path):
    failed, result, _warnings = run_module(vassals.main, _args(tmp_path / 'none', uwsgi_ok, [], state='absent'))

    assert not failed, result
    assert result['changed'] is False and result['removed'] == []


# --- waiting until removed instances stopped ----------------------------------------------------------

def test_waits_until_the_removed_vassals_socket_is_closed(run_module, uwsgi_ok, vassal_dir, listener):
    server = listener()
    # Another section's socket and comments must not be read; `%%` reads as `%`.
    _write(vassal_dir / 'app9.node.topology.ini',
           '; old node\n[other]\nsocket = 127.0.0.1:1\n[uwsgi]\n# comment\nstrict = true\n'
           'socket=%s\nenv = A=100%%\n' % server.address)
    server.close_after(1.0)
    started = time.monotonic()

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_router()]))

    finished = time.monotonic()
    assert not failed, result
    assert result['removed'] == ['app9.node.topology.ini']
    assert result['stopped'] == [server.address]
    assert server.closed_at is not None
    assert finished >= server.closed_at  # returned only once the socket was closed
    assert finished - started >= 0.9
    assert finished - started < 10


def test_fails_clearly_when_a_removed_socket_stays_open(run_module, uwsgi_ok, vassal_dir, listener):
    server = listener()
    _write(vassal_dir / 'app9.node.topology.ini', '[uwsgi]\nsocket = %s\n' % server.address)
    started = time.monotonic()

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_router()], stop_timeout=1))

    assert failed
    assert 1.0 <= time.monotonic() - started < 10
    assert result['msg'] == (
        '%s: removed app9.node.topology.ini, but %s (from app9.node.topology.ini) still accepts connections '
        'after 1 s: the Emperor has not stopped it (is it running and watching this directory?)'
        % (vassal_dir, server.address))
    assert result['changed'] is True
    assert result['removed'] == ['app9.node.topology.ini']
    assert result['written'] == ['edge.router.topology.ini']
    assert _listing(vassal_dir) == ['edge.router.topology.ini']


def test_a_renamed_instance_on_the_same_address_waits_for_the_old_one_before_writing(
        run_module, vassal_dir, tmp_path, listener):
    server = listener()
    old = str(vassal_dir / 'app1.node.topology.ini')
    _write(old, '[uwsgi]\nsocket = %s\n' % server.address)
    server.close_when_gone(old)  # as the Emperor would stop it
    # A validator that refuses while the old vassal (or its socket) is still there.
    host, port = server.address.split(':')
    checker = tmp_path / 'uwsgi'
    _write(checker, '#!%s\nimport os, socket, sys\n'
                    'if os.path.lexists(%r): sys.exit("old vassal still there")\n'
                    'try:\n    socket.create_connection((%r, %s), timeout=1).close()\n'
                    'except OSError:\n    sys.exit(0)\nsys.exit("old socket still open")\n'
           % (sys.executable, old, host, port))
    os.chmod(str(checker), 0o755)
    renamed = _node('app2', server.address)

    failed, result, _warnings = run_module(vassals.main, {
        'path': str(vassal_dir), 'vassals': [renamed], 'suffixes': SUFFIXES, 'uwsgi_binary': str(checker)})

    assert not failed, result
    assert result['removed'] == ['app1.node.topology.ini']
    assert result['stopped'] == [server.address]
    assert result['written'] == ['app2.node.topology.ini']


def test_an_address_a_kept_vassal_holds_is_not_waited_for(run_module, uwsgi_ok, vassal_dir, listener):
    server = listener()
    kept = _node('app1', server.address)
    _write(vassal_dir / kept['file'], _ini(kept))
    _write(vassal_dir / 'copy.node.topology.ini', '[uwsgi]\nsocket = %s\n' % server.address)
    started = time.monotonic()

    failed, result, warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [kept], stop_timeout=30))

    assert not failed, result
    assert time.monotonic() - started < 5
    assert result['removed'] == ['copy.node.topology.ini'] and result['stopped'] == []
    assert any('copy.node.topology.ini' in w and server.address in w and 'not waiting' in w for w in warnings)


# --- touch ----------------------------------------------------------------------------------------

def test_touch_reloads_unchanged_vassals_only(run_module, uwsgi_ok, vassal_dir):
    app1, app2 = _node('app1', '127.0.0.1:13031'), _node('app2', '127.0.0.1:13032')
    _write(vassal_dir / app1['file'], _ini(app1))
    os.utime(str(vassal_dir / app1['file']), (1000000000, 1000000000))

    failed, result, _warnings = run_module(vassals.main, _args(
        vassal_dir, uwsgi_ok, [app1, app2], touch=[app1['file'], app2['file']]), diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['touched'] == [app1['file']]
    assert result['written'] == [app2['file']]  # written: reloaded by the write, not touched
    assert result['unchanged'] == []
    assert os.stat(str(vassal_dir / app1['file'])).st_mtime > time.time() - 60
    assert {'prepared': 'touch %s (the Emperor reloads it)\n' % (vassal_dir / app1['file'])} in result['diff']


def test_touch_in_check_mode_touches_nothing(run_module, uwsgi_ok, vassal_dir):
    app1 = _node('app1', '127.0.0.1:13031')
    _write(vassal_dir / app1['file'], _ini(app1))
    os.utime(str(vassal_dir / app1['file']), (1000000000, 1000000000))

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [app1], touch=[app1['file']]),
                                           check_mode=True)

    assert not failed, result
    assert result['changed'] is True and result['touched'] == [app1['file']]
    assert os.stat(str(vassal_dir / app1['file'])).st_mtime == 1000000000


def test_touch_must_name_a_planned_vassal(run_module, uwsgi_ok, vassal_dir):
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_router()],
                                                               touch=['app1.node.topology.ini']))

    assert failed
    assert result['msg'] == "touch[0]: 'app1.node.topology.ini' is not one of the planned vassals " \
                            "(edge.router.topology.ini)"
    assert _listing(vassal_dir) == []


# --- check mode -------------------------------------------------------------------------------

def test_check_mode_validates_and_predicts_but_changes_nothing(run_module, uwsgi_ok, vassal_dir, listener):
    server = listener()
    _write(vassal_dir / 'old.node.topology.ini', '[uwsgi]\nsocket = %s\n' % server.address)
    router = _router()
    started = time.monotonic()

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router], stop_timeout=30),
                                           check_mode=True, diff=True)

    assert not failed, result
    assert time.monotonic() - started < 5  # nothing waited for
    assert result['changed'] is True
    assert result['written'] == [router['file']]
    assert result['removed'] == ['old.node.topology.ini']
    assert result['stopped'] == []
    assert [call['content'] for call in uwsgi_ok.calls] == [_ini(router)]
    assert _listing(vassal_dir) == ['old.node.topology.ini']
    # Written first, then removed: new instances join before old ones leave.
    assert [entry['after'] for entry in result['diff']] == [_ini(router), '']


def test_check_mode_predicts_a_rejection(run_module, uwsgi_strict_fail, vassal_dir):
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_strict_fail, [_router()]),
                                           check_mode=True)

    assert failed
    assert result['msg'].startswith('vassals[0] (edge.router.topology.ini (router edge)): %s: uWSGI rejected'
                                    % (vassal_dir / 'edge.router.topology.ini'))
    assert _listing(vassal_dir) == []


def test_check_mode_without_directory_or_binary_warns_and_predicts(run_module, tmp_path):
    missing = str(tmp_path / 'no-such-uwsgi')
    directory = tmp_path / 'not-yet'

    failed, result, warnings = run_module(vassals.main, {
        'path': str(directory), 'vassals': [_router()], 'suffixes': SUFFIXES, 'uwsgi_binary': missing},
        check_mode=True, diff=True)

    assert not failed, result
    assert result['written'] == ['edge.router.topology.ini']
    assert result['diff'][0]['after'] == _ini(_router())
    assert any('does not exist' in warning for warning in warnings)
    assert not os.path.exists(str(directory))

    (tmp_path / 'vassals').mkdir()
    failed, result, warnings = run_module(vassals.main, {
        'path': str(tmp_path / 'vassals'), 'vassals': [_router()], 'suffixes': SUFFIXES, 'uwsgi_binary': missing},
        check_mode=True)
    assert not failed, result
    assert result['written'] == ['edge.router.topology.ini']
    assert any(missing in warning and 'skipping validation' in warning for warning in warnings)


# --- refusals, before anything changes -------------------------------------------------------------

def test_rejected_content_names_the_vassal_and_prunes_nothing(run_module, uwsgi_strict_fail, vassal_dir):
    _write(vassal_dir / 'old.node.topology.ini', '[uwsgi]\n')

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_strict_fail, [_router()]))

    assert failed
    assert result['msg'].startswith('vassals[0] (edge.router.topology.ini (router edge)): ')
    assert '[strict-mode] unknown config directive: http-bogus' in result['msg']
    assert _listing(vassal_dir) == ['old.node.topology.ini']
    assert result['changed'] is False


def test_a_spec_that_does_not_compile_names_the_vassal(run_module, uwsgi_ok, vassal_dir):
    bad = dict(_router(), spec={'routers': [{'type': 'nope'}]})
    _write(vassal_dir / 'old.node.topology.ini', '[uwsgi]\n')

    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_node('a', ':1'), bad]))

    assert failed
    assert result['msg'].startswith("vassals[1] (edge.router.topology.ini): spec: routers[0].type: unknown router "
                                    "type string 'nope'")
    assert _listing(vassal_dir) == ['old.node.topology.ini']
    assert uwsgi_ok.calls == []


@pytest.mark.parametrize('name, message', [
    ('app.ini', "vassals[0].file: 'app.ini' does not end with one of the suffixes (.router.topology.ini, "
                ".node.topology.ini): a later run could not prune it"),
    ('../x.node.topology.ini', 'vassals[0].file: must be a file name in'),
    ('.x.node.topology.ini', 'vassals[0].file: must be a file name in'),
])
def test_bad_file_names_are_refused(run_module, uwsgi_ok, vassal_dir, name, message):
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [dict(_router(), file=name)]))

    assert failed
    assert result['msg'].startswith(message)
    assert _listing(vassal_dir) == []


def test_a_file_planned_twice_is_refused(run_module, uwsgi_ok, vassal_dir):
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_router(), _router()]))

    assert failed
    assert result['msg'] == "vassals[1].file: 'edge.router.topology.ini' is planned twice (also vassals[0].file)"


def test_missing_directory_fails_outside_check_mode(run_module, uwsgi_ok, tmp_path):
    failed, result, _warnings = run_module(vassals.main, _args(tmp_path / 'none', uwsgi_ok, [_router()]))

    assert failed
    assert result['msg'].startswith('%s: the vassal directory does not exist' % (tmp_path / 'none'))


# --- module_utils helpers ----------------------------------------------------------------------------

def test_ini_options_reads_as_uwsgi_does():
    text = ('[uwsgi]\nsocket = 127.0.0.1:1\n  socket=127.0.0.1:2  \n; socket = 127.0.0.1:3\n'
            '[app]\nsocket = 127.0.0.1:4\n[uwsgi]\nmaster\nenv = X=5%%\n')
    assert vassal_file.ini_options(text) == [
        ('socket', '127.0.0.1:1'), ('socket', '127.0.0.1:2'), ('master', ''), ('env', 'X=5%')]
    assert vassal_file.ini_options(text, 'app') == [('socket', '127.0.0.1:4')]
    assert vassal_file.listening_sockets(text.encode()) == ['127.0.0.1:1', '127.0.0.1:2']


@pytest.mark.parametrize('left, right, clash', [
    ('127.0.0.1:3031', '127.0.0.1:3031', True),
    (':3031', '127.0.0.1:3031', True),
    ('0.0.0.0:3031', '10.0.0.1:3031', True),
    ('127.0.0.1:3031', '127.0.0.2:3031', False),
    ('127.0.0.1:3031', '127.0.0.1:3032', False),
    ('/run/app.sock', '/run/app.sock', True),
    ('/run/app.sock', '/run/other.sock', False),
])
def test_sockets_clash(left, right, clash):
    assert vassal_file.sockets_clash(left, right) is clash
    assert vassal_file.sockets_clash(right, left) is clash


def test_socket_target():
    assert vassal_file.socket_target(':3031') == (socket.AF_INET, ('127.0.0.1', 3031))
    assert vassal_file.socket_target('/run/app.sock') == (socket.AF_UNIX, '/run/app.sock')
    assert vassal_file.socket_target('=0') is None
    assert vassal_file.socket_target('%(addr):3031') is None
    assert vassal_file.socket_target('127.0.0.1:99999') is None


def test_wait_closed_returns_what_stays_open(listener):
    server = listener()
    closed = _free_port()
    targets = [vassal_file.socket_target(server.address), vassal_file.socket_target('127.0.0.1:%d' % closed)]

    still = vassal_file.wait_closed(targets, time.monotonic() + 0.5)

    assert still == [targets[0]]


# --- files a vassal loads, and router replicas replaced in steps --------------------------------

def test_a_changed_file_the_vassal_loads_rewrites_it(run_module, uwsgi_ok, vassal_dir, tmp_path):
    cert = tmp_path / 'edge.crt'
    _write(cert, 'one')
    router = dict(_router(), depends=[str(cert)])
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router]))
    assert not failed, result
    first = _read(vassal_dir / router['file'])
    assert first.startswith(_ini(router)) and '; uwsgi.topology: the files it loads (1) have sha256 ' in first
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router]))
    assert result['changed'] is False
    _write(cert, 'two')  # a renewed certificate: the vassal changes, so the Emperor reloads it
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router]))
    assert not failed, result
    assert result['written'] == [router['file']]
    assert _read(vassal_dir / router['file']) != first
    cert.unlink()  # a missing file counts as a content too
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [router]))
    assert result['written'] == [router['file']]


def test_rolling_vassals_that_change_are_left_to_the_action_plugin(run_module, uwsgi_ok, vassal_dir):
    rolling = {'stats': '127.0.0.1:1', 'server': '127.0.0.1:2', 'listen': ['127.0.0.1:3'], 'leave': True,
               'announces': []}
    router = dict(_router(), rolling=rolling)
    node = _node('app1', '127.0.0.1:13031')
    args = dict(_args(vassal_dir, uwsgi_ok, [router, node]), defer_rolling=True)
    failed, result, _warnings = run_module(vassals.main, args)
    assert not failed, result
    assert result['deferred'] == [router['file']] and result['written'] == [node['file']]
    assert not (vassal_dir / router['file']).exists()
    # The step: nothing runs there yet (no stats server), so it is only written; no refill is sent.
    step = dict(_args(vassal_dir, uwsgi_ok, [router]), rolling_step=True, prune=False)
    failed, result, _warnings = run_module(vassals.main, step)
    assert not failed, result
    assert result['written'] == [router['file']] and result['pools_before'] is None
    assert result['rolled'] == [{'file': router['file'], 'left': None, 'started': None, 'refilled': None,
                                 'pushed': 0}]
    # In place: neither deferred nor rolled again.
    failed, result, _warnings = run_module(vassals.main, args)
    assert result['deferred'] == [] and result['unchanged'] == [router['file'], node['file']]


def test_a_rolling_step_takes_exactly_one_rolling_vassal(run_module, uwsgi_ok, vassal_dir):
    step = dict(_args(vassal_dir, uwsgi_ok, [_router(), _node('app1', '127.0.0.1:13031')]), rolling_step=True)
    failed, result, _warnings = run_module(vassals.main, step)
    assert failed and 'rolling_step replaces exactly one vassal with rolling, got 2' in result['msg']


def test_a_backlog_above_somaxconn_is_refused_before_anything_is_written(tmp_path):
    limit = tmp_path / 'somaxconn'
    limit.write_text(u'128\n')
    vassals._check_backlog([('listen', '128')], 'vassals[0] (edge)', str(limit))
    vassals._check_backlog([('socket', ':1')], 'vassals[0] (edge)', str(limit))
    with pytest.raises(vassals.TopologyError, match=r"vassals\[0\] \(edge\): listen: 1024 exceeds this host's "
                                                    r"net.core.somaxconn \(128\).*listen to 128 or less"):
        vassals._check_backlog([('listen', '1024')], 'vassals[0] (edge)', str(limit))
    vassals._check_backlog([('listen', '1024')], 'vassals[0] (edge)', str(tmp_path / 'missing'))


def _fifo_node(fifo, unsubscribe):
    node = _node('app1', '127.0.0.1:13031')
    options = [['socket', '127.0.0.1:13031'], ['wsgi-file', '/srv/app/wsgi.py'], ['master-fifo', fifo]]
    if unsubscribe:
        options.append(['unsubscribe-on-graceful-reload', 'true'])
    node['spec'] = {'options': options}
    return node


def _fifo_reader(path):
    """A running master's FIFO: what is written to it, read in a thread."""
    os.mkfifo(path)
    got = []
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def read():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not got:
            try:
                data = os.read(fd, 16)
            except BlockingIOError:
                data = b''
            if data:
                got.append(data)
            time.sleep(0.01)
        os.close(fd)
    thread = threading.Thread(target=read)
    thread.daemon = True
    thread.start()
    return got, thread


def test_a_node_that_becomes_a_keys_only_node_is_blocked_before_its_reload(run_module, uwsgi_ok, vassal_dir, tmp_path):
    fifo = str(tmp_path / 'app1.fifo')
    got, thread = _fifo_reader(fifo)
    old = _fifo_node(fifo, unsubscribe=True)
    _write(vassal_dir / old['file'], _ini(old))
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_fifo_node(fifo, False)]))
    thread.join(6)
    assert not failed, result
    assert result['written'] == ['app1.node.topology.ini'] and result['kept_in_pools'] == ['app1.node.topology.ini']
    assert got == [b'S']


def test_a_drained_node_is_not_unblocked_and_other_changes_send_nothing(run_module, uwsgi_ok, vassal_dir, tmp_path):
    fifo = str(tmp_path / 'app1.fifo')
    got, thread = _fifo_reader(fifo)
    old = _fifo_node(fifo, unsubscribe=True)
    _write(vassal_dir / old['file'], _ini(old))
    with open(str(tmp_path / 'app1.drain'), 'w') as handle:
        json.dump({'blocked': True, 'fifo': list(drain.fifo_identity(fifo))}, handle)
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [_fifo_node(fifo, False)]))
    assert not failed, result
    assert 'kept_in_pools' not in result
    # A node keeping unsubscribe-on-graceful-reload leaves its pools on reload, as planned: nothing sent.
    _write(vassal_dir / old['file'], _ini(old).replace('13031', '13099'))
    failed, result, _warnings = run_module(vassals.main, _args(vassal_dir, uwsgi_ok, [old]))
    thread.join(6)
    assert not failed, result
    assert 'kept_in_pools' not in result
    assert got == []
