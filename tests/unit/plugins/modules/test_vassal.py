# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.vassal module, run in-process with fake uwsgi binaries."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import sys

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import vassal_file
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.modules import vassal

ROUTER = {
    'routers': [{
        'type': 'http',
        'bind': '127.0.0.1:8080',
        'forward_to': {'type': 'subscription_server', 'address': '127.0.0.1:2626'},
    }],
}
ROUTER_INI = render_ini(compile_options(ROUTER))

OLD = '[uwsgi]\nstrict = true\nmaster = true\nhttp = 127.0.0.1:9090\n'


@pytest.fixture
def vassal_path(vassal_dir):
    return str(vassal_dir / 'router.ini')


def _args(path, binary, **extra):
    args = {'path': path, 'spec': ROUTER, 'uwsgi_binary': binary.path}
    args.update(extra)
    return args


def _read(path):
    with open(path) as handle:
        return handle.read()


def _write(path, content):
    with open(path, 'w') as handle:
        handle.write(content)


def _listing(directory):
    return sorted(os.listdir(str(directory)))


# --- present: create, idempotence, update -------------------------------------------------

def test_creates_file_validated_in_place(run_module, uwsgi_ok, vassal_dir, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok))

    assert not failed, result
    assert result['changed'] is True
    assert result['path'] == vassal_path
    assert result['options'] == compile_options(ROUTER)
    assert result['ini'] == ROUTER_INI
    assert _read(vassal_path) == ROUTER_INI
    assert 'diff' not in result  # diff only in diff mode
    assert _listing(vassal_dir) == ['router.ini']  # no temporary file left behind

    (call,) = uwsgi_ok.calls
    staged = call['args'][2]
    assert call['args'] == ['--strict', '--ini', staged, '--version']
    assert call['content'] == ROUTER_INI  # the validator saw the new content
    assert call['cwd'] == str(vassal_dir)


def test_temporary_file_is_hidden_next_to_the_target_and_never_a_config_name(
        run_module, uwsgi_ok, vassal_dir, vassal_path):
    run_module(vassal.main, _args(vassal_path, uwsgi_ok))

    staged = uwsgi_ok.calls[0]['args'][2]
    assert os.path.dirname(staged) == str(vassal_dir)
    name = os.path.basename(staged)
    assert name.startswith('.router.ini.')
    assert name.endswith('.tmp')
    assert not name.endswith(vassal_file.CONFIG_EXTENSIONS)
    assert not os.path.exists(staged)


def test_second_run_is_unchanged_and_does_not_validate_again(run_module, uwsgi_ok, vassal_path):
    run_module(vassal.main, _args(vassal_path, uwsgi_ok))
    mtime = os.stat(vassal_path).st_mtime_ns

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok))

    assert not failed, result
    assert result['changed'] is False
    assert result['ini'] == ROUTER_INI
    assert len(uwsgi_ok.calls) == 1
    assert os.stat(vassal_path).st_mtime_ns == mtime


def test_replaces_different_content(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, OLD)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok))

    assert not failed, result
    assert result['changed'] is True
    assert _read(vassal_path) == ROUTER_INI


def test_replacing_keeps_existing_mode_when_none_is_given(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, OLD)
    os.chmod(vassal_path, 0o640)

    run_module(vassal.main, _args(vassal_path, uwsgi_ok))

    assert stat.S_IMODE(os.stat(vassal_path).st_mode) == 0o640


def test_options_list_is_written_in_order(run_module, uwsgi_ok, vassal_path):
    options = [['master', 'true'], ['socket', '127.0.0.1:3031'], ['processes', 4], ['socket', '127.0.0.1:3032']]

    failed, result, _warnings = run_module(vassal.main, {
        'path': vassal_path, 'options': options, 'uwsgi_binary': uwsgi_ok.path})

    assert not failed, result
    assert result['options'] == options
    assert _read(vassal_path) == ('[uwsgi]\nmaster = true\nsocket = 127.0.0.1:3031\n'
                                  'processes = 4\nsocket = 127.0.0.1:3032\n')


