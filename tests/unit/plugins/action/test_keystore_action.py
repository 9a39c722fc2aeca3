# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.keystore action plugin, with a real key store in a tmp dir."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from unittest.mock import MagicMock

from ansible.plugins.action import ActionBase

from ansible_collections.uwsgi.topology.plugins.action.keystore import ActionModule
from ansible_collections.uwsgi.topology.plugins.modules import keystore as keystore_module


def make_plan(root):
    root = str(root)
    return {
        'root': root,
        'dirs': [root, root + '/signing', root + '/signing/public', root + '/ca', root + '/sni'],
        'signing_keys': [{'key': 'app.test', 'private': root + '/signing/app.test.pem',
                          'public': root + '/signing/public/app.test.pem'}],
        'ca': {'key': root + '/ca/ca.key', 'cert': root + '/ca/ca.crt', 'common_name': 'uwsgi.topology CA'},
        'certificates': [{'name': 'app.test', 'key': root + '/sni/app.test.key', 'cert': root + '/sni/app.test.crt',
                          'common_name': 'app.test', 'dns': ['app.test']}],
    }


@pytest.fixture
def plan(tmp_path):
    return make_plan(tmp_path / 'store')


@pytest.fixture
def action(monkeypatch):
    """``action(args, check_mode=False, diff=False)`` -> the result of one run of the plugin."""
    def no_module(*args, **kwargs):
        raise AssertionError('the keystore action must not run a module on the target')
    monkeypatch.setattr(ActionBase, '_execute_module', no_module)
    monkeypatch.setattr(ActionBase, '_transfer_data', no_module)

    def run(args, check_mode=False, diff=False):
        task = MagicMock()
        task.args = dict(args)
        task.check_mode = check_mode
        task.diff = diff
        task.async_val = 0
        task.action = 'uwsgi.topology.keystore'
        plugin = ActionModule(task, MagicMock(), MagicMock(), loader=None, templar=None, shared_loader_obj=None)
        plugin._load_name = 'uwsgi.topology.keystore'
        return plugin.run(task_vars={})

    return run


def _small(plan, **extra):
    args = dict(keystore=plan, signing_key_size=1024, tls_key_size=1024)
    args.update(extra)
    return args


def test_creates_the_store_then_changes_nothing(action, plan):
    result = action(_small(plan))
    assert not result.get('failed'), result
    assert result['changed'] is True
    assert plan['ca']['cert'] in result['created']
    assert os.path.isfile(plan['certificates'][0]['cert'])
    assert 'diff' not in result

    again = action(_small(plan))
    assert again['changed'] is False
    assert again['created'] == [] and again['renewed'] == []


def test_check_mode_writes_nothing_and_diff_lists_the_files(action, plan):
    result = action(_small(plan), check_mode=True, diff=True)
    assert result['changed'] is True
    assert not os.path.exists(plan['root'])
    assert result['diff']['before'] == ''
    assert 'sni/app.test.crt: certificate CN=app.test, expires ' in result['diff']['after']
    assert 'PRIVATE KEY' not in json.dumps(result)


def test_renewed_certificate_in_diff_mode(action, plan):
    action(_small(plan))
    plan['certificates'][0]['dns'] = ['app.test', 'www.app.test']
    result = action(_small(plan), diff=True)
    assert result['renewed'] == [plan['certificates'][0]['cert']]
    assert 'PRIVATE KEY' not in json.dumps(result)


def test_keys_role_day_strings_are_accepted(action, plan):
    result = action(_small(plan, ca_not_after_days='+3650d', cert_not_after_days='+825d'))
    assert result['changed'] is True and not result.get('failed')


def test_missing_keystore_fails_validation(action):
    result = action({})
    assert result['failed'] is True
    assert 'keystore' in result['msg']


def test_unknown_plan_field_fails_validation(action, plan):
    plan['signing_keys'][0]['passphrase'] = 'x'
    result = action(_small(plan))
    assert result['failed'] is True
    assert 'passphrase' in result['msg']
    assert not os.path.exists(plan['root'])


def test_errors_name_the_offending_path(action, plan):
    action(_small(plan))
    with open(plan['signing_keys'][0]['private'], 'w') as handle:
        handle.write('damaged\n')
    result = action(_small(plan))
    assert result['failed'] is True
    assert result['changed'] is False
    assert result['msg'].startswith('keystore.signing_keys[0].private: %s exists but is not a readable PEM private key'
                                    % plan['signing_keys'][0]['private'])


def test_option_error_names_the_option(action, plan):
    result = action(_small(plan, renew_before_days=900))
    assert result['failed'] is True
    assert result['msg'].startswith('renew_before_days: 900 is not less than cert_not_after_days (825)')


def test_kept_operator_key_warns(action, plan):
    action(_small(plan))
    result = action(dict(keystore=plan))  # default sizes: 2048, the store has 1024-bit keys
    assert result['changed'] is False
    assert len(result['warnings']) == 3
    assert 'kept' in result['warnings'][0]


def test_module_file_refuses_to_run_alone(monkeypatch, plan):
    from ansible.module_utils import basic
    try:  # ansible-core >= 2.19
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # pragma: no cover - older ansible-core
        pytest.skip('needs ansible.module_utils.testing')

    class Exit(Exception):
        pass

    def fail_json(self, msg, **kwargs):
        raise Exit(msg)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    with patch_module_args({'keystore': plan}):
        with pytest.raises(Exit) as caught:
            keystore_module.main()
    assert 'runs as an action plugin' in str(caught.value)
    assert not os.path.exists(plan['root'])


def test_failure_half_way_reports_changed(action, plan, monkeypatch):
    from ansible_collections.uwsgi.topology.plugins.module_utils import keystore as ks

    def full_disk(path, data, mode):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(ks, '_write_atomic', full_disk)
    result = action(_small(plan))
    assert result['failed'] is True
    assert result['changed'] is True  # the directories were made
    assert result['msg'] == 'keystore.signing_keys[0].private: cannot write %s: [Errno 28] No space left on device' \
        % plan['signing_keys'][0]['private']
    assert os.path.isdir(plan['root'] + '/sni')
