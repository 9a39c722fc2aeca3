# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.files module and its action plugin, on real temporary directories.

The module runs in-process (``run_module``); the action plugin runs with a real DataLoader and its
``_execute_module`` replaced by an in-process run of the module with the arguments it built.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import pwd
import subprocess
import sys

import pytest

from unittest.mock import MagicMock

from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.uwsgi.topology.plugins.action import files as files_action
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.modules import files as files_module
from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_placement import (  # noqa: E402
    _b64, _mode, _read, _write)

SECRET = b'-----BEGIN PRIVATE KEY-----\nMIIEvQ-TOP-SECRET-KEY-MATERIAL-0123456789\n-----END PRIVATE KEY-----\n'
CERT = b'-----BEGIN CERTIFICATE-----\nMIIC-PUBLIC-CERTIFICATE\n-----END CERTIFICATE-----\n'
PUBKEY = b'-----BEGIN PUBLIC KEY-----\nMIIB-PUBLIC-KEY\n-----END PUBLIC KEY-----\n'
APP = b'def application(env, start_response):\n    return [b"hello"]\n'
ME = pwd.getpwuid(os.getuid()).pw_name


class Layout(object):
    """A key store on the "controller" and a host prefix, both under tmp_path."""

    def __init__(self, tmp_path):
        self.store = str(tmp_path / 'store')
        self.host = str(tmp_path / 'host')
        os.makedirs(self.store)
        os.makedirs(self.host)
        self.sources = {'app.key': SECRET, 'app.crt': CERT, 'app.pem': PUBKEY, 'demo_app.py': APP}
        for name, data in self.sources.items():
            _write(os.path.join(self.store, name), data)

    def src(self, name):
        return os.path.join(self.store, name)

    def path(self, relative):
        return os.path.join(self.host, relative)

    @property
    def directories(self):
        return [{'path': self.path('certs'), 'mode': '0755', 'private': False},
                {'path': self.path('pubkeys'), 'mode': '0755', 'private': False},
                {'path': self.path('pubkeys/edge'), 'mode': '0755', 'private': False},
                {'path': self.path('apps'), 'mode': '0755', 'private': False}]

    @property
    def files(self):
        return [
            {'src': self.src('app.key'), 'dest': self.path('certs/app.key'), 'mode': '0600', 'secret': True,
             'private': True, 'kind': 'sni_key', 'key': 'app.test'},
            {'src': self.src('app.pem'), 'dest': self.path('pubkeys/edge/app.pem'), 'mode': '0644',
             'secret': False, 'private': False, 'kind': 'public_key', 'key': 'app.test'},
            {'src': self.src('app.crt'), 'dest': self.path('certs/app.crt'), 'mode': '0644', 'secret': False,
             'private': False, 'kind': 'sni_cert', 'key': 'app.test'},
            {'src': self.src('demo_app.py'), 'dest': self.path('apps/demo_app.py'), 'mode': '0644',
             'secret': False, 'private': False, 'kind': 'app'},
        ]

    @property
    def prune(self):
        return [self.path('certs'), self.path('pubkeys'), self.path('pubkeys/edge'), self.path('apps')]

    def args(self, contents=True, **extra):
        files = self.files
        args = {'directories': self.directories, 'files': files, 'prune': self.prune, 'owner': ME}
        if contents:
            args['_contents'] = [_b64(_read(f['src'])) for f in files]
        args.update(extra)
        return args


@pytest.fixture
def layout(tmp_path):
    return Layout(tmp_path)


@pytest.fixture
def renames(monkeypatch):
    """Every rename the module does: (dest, mode of the staged file, its content) at rename time."""
    real = os.replace
    seen = []

    def replace(src, dest, *args, **kwargs):
        seen.append((str(dest), _mode(src), _read(src)))
        return real(src, dest, *args, **kwargs)

    monkeypatch.setattr(os, 'replace', replace)
    return seen


