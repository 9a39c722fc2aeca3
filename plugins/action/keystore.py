# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of uwsgi.topology.keystore: the controller's key store, on the controller.

No module is transferred and nothing runs on the target: the key store and its private
keys stay on the controller.  The logic lives in module_utils/keystore.py; this file
validates the options, maps check and diff mode, and turns errors into failed results.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.uwsgi.topology.plugins.module_utils.keystore import Keystore, KeystoreError, argument_spec


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # not used: nothing goes to the target

        try:
            _validation, args = self.validate_argument_spec(argument_spec=argument_spec())
        except AnsibleActionFail as exc:
            result.update(failed=True, msg='uwsgi.topology.keystore: %s' % exc.message)
            return result

        store = None
        try:
            store = Keystore(
                args['keystore'],
                signing_key_size=args['signing_key_size'],
                tls_key_size=args['tls_key_size'],
                ca_common_name=args['ca_common_name'],
                ca_not_after_days=args['ca_not_after_days'],
                cert_not_after_days=args['cert_not_after_days'],
                renew_before_days=args['renew_before_days'],
            )
            store.decide()
            if not self._task.check_mode:
                store.apply()
        except KeystoreError as exc:
            # The message names the option or file at fault; it never holds key material.
            # A failure half-way through apply() has changed what it wrote before.
            result.update(failed=True, msg=str(exc), changed=bool(store and store.applied))
            return result

        result.update(store.report(diff=bool(self._task.diff)))
        if store.warnings:
            result['warnings'] = result.get('warnings', []) + store.warnings
        return result