def test_build_and_version_reach_the_compiler(run_module, uwsgi_ok, vassal_path):
    spec = {'routers': [{'type': 'https', 'bind': '0.0.0.0:443', 'cert': '/etc/ssl/c.pem',
                         'key': '/etc/ssl/k.pem',
                         'forward_to': {'type': 'subscription_server', 'address': '127.0.0.1:2626'}}]}
    # Only plugin_build is set: the module must not pass the unset keys as null,
    # or ssl would read as false and the https router be refused.
    build = {'plugin_build': True}

    failed, result, _warnings = run_module(vassal.main, {
        'path': vassal_path, 'spec': spec, 'build': build, 'version': '2.1', 'strict': False,
        'uwsgi_binary': uwsgi_ok.path})

    assert not failed, result
    assert result['options'] == compile_options(spec, version='2.1', build=build, strict=False)
    assert result['options'][0][0] == 'plugin'
    assert ['strict', 'true'] not in result['options']


def test_a_link_stays_a_link_and_its_target_is_written(run_module, uwsgi_ok, tmp_path, vassal_dir):
    available = tmp_path / 'apps-available'
    available.mkdir()
    target = str(available / 'router.ini')
    _write(target, OLD)
    link = str(vassal_dir / 'router.ini')
    os.symlink(target, link)

    failed, result, _warnings = run_module(vassal.main, _args(link, uwsgi_ok, mode='0640'))

    assert not failed, result
    assert result['changed'] is True
    assert result['path'] == link
    assert os.path.islink(link) and os.path.realpath(link) == target
    assert _read(target) == ROUTER_INI
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert os.path.dirname(uwsgi_ok.calls[0]['args'][2]) == str(available)
    assert _listing(available) == ['router.ini']

    failed, result, _warnings = run_module(vassal.main, _args(link, uwsgi_ok, mode='0640'))
    assert not failed, result
    assert result['changed'] is False


# --- check mode ------------------------------------------------------------------------------

def test_check_mode_creates_nothing_but_validates(run_module, uwsgi_ok, vassal_dir, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok), check_mode=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['ini'] == ROUTER_INI
    assert _listing(vassal_dir) == []
    (call,) = uwsgi_ok.calls
    assert call['content'] == ROUTER_INI


def test_check_mode_leaves_different_content_alone(run_module, uwsgi_ok, vassal_dir, vassal_path):
    _write(vassal_path, OLD)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok), check_mode=True)

    assert not failed, result
    assert result['changed'] is True
    assert _read(vassal_path) == OLD
    assert _listing(vassal_dir) == ['router.ini']


def test_check_mode_predicts_a_failed_validation(run_module, uwsgi_strict_fail, vassal_dir, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_strict_fail),
                                           check_mode=True)

    assert failed
    assert '[strict-mode] unknown config directive' in result['msg']
    assert _listing(vassal_dir) == []


def test_check_mode_unchanged_file_reports_unchanged(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, ROUTER_INI)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok), check_mode=True)

    assert not failed, result
    assert result['changed'] is False
    assert uwsgi_ok.calls == []


def test_check_mode_with_missing_directory_warns_and_predicts(run_module, uwsgi_ok, tmp_path):
    path = str(tmp_path / 'not-yet' / 'router.ini')

    failed, result, warnings = run_module(vassal.main, _args(path, uwsgi_ok), check_mode=True, diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['diff'][0]['after'] == ROUTER_INI
    assert any('does not exist' in warning for warning in warnings)
    assert not os.path.exists(str(tmp_path / 'not-yet'))


def test_check_mode_with_missing_binary_warns_and_skips_validation(run_module, vassal_dir, vassal_path):
    missing = str(vassal_dir.parent / 'no-such-uwsgi')

    failed, result, warnings = run_module(vassal.main, {
        'path': vassal_path, 'spec': ROUTER, 'uwsgi_binary': missing}, check_mode=True)

    assert not failed, result
    assert result['changed'] is True
    assert any(missing in warning and 'skipping validation' in warning for warning in warnings)
    assert _listing(vassal_dir) == []


# --- diff mode -------------------------------------------------------------------------------

def test_diff_of_a_new_file(run_module, uwsgi_ok, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok), diff=True)

    assert not failed, result
    assert result['diff'] == [{'before_header': vassal_path, 'after_header': vassal_path,
                               'before': '', 'after': ROUTER_INI}]


def test_diff_of_a_changed_file_in_check_mode(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, OLD)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok),
                                           check_mode=True, diff=True)

    assert not failed, result
    assert result['diff'][0]['before'] == OLD
    assert result['diff'][0]['after'] == ROUTER_INI
    assert _read(vassal_path) == OLD