def _no_secret_in(result):
    dumped = json.dumps(result)
    assert 'TOP-SECRET-KEY-MATERIAL' not in dumped
    assert _b64(SECRET) not in dumped
    # Any long stretch of the base64 text, whatever its alignment.
    for shift in range(3):
        assert _b64(SECRET[shift:])[8:40] not in dumped


# --- the module: placing ---------------------------------------------------------------------

def test_places_in_order_with_modes_set_before_the_rename(run_module, layout, renames):
    failed, result, warnings = run_module(files_module.main, layout.args())
    assert not failed and warnings == []
    assert result['changed'] is True
    order = [f['dest'] for f in layout.files]
    assert [dest for dest, _mode_, _data in renames] == order
    assert [mode for _dest, mode, _data in renames] == [0o600, 0o644, 0o644, 0o644]
    assert result['placed'] == order
    assert result['created_directories'] == [d['path'] for d in layout.directories]
    assert result['changed_files_by_kind'] == {'sni_key': [order[0]], 'public_key': [order[1]],
                                               'sni_cert': [order[2]], 'app': [order[3]]}
    assert result['pruned'] == [] and result['removed'] == [] and result['updated_attributes'] == []
    for entry in layout.files:
        assert _read(entry['dest']) == layout.sources[os.path.basename(entry['src'])]
        assert _mode(entry['dest']) == int(entry['mode'], 8)
    assert _mode(layout.path('certs')) == 0o755
    # No staging file left behind.
    assert sorted(os.listdir(layout.path('certs'))) == ['app.crt', 'app.key']
    _no_secret_in(result)


def test_second_run_changes_nothing(run_module, layout, renames):
    run_module(files_module.main, layout.args())
    del renames[:]
    failed, result, _warnings = run_module(files_module.main, layout.args(), diff=True)
    assert not failed
    assert result['changed'] is False
    assert renames == []
    assert result['placed'] == [] and result['created_directories'] == [] and result['pruned'] == []
    assert result['diff'] == []
    assert result['changed_files_by_kind'] == {'sni_key': [], 'public_key': [], 'sni_cert': [], 'app': []}


def test_only_the_changed_file_is_written_and_reported_by_kind(run_module, layout, renames):
    run_module(files_module.main, layout.args())
    del renames[:]
    _write(layout.src('demo_app.py'), APP + b'# v2\n')
    failed, result, _warnings = run_module(files_module.main, layout.args())
    assert not failed and result['changed'] is True
    assert [dest for dest, _mode_, _data in renames] == [layout.path('apps/demo_app.py')]
    assert result['placed'] == [layout.path('apps/demo_app.py')]
    assert result['changed_files_by_kind']['app'] == [layout.path('apps/demo_app.py')]
    assert result['changed_files_by_kind']['sni_cert'] == []


def test_a_rotated_key_is_placed_before_its_certificate(run_module, layout, renames):
    run_module(files_module.main, layout.args())
    del renames[:]
    _write(layout.src('app.key'), SECRET.replace(b'0123', b'ROTD'))
    _write(layout.src('app.crt'), CERT.replace(b'PUBLIC', b'ROTATED'))
    failed, result, _warnings = run_module(files_module.main, layout.args())
    assert not failed
    assert [dest for dest, _mode_, _data in renames] == [layout.path('certs/app.key'), layout.path('certs/app.crt')]
    assert renames[0][1] == 0o600
    assert result['placed'] == [layout.path('certs/app.key'), layout.path('certs/app.crt')]


def test_a_wrong_mode_is_corrected_in_place_without_rewriting(run_module, layout, renames):
    run_module(files_module.main, layout.args())
    del renames[:]
    key = layout.path('certs/app.key')
    os.chmod(key, 0o644)
    inode = os.stat(key).st_ino
    failed, result, _warnings = run_module(files_module.main, layout.args(), diff=True)
    assert not failed and result['changed'] is True
    assert renames == [] and os.stat(key).st_ino == inode
    assert _mode(key) == 0o600
    assert result['placed'] == [] and result['updated_attributes'] == [key]
    assert result['diff'] == [{'before': {'path': key, 'mode': '0644'}, 'after': {'path': key, 'mode': '0600'}}]


