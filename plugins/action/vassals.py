# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of uwsgi.topology.vassals: router replicas replaced one by one, refilled at once.

Without a vassal that has ``rolling`` (or in check mode) it runs the module once, as it is.  Otherwise:

1. the module with ``defer_rolling``: every other vassal written or removed, the rolling vassals that
   change listed in ``deferred``;
2. for each deferred vassal, in the plan's order: the module with ``rolling_step`` (the replica leaves
   its address when other replicas share it, the requests through it complete, its file is written,
   its pools are refilled, its new process answers);
   and before it, the subscriptions of the replica's nodes are built and signed here, on the controller
   (module_utils/router_reload.py ``refill_packets``): the module sends those of the nodes the replica
   held the moment the new master binds its subscription server, and waits until they are in the pools;
   only then the next replica.

The private keys are read on the controller only; the router's host gets ready datagrams.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.uwsgi.topology.plugins.action.files import read_controller_file
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.router_reload import refill_packets

MODULE = 'uwsgi.topology.vassals'


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _key(self, path):
        pem = read_controller_file(self._loader, path)
        if pem is None:
            raise TopologyError(path, 'the signing key is not in the key store on the controller')
        return pem

    def _refresh(self, rolled, args):
        """The replicas replaced so far, each with its nodes' subscriptions signed now."""
        return [{'server': v['rolling']['server'], 'stats': v['rolling']['stats'],
                 'packets': refill_packets(v['rolling'].get('announces'), self._key, args.get('version'),
                                           args.get('build'))}
                for v in rolled if v['rolling'].get('server')]

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # not used
        args = dict(self._task.args)
        vassals = args.get('vassals') or []
        rolling = [v for v in vassals if isinstance(v, dict) and v.get('rolling')]
        try:
            if not rolling or self._task.check_mode or args.get('state', 'present') != 'present':
                result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
                return result
            first = dict(args, defer_rolling=True)
            outcome = self._execute_module(module_name=MODULE, module_args=first, task_vars=task_vars)
            result.update(outcome)
            if outcome.get('failed'):
                return result
            by_file = dict((v.get('file'), v) for v in vassals)
            rolled = []
            for name in outcome.get('deferred') or []:
                vassal = by_file[name]
                try:
                    # Signed now, sent by the module the moment the new router binds its subscription server.
                    refill = refill_packets(vassal['rolling'].get('announces'), self._key, args.get('version'),
                                            args.get('build'))
                except TopologyError as exc:
                    result.update(failed=True, msg='%s: %s' % (name, exc))
                    return result
                step_args = dict(args, vassals=[vassal], prune=False, touch=[], defer_rolling=False,
                                 rolling_step=True, refill=refill, refresh=self._refresh(rolled, args))
                step = self._execute_module(module_name=MODULE, module_args=step_args, task_vars=task_vars)
                for field in ('written', 'rolled', 'diff', 'attributes_set'):
                    result[field] = list(result.get(field) or []) + list(step.get(field) or [])
                if step.get('failed'):
                    result.update(failed=True, msg='%s: %s' % (name, step.get('msg')))
                    return result
                rolled.append(vassal)
            if rolled:
                # Once more after the last one, for what follows the routers (the handover of rotated keys).
                last = self._execute_module(module_name=MODULE, task_vars=task_vars, module_args=dict(
                    args, vassals=[], prune=False, touch=[], defer_rolling=True,
                    refresh=self._refresh(rolled, args)))
                if last.get('failed'):
                    result.update(failed=True, msg='refreshing the replaced replicas: %s' % last.get('msg'))
                    return result
            result['deferred'] = []
            return result
        except TopologyError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