def test_diff_of_an_unchanged_file_is_empty(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, ROUTER_INI)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok), diff=True)

    assert not failed, result
    assert result['changed'] is False
    assert result['diff'] == [{'before_header': vassal_path, 'after_header': vassal_path,
                               'before': ROUTER_INI, 'after': ROUTER_INI}]


# --- validation ------------------------------------------------------------------------------

def test_failed_validation_leaves_the_old_file_untouched(run_module, uwsgi_strict_fail, vassal_dir, vassal_path):
    _write(vassal_path, OLD)
    os.chmod(vassal_path, 0o600)
    before = os.stat(vassal_path)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_strict_fail, mode='0644'))

    assert failed
    assert result['msg'].startswith(vassal_path + ': uWSGI rejected the new content')
    assert '[strict-mode] unknown config directive: http-bogus' in result['msg']
    assert 'left unchanged' in result['msg']
    assert 'ini' not in result and 'options' not in result  # no file content in the failure
    assert 'exception' not in result
    assert _read(vassal_path) == OLD
    after = os.stat(vassal_path)
    assert (after.st_ino, after.st_mtime_ns, stat.S_IMODE(after.st_mode)) == (
        before.st_ino, before.st_mtime_ns, 0o600)
    assert _listing(vassal_dir) == ['router.ini']


def test_failed_validation_of_a_new_file_creates_nothing(run_module, uwsgi_strict_fail, vassal_dir, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_strict_fail))

    assert failed
    assert result.get('changed', False) is False
    assert _listing(vassal_dir) == []


def test_validate_false_skips_the_binary(run_module, uwsgi_strict_fail, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_strict_fail, validate=False))

    assert not failed, result
    assert _read(vassal_path) == ROUTER_INI
    assert uwsgi_strict_fail.calls == []


def test_validation_needs_a_binary(run_module, vassal_dir, vassal_path):
    missing = str(vassal_dir.parent / 'no-such-uwsgi')

    failed, result, _warnings = run_module(vassal.main, {
        'path': vassal_path, 'spec': ROUTER, 'uwsgi_binary': missing})

    assert failed
    assert missing in result['msg']
    assert 'validate=false' in result['msg']
    assert _listing(vassal_dir) == []


def test_default_binary_is_uwsgi_on_path(run_module, monkeypatch, uwsgi_ok, vassal_path):
    monkeypatch.setenv('PATH', os.path.dirname(uwsgi_ok.path))

    failed, result, _warnings = run_module(vassal.main, {'path': vassal_path, 'spec': ROUTER})

    assert not failed, result
    assert len(uwsgi_ok.calls) == 1


def test_binary_name_is_looked_up_on_path(run_module, monkeypatch, make_uwsgi, vassal_path):
    core = make_uwsgi('core', 0, '2.0.21-debian')
    os.rename(core.path, os.path.join(os.path.dirname(core.path), 'uwsgi-core'))
    monkeypatch.setenv('PATH', os.path.dirname(core.path))

    failed, result, _warnings = run_module(vassal.main, {
        'path': vassal_path, 'spec': ROUTER, 'uwsgi_binary': 'uwsgi-core'})

    assert not failed, result
    assert len(core.calls) == 1


def test_no_uwsgi_on_path_fails_clearly(run_module, monkeypatch, tmp_path, vassal_path):
    empty = tmp_path / 'empty-bin'
    empty.mkdir()
    monkeypatch.setenv('PATH', str(empty))
    # get_bin_path also looks in the sbin directories; only test when uwsgi is nowhere.
    if any(os.path.exists(os.path.join(d, 'uwsgi')) for d in ('/sbin', '/usr/sbin', '/usr/local/sbin')):
        pytest.skip('a uwsgi binary is installed in an sbin directory')

    failed, result, _warnings = run_module(vassal.main, {'path': vassal_path, 'spec': ROUTER})

    assert failed
    assert "no 'uwsgi' binary found" in result['msg']


def test_validator_without_output(run_module, make_uwsgi, vassal_path):
    silent = make_uwsgi('silent', 2, '')

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, silent))

    assert failed
    assert 'exited 2' in result['msg']


# --- file attributes -------------------------------------------------------------------------

def test_mode_is_applied_and_idempotent(run_module, uwsgi_ok, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, mode='0640'))
    assert not failed, result
    assert stat.S_IMODE(os.stat(vassal_path).st_mode) == 0o640

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, mode='0640'))
    assert not failed, result
    assert result['changed'] is False