def test_an_existing_secret_readable_by_others_is_replaced_by_a_closed_file(run_module, layout, renames):
    os.makedirs(layout.path('certs'))
    _write(layout.path('certs/app.key'), b'OLD-SECRET-OLD-SECRET', 0o644)
    failed, result, _warnings = run_module(files_module.main, layout.args(), diff=True)
    assert not failed
    assert renames[0][:2] == (layout.path('certs/app.key'), 0o600)
    assert _mode(layout.path('certs/app.key')) == 0o600
    assert 'OLD-SECRET' not in json.dumps(result)
    _no_secret_in(result)


# --- check mode and diff -----------------------------------------------------------------------

def test_check_mode_writes_nothing_and_predicts_the_real_run(run_module, layout, renames, tmp_path):
    os.makedirs(layout.path('pubkeys/stale-router'))
    _write(layout.path('pubkeys/stale.pem'), b'x')
    before = sorted(os.walk(layout.host))
    failed, predicted, _warnings = run_module(files_module.main, layout.args(), check_mode=True, diff=True)
    assert not failed
    assert renames == [] and sorted(os.walk(layout.host)) == before
    failed, result, _warnings = run_module(files_module.main, layout.args(), diff=True)
    assert not failed
    assert predicted == result
    assert result['pruned'] == [layout.path('pubkeys/stale-router'), layout.path('pubkeys/stale.pem')]
    failed, again, _warnings = run_module(files_module.main, layout.args(), check_mode=True)
    assert again['changed'] is False


def test_diff_shows_text_before_and_after_but_never_a_secret(run_module, layout):
    run_module(files_module.main, layout.args())
    _write(layout.src('app.crt'), CERT.replace(b'PUBLIC', b'RENEWED'))
    _write(layout.src('app.key'), SECRET.replace(b'0123', b'ROTD'))
    failed, result, _warnings = run_module(files_module.main, layout.args(), diff=True)
    assert not failed
    by_header = dict((d['before_header'], d) for d in result['diff'] if 'before_header' in d)
    assert by_header[layout.path('certs/app.crt')]['before'] == CERT.decode()
    assert by_header[layout.path('certs/app.crt')]['after'] == CERT.replace(b'PUBLIC', b'RENEWED').decode()
    key_diff = by_header[layout.path('certs/app.key')]
    assert key_diff['before'] != key_diff['after']
    assert 'secret' in key_diff['before'] and 'secret' in key_diff['after']
    assert 'ROTD' not in json.dumps(result)
    _no_secret_in(result)


def test_without_diff_mode_no_diff_is_returned(run_module, layout):
    failed, result, _warnings = run_module(files_module.main, layout.args())
    assert not failed and 'diff' not in result


# --- pruning -----------------------------------------------------------------------------------

def test_prune_removes_what_the_plan_does_not_name(run_module, layout):
    run_module(files_module.main, layout.args())
    _write(layout.path('certs/old.example.com.crt'), b'x')
    _write(layout.path('certs/.app.crt.abc123.tmp'), b'x')
    _write(layout.path('pubkeys/edge/retired.pem'), b'x')
    os.makedirs(layout.path('pubkeys/old-router/nested'))
    _write(layout.path('pubkeys/old-router/nested/app.pem'), b'x')
    os.makedirs(layout.path('elsewhere'))
    _write(layout.path('elsewhere/untouched'), b'x')
    os.symlink(layout.path('elsewhere'), layout.path('certs/link'))
    failed, result, _warnings = run_module(files_module.main, layout.args(), diff=True)
    assert not failed and result['changed'] is True
    assert result['pruned'] == [layout.path('certs/.app.crt.abc123.tmp'), layout.path('certs/link'),
                                layout.path('certs/old.example.com.crt'), layout.path('pubkeys/edge/retired.pem'),
                                layout.path('pubkeys/old-router')]
    assert sorted(os.listdir(layout.path('certs'))) == ['app.crt', 'app.key']
    assert os.listdir(layout.path('pubkeys')) == ['edge']
    assert os.listdir(layout.path('pubkeys/edge')) == ['app.pem']
    assert os.listdir(layout.path('elsewhere')) == ['untouched']
    assert {'before': {'path': layout.path('pubkeys/old-router'), 'state': 'directory'},
            'after': {'path': layout.path('pubkeys/old-router'), 'state': 'absent'}} in result['diff']
    assert result['placed'] == []


def test_prune_keeps_the_keep_paths_and_skips_missing_directories(run_module, layout):
    run_module(files_module.main, layout.args())
    _write(layout.path('certs/own.crt'), b'operator')
    args = layout.args(keep=[layout.path('certs/own.crt')], prune=layout.prune + [layout.path('never-made')])
    failed, result, _warnings = run_module(files_module.main, args)
    assert not failed and result['changed'] is False and result['pruned'] == []
    assert _read(layout.path('certs/own.crt')) == b'operator'


def test_a_planned_subdirectory_is_kept_and_an_unplanned_one_goes(run_module, layout):
    os.makedirs(layout.path('pubkeys/edge'))
    os.makedirs(layout.path('pubkeys/gone'))
    args = layout.args()
    args['directories'] = [d for d in args['directories'] if d['path'] != layout.path('pubkeys/edge')]
    failed, result, _warnings = run_module(files_module.main, args)
    assert not failed
    # edge holds a planned file: an ancestor of a plan entry is kept.
    assert result['pruned'] == [layout.path('pubkeys/gone')]
    assert os.listdir(layout.path('pubkeys')) == ['edge']


# --- owner ---------------------------------------------------------------------------------------

def test_private_entries_get_the_owner(run_module, layout):
    failed, result, _warnings = run_module(files_module.main, layout.args(owner=str(os.getuid()),
                                                                          group=str(os.getgid())))
    assert not failed
    info = os.stat(layout.path('certs/app.key'))
    assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())
    failed, again, _warnings = run_module(files_module.main, layout.args(group=str(os.getgid())))
    assert again['changed'] is False


def test_an_unknown_owner_fails_naming_it_but_is_predicted_in_check_mode(run_module, layout, renames):
    failed, result, _warnings = run_module(files_module.main, layout.args(owner='no-such-user-uwsgi-topology'))
    assert failed
    assert result['msg'] == ("owner: the user 'no-such-user-uwsgi-topology' does not exist on this host (the owner "
                             "of the entries with private: true)")
    assert renames == [] and os.listdir(layout.host) == []
    failed, result, warnings = run_module(files_module.main, layout.args(owner='no-such-user-uwsgi-topology'),
                                          check_mode=True)
    assert not failed and result['changed'] is True
    assert len(warnings) == 1 and 'no-such-user-uwsgi-topology' in warnings[0]


# --- errors ------------------------------------------------------------------------------------

def test_an_error_half_way_names_the_entry_and_reports_what_was_done(run_module, layout):
    os.makedirs(layout.path('certs/app.crt'))
    failed, result, _warnings = run_module(files_module.main, layout.args())
    assert failed
    assert result['msg'] == ('files[2] (%s): is a directory on the host, where the plan places a file'
                             % layout.path('certs/app.crt'))
    assert result['placed'] == [layout.path('certs/app.key'), layout.path('pubkeys/edge/app.pem')]
    assert result['changed'] is True
    _no_secret_in(result)


def test_a_missing_parent_directory_fails_naming_it(run_module, layout):
    args = layout.args(directories=[])
    failed, result, _warnings = run_module(files_module.main, args)
    assert failed
    assert result['msg'] == ('files[0] (%s): the directory %s does not exist and is not among the directories '
                             'to create' % (layout.path('certs/app.key'), layout.path('certs')))


def test_without_contents_the_module_says_it_needs_its_action(run_module, layout):
    args = layout.args()
    del args['_contents']
    failed, result, _warnings = run_module(files_module.main, args)
    assert failed
    assert 'runs through its action plugin (uwsgi.topology.files)' in result['msg']