def test_new_file_without_mode_is_world_readable_for_the_emperor(run_module, uwsgi_ok, vassal_path):
    old_umask = os.umask(0o022)
    try:
        run_module(vassal.main, _args(vassal_path, uwsgi_ok))
    finally:
        os.umask(old_umask)
    # mkstemp makes 0600 files; atomic_move must give the new file the usual 0644.
    assert stat.S_IMODE(os.stat(vassal_path).st_mode) == 0o644


def test_mode_only_change_is_changed_without_validation(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, ROUTER_INI)
    os.chmod(vassal_path, 0o600)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, mode='0644'), diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert stat.S_IMODE(os.stat(vassal_path).st_mode) == 0o644
    assert uwsgi_ok.calls == []
    assert result['diff'][1]['before']['mode'] == '0600'
    assert result['diff'][1]['after']['mode'] == '0644'


def test_mode_change_in_check_mode_is_predicted_only(run_module, uwsgi_ok, vassal_path):
    _write(vassal_path, ROUTER_INI)
    os.chmod(vassal_path, 0o600)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, mode='0644'),
                                           check_mode=True)

    assert not failed, result
    assert result['changed'] is True
    assert stat.S_IMODE(os.stat(vassal_path).st_mode) == 0o600


# --- absent ----------------------------------------------------------------------------------

def test_absent_removes_the_file(run_module, vassal_dir, vassal_path):
    _write(vassal_path, OLD)

    failed, result, _warnings = run_module(vassal.main, {'path': vassal_path, 'state': 'absent'}, diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['diff'] == [{'before_header': vassal_path, 'after_header': vassal_path,
                               'before': OLD, 'after': ''}]
    assert _listing(vassal_dir) == []


def test_absent_in_check_mode_keeps_the_file(run_module, vassal_path):
    _write(vassal_path, OLD)

    failed, result, _warnings = run_module(vassal.main, {'path': vassal_path, 'state': 'absent'},
                                           check_mode=True)

    assert not failed, result
    assert result['changed'] is True
    assert _read(vassal_path) == OLD


def test_absent_removes_a_link_not_its_target(run_module, tmp_path, vassal_dir):
    target = str(tmp_path / 'router.ini')
    _write(target, OLD)
    link = str(vassal_dir / 'router.ini')
    os.symlink(target, link)

    failed, result, _warnings = run_module(vassal.main, {'path': link, 'state': 'absent'})

    assert not failed, result
    assert result['changed'] is True
    assert not os.path.lexists(link)
    assert _read(target) == OLD


def test_absent_removes_a_dangling_link(run_module, tmp_path, vassal_dir):
    link = str(vassal_dir / 'router.ini')
    os.symlink(str(tmp_path / 'gone.ini'), link)

    failed, result, _warnings = run_module(vassal.main, {'path': link, 'state': 'absent'}, diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['diff'][0]['before'] == ''
    assert not os.path.lexists(link)


def test_absent_when_missing_is_unchanged(run_module, vassal_path):
    failed, result, _warnings = run_module(vassal.main, {'path': vassal_path, 'state': 'absent'})

    assert not failed, result
    assert result['changed'] is False
    assert 'ini' not in result


# --- errors ----------------------------------------------------------------------------------

def test_compiler_error_is_the_message_without_traceback(run_module, uwsgi_ok, vassal_dir, vassal_path):
    spec = {'routers': [{'type': 'http', 'bind': '127.0.0.1:8080', 'bogus': 1}]}
    with pytest.raises(TopologyError) as expected:
        compile_options(spec)

    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, spec=spec))

    assert failed
    assert result['msg'] == str(expected.value)
    assert 'routers[0]' in result['msg']
    assert 'exception' not in result
    assert _listing(vassal_dir) == []
    assert uwsgi_ok.calls == []


def test_bad_option_list_is_reported_by_position(run_module, uwsgi_ok, vassal_path):
    failed, result, _warnings = run_module(vassal.main, {
        'path': vassal_path, 'options': [['master', 'true'], ['socket']], 'uwsgi_binary': uwsgi_ok.path})

    assert failed
    assert result['msg'].startswith('options[1]: ')


def test_missing_directory_fails_clearly(run_module, uwsgi_ok, tmp_path):
    path = str(tmp_path / 'not-yet' / 'router.ini')

    failed, result, _warnings = run_module(vassal.main, _args(path, uwsgi_ok))

    assert failed
    assert result['msg'] == '%s: the directory %s does not exist; create it first (for example with ' \
        'ansible.builtin.file, state=directory)' % (path, tmp_path / 'not-yet')


def test_path_that_is_a_directory_fails(run_module, uwsgi_ok, vassal_dir):
    failed, result, _warnings = run_module(vassal.main, _args(str(vassal_dir), uwsgi_ok))

    assert failed
    assert result['msg'].startswith(str(vassal_dir) + ': is a directory')


def test_spec_and_options_are_mutually_exclusive(run_module, uwsgi_ok, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, options=[['master', 'true']]))

    assert failed
    assert 'mutually exclusive' in result['msg']


def test_present_needs_spec_or_options(run_module, vassal_path):
    failed, result, _warnings = run_module(vassal.main, {'path': vassal_path})

    assert failed
    assert 'spec' in result['msg'] and 'options' in result['msg']


def test_unknown_version_is_refused(run_module, uwsgi_ok, vassal_path):
    failed, result, _warnings = run_module(vassal.main, _args(vassal_path, uwsgi_ok, version='3.0'))

    assert failed
    assert 'version' in result['msg']


def test_path_not_ending_in_ini_warns(run_module, uwsgi_ok, vassal_dir):
    path = str(vassal_dir / 'router.conf')

    failed, result, warnings = run_module(vassal.main, _args(path, uwsgi_ok))

    assert not failed, result
    assert any('.ini' in warning for warning in warnings)


# --- vassal_file helpers -----------------------------------------------------------------------

def test_write_temp_names_and_content(vassal_dir):
    path = str(vassal_dir / 'app.ini')

    tmp = vassal_file.write_temp(path, b'[uwsgi]\n')

    try:
        assert os.path.dirname(tmp) == str(vassal_dir)
        assert os.path.basename(tmp).startswith('.app.ini.')
        assert tmp.endswith(vassal_file.TEMP_SUFFIX)
        assert not tmp.endswith(vassal_file.CONFIG_EXTENSIONS)
        with open(tmp, 'rb') as handle:
            assert handle.read() == b'[uwsgi]\n'
    finally:
        vassal_file.remove_quietly(tmp)
    assert not os.path.exists(tmp)


def test_read_current_of_non_utf8_content_diffs_without_failing(vassal_dir):
    path = str(vassal_dir / 'app.ini')
    with open(path, 'wb') as handle:
        handle.write(b'[uwsgi]\nx = \xff\n')

    data = vassal_file.read_current(path)

    assert data == b'[uwsgi]\nx = \xff\n'
    assert vassal_file.as_text(data) == u'[uwsgi]\nx = \ufffd\n'
    assert vassal_file.as_text(None) == ''


def test_validate_command():
    assert vassal_file.validate_command('/usr/bin/uwsgi', '/d/.a.ini.x.tmp') == [
        '/usr/bin/uwsgi', '--strict', '--ini', '/d/.a.ini.x.tmp', '--version']


# --- against a real uWSGI, when one is installed ---------------------------------------------

def _real_uwsgi():
    beside_python = os.path.join(os.path.dirname(sys.executable), 'uwsgi')
    if os.access(beside_python, os.X_OK):
        return beside_python
    return shutil.which('uwsgi')


@pytest.mark.skipif(_real_uwsgi() is None, reason='no uwsgi binary installed')
def test_real_uwsgi_accepts_a_good_file_and_rejects_an_unknown_option(run_module, vassal_dir):
    binary = _real_uwsgi()
    path = str(vassal_dir / 'app.ini')
    good = {'options': [['socket', '127.0.0.1:3031']]}
    bad = {'options': [['socket', '127.0.0.1:3031'], ['http-bogus', '1']]}

    failed, result, _warnings = run_module(vassal.main, {'path': path, 'spec': good, 'uwsgi_binary': binary})
    assert not failed, result
    written = _read(path)

    failed, result, _warnings = run_module(vassal.main, {'path': path, 'spec': bad, 'uwsgi_binary': binary})
    assert failed
    assert '[strict-mode] unknown config directive: http-bogus' in result['msg']
    assert _read(path) == written
    assert _listing(vassal_dir) == ['app.ini']