# --- absent --------------------------------------------------------------------------------------

def test_absent_removes_the_files_and_the_prune_directories_content(run_module, layout):
    run_module(files_module.main, layout.args())
    _write(layout.path('certs/stray.pem'), b'x')
    args = layout.args(state='absent')
    del args['_contents']
    failed, predicted, _warnings = run_module(files_module.main, args, check_mode=True, diff=True)
    assert not failed and os.path.exists(layout.path('certs/app.key'))
    failed, result, _warnings = run_module(files_module.main, args, diff=True)
    assert not failed and result == predicted
    assert result['removed'] == [f['dest'] for f in layout.files]
    assert result['pruned'] == [layout.path('certs/stray.pem'), layout.path('pubkeys/edge')]
    assert result['changed_files_by_kind']['sni_key'] == [layout.path('certs/app.key')]
    for directory in ('certs', 'pubkeys', 'apps'):
        assert os.listdir(layout.path(directory)) == []
    _no_secret_in(result)
    failed, again, _warnings = run_module(files_module.main, args)
    assert again['changed'] is False


# --- the real module process: the invocation hides the contents --------------------------------

def test_module_process_output_holds_no_secret(layout, tmp_path):
    args_file = str(tmp_path / 'args.json')
    with open(args_file, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(layout.args(), _ansible_diff=True)}, handle)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    process = subprocess.run([sys.executable, files_module.__file__, args_file], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert process.returncode == 0, process.stderr
    result = json.loads(process.stdout)
    assert result['placed'] == [f['dest'] for f in layout.files]
    assert result['invocation']['module_args']['_contents'] == ['VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'] * 4
    _no_secret_in(result)
    assert b'TOP-SECRET' not in process.stderr


# --- the action plugin -------------------------------------------------------------------------

def test_read_controller_file(tmp_path):
    loader = DataLoader()
    plain = tmp_path / 'plain.pem'
    plain.write_bytes(CERT)
    assert files_action.read_controller_file(loader, str(plain)) == CERT
    assert files_action.read_controller_file(loader, str(tmp_path / 'missing.pem')) is None
    with pytest.raises(TopologyError) as caught:
        files_action.read_controller_file(loader, str(tmp_path))
    assert str(caught.value) == '%s: is a directory on the controller, not a file to place' % tmp_path


def test_read_controller_file_decrypts_a_vaulted_source(tmp_path):
    secret = VaultSecret(b'vault-password')
    vaulted = tmp_path / 'vaulted.key'
    vaulted.write_bytes(VaultLib([('default', secret)]).encrypt(SECRET))
    assert SECRET not in vaulted.read_bytes()
    loader = DataLoader()
    loader.set_vault_secrets([('default', secret)])
    assert files_action.read_controller_file(loader, str(vaulted)) == SECRET


@pytest.fixture
def run_action(run_module):
    """``run_action(args, check_mode, diff)`` -> (action result, module args or None if not run)."""

    def run(args, check_mode=False, diff=False):
        task = MagicMock()
        task.args = args
        task.check_mode = check_mode
        task.diff = diff
        task.async_val = 0
        connection = MagicMock()
        connection._shell.tmpdir = None
        action = files_action.ActionModule(task, connection, MagicMock(), DataLoader(), None, None)  # shared_loader_obj: required before 2.19
        sent = []

        def execute_module(module_name=None, module_args=None, task_vars=None, **_kwargs):
            assert module_name == 'uwsgi.topology.files'
            sent.append(module_args)
            failed, result, warnings = run_module(files_module.main, module_args, check_mode=check_mode, diff=diff)
            if failed:
                result['failed'] = True
            if warnings:
                result['warnings'] = warnings
            return result

        action._execute_module = execute_module
        result = action.run(task_vars={})
        return result, (sent[0] if sent else None)

    return run


def _plan_args(layout):
    return layout.args(contents=False)


def test_action_reads_the_sources_and_places_them(run_action, layout):
    result, sent = run_action(_plan_args(layout))
    assert not result.get('failed'), result
    assert sent['_contents'] == [_b64(_read(f['src'])) for f in layout.files]
    assert result['placed'] == [f['dest'] for f in layout.files]
    assert _read(layout.path('certs/app.key')) == SECRET
    _no_secret_in(result)


def test_action_ignores_contents_given_by_the_caller(run_action, layout):
    args = _plan_args(layout)
    args['_contents'] = [_b64(b'forged')] * 4
    result, sent = run_action(args)
    assert not result.get('failed')
    assert _read(layout.path('certs/app.crt')) == CERT


def test_action_missing_src_fails_naming_src_and_dest(run_action, layout):
    os.unlink(layout.src('app.crt'))
    result, sent = run_action(_plan_args(layout))
    assert sent is None
    assert result['failed'] is True and result['changed'] is False
    assert result['msg'].startswith('files[2].src: %s does not exist on the controller; it is to be placed at %s '
                                    'on this host.' % (layout.src('app.crt'), layout.path('certs/app.crt')))
    assert os.listdir(layout.host) == []


def test_action_missing_src_in_check_mode_predicts_a_change(run_action, layout):
    run_action(_plan_args(layout))
    os.unlink(layout.src('app.crt'))
    result, sent = run_action(_plan_args(layout), check_mode=True, diff=True)
    assert not result.get('failed'), result
    assert sent['_contents'][2] is None
    assert result['changed'] is True
    assert result['placed'] == [layout.path('certs/app.crt')]
    assert result['changed_files_by_kind']['sni_cert'] == [layout.path('certs/app.crt')]
    crt_diff = [d for d in result['diff'] if d.get('before_header') == layout.path('certs/app.crt')][0]
    assert layout.src('app.crt') in crt_diff['after']
    assert _read(layout.path('certs/app.crt')) == CERT


def test_action_absent_reads_no_source(run_action, layout):
    run_action(_plan_args(layout))
    for name in layout.sources:
        os.unlink(layout.src(name))
    args = _plan_args(layout)
    args['state'] = 'absent'
    result, sent = run_action(args)
    assert not result.get('failed'), result
    assert '_contents' not in sent
    assert result['removed'] == [f['dest'] for f in layout.files]


# --- staging: a replacement of a file in use goes beside it ---------------------------------------

def _staged_args(layout, **extra):
    args = layout.args(**extra)
    args['files'][0]['stage'] = args['files'][0]['dest'] + '.next'
    return args


def test_a_changed_staged_file_goes_beside_the_one_in_use_and_is_kept_by_pruning(run_module, layout, renames):
    first = _staged_args(layout)
    failed, result, _w = run_module(files_module.main, first)
    key = layout.path('certs/app.key')
    assert not failed and result['staged'] == [] and key in result['placed']   # new: placed where it belongs
    del renames[:]
    _write(layout.src('app.key'), SECRET.replace(b'0123', b'ROTD'))
    rotated = _staged_args(layout)
    failed, result, _w = run_module(files_module.main, rotated, diff=True)
    assert not failed and result['changed']
    assert result['staged'] == [key + '.next'] and key not in result['placed']
    assert _read(key) == SECRET and _read(key + '.next') == SECRET.replace(b'0123', b'ROTD')
    assert renames[0][:2] == (key + '.next', 0o600)
    assert result['pruned'] == []
    _no_secret_in(result)
    # Staged once: the same run again changes nothing, and still reports it until it is moved.
    failed, again, _w = run_module(files_module.main, _staged_args(layout))
    assert not failed and not again['changed'] and os.path.exists(key + '.next')
    assert again['staged'] == [key + '.next']


def test_stage_must_be_beside_dest(run_module, layout):
    args = layout.args()
    args['files'][0]['stage'] = layout.path('apps/elsewhere')
    failed, result, _w = run_module(files_module.main, args)
    assert failed and 'stage must be another file in the directory of dest' in result['msg']
