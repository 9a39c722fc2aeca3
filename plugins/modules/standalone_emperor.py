#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: standalone_emperor
short_description: Start, stop or restart a uWSGI Emperor that runs without a service manager
version_added: 0.1.0
description:
  - Keeps a daemonized uWSGI Emperor (C(uwsgi --ini O(ini)), which writes O(pidfile)) in the
    wanted state, without root and without a service manager. Used by the
    P(uwsgi.topology.emperor#role) role when C(emperor_supervisor=standalone).
  - The Emperor runs when O(pidfile) names a live process whose command line holds O(ini); a
    pidfile whose process is gone, or is another program, counts as not running.
  - It is started through C(env -i) with O(environment) as its whole environment (uWSGI reads
    C(UWSGI_*) variables of the caller as options), then the module waits until it wrote its
    pidfile and is still alive.
  - It is stopped with C(SIGINT) (a uWSGI 2.0 master reloads on C(SIGTERM)); it stops every vassal
    first. The module waits until the process is gone and removes the pidfile.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the state only and predicts the change.
  diff_mode:
    support: full
    details:
      - Before and after are the running state (C(running) or C(stopped)) and the pid.
  idempotent:
    support: partial
    details:
      - V(restarted) always restarts.
options:
  ini:
    description: The Emperor's configuration file. It must daemonize the Emperor and write O(pidfile).
    type: path
    required: true
  pidfile:
    description: The pidfile the configuration names.
    type: path
    required: true
  binary:
    description: The uWSGI binary. Required for O(state=started) and O(state=restarted).
    type: path
  logfile:
    description: The Emperor's log file, named in the error when it does not stay up.
    type: path
  environment:
    description: The whole environment the Emperor starts with.
    type: dict
    default: {}
  state:
    description: V(started), V(stopped) or V(restarted).
    type: str
    choices: [started, stopped, restarted]
    default: started
  start_timeout:
    description: Seconds to wait for the pidfile after a start.
    type: int
    default: 30
  stop_timeout:
    description: Seconds to wait for the Emperor (and its vassals) to exit after C(SIGINT).
    type: int
    default: 90
'''

EXAMPLES = r'''
- name: Keep the Emperor of a prefix running
  uwsgi.topology.standalone_emperor:
    ini: /srv/topology/emperor.ini
    pidfile: /srv/topology/run/emperor.pid
    binary: /srv/topology/venv/bin/uwsgi
    logfile: /srv/topology/log/emperor.log
    environment:
      PATH: /usr/bin:/bin
      LANG: C.UTF-8

- name: Stop it (every vassal stops first)
  uwsgi.topology.standalone_emperor:
    ini: /srv/topology/emperor.ini
    pidfile: /srv/topology/run/emperor.pid
    state: stopped
'''

RETURN = r'''
pid:
  description: The Emperor's pid after the task, or null when it does not run (or in check mode after a predicted start).
  returned: always
  type: int
  sample: 4242
previous_pid:
  description: The Emperor's pid before the task, or null when it did not run.
  returned: always
  type: int
  sample: 4100
'''

import os
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native


def running_pid(pidfile, ini):
    """The pid of the Emperor of ``ini`` that ``pidfile`` names, or None."""
    try:
        with open(pidfile) as handle:
            text = handle.read().strip()
    except (IOError, OSError):
        return None
    if not text.isdigit():
        return None
    try:
        with open('/proc/%s/cmdline' % text, 'rb') as handle:
            cmdline = handle.read()
    except (IOError, OSError):
        return None
    return int(text) if to_bytes(ini) in cmdline.split(b'\0') else None


def _alive(pid):
    return os.path.exists('/proc/%d' % pid)


def stop(module, pid, timeout):
    try:
        os.kill(pid, signal.SIGINT)
    except OSError:
        return
    deadline = time.time() + timeout
    while _alive(pid):
        if time.time() > deadline:
            module.fail_json(msg='the Emperor (pid %d) did not exit within %d s after SIGINT (stop_timeout)'
                             % (pid, timeout))
        time.sleep(0.1)
    try:
        os.unlink(module.params['pidfile'])
    except OSError:
        pass


def start(module):
    params = module.params
    if not params['binary']:
        module.fail_json(msg='binary is required to start the Emperor')
    argv = ['env', '-i'] + ['%s=%s' % (k, v) for k, v in sorted(params['environment'].items())]
    argv += [params['binary'], '--ini', params['ini']]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg='starting the Emperor failed (exit %d): %s' % (rc, (err or out).strip()), argv=argv)
    deadline = time.time() + params['start_timeout']
    while time.time() < deadline:
        pid = running_pid(params['pidfile'], params['ini'])
        if pid is not None:
            # It wrote its pidfile: it must stay up for a moment (a bad option ends it at once).
            time.sleep(0.5)
            if _alive(pid):
                return pid
            break
        time.sleep(0.1)
    module.fail_json(msg='the Emperor of %s exited right after it was started (or wrote no pidfile %s within %d s); '
                     'its log is %s' % (params['ini'], params['pidfile'], params['start_timeout'],
                                        params['logfile'] or 'the daemonize file of its configuration'))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ini=dict(type='path', required=True),
            pidfile=dict(type='path', required=True),
            binary=dict(type='path'),
            logfile=dict(type='path'),
            environment=dict(type='dict', default={}),
            state=dict(type='str', default='started', choices=['started', 'stopped', 'restarted']),
            start_timeout=dict(type='int', default=30),
            stop_timeout=dict(type='int', default=90),
        ),
        required_if=[('state', 'started', ('binary',)), ('state', 'restarted', ('binary',))],
        supports_check_mode=True,
    )
    params = module.params
    state = params['state']
    before = running_pid(params['pidfile'], params['ini'])
    changed = (state == 'started' and before is None) or (state == 'stopped' and before is not None) \
        or state == 'restarted'
    after = before
    if changed and not module.check_mode:
        try:
            if before is not None and state in ('stopped', 'restarted'):
                stop(module, before, params['stop_timeout'])
            after = start(module) if state != 'stopped' else None
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot %s the Emperor of %s: %s' % (state[:-2] if state != 'stopped' else 'stop',
                                                                      params['ini'], to_native(exc)))
    elif changed:
        after = None
    result = dict(changed=changed, pid=after, previous_pid=before)
    if module._diff:
        result['diff'] = {'before': 'running (pid %s)\n' % before if before else 'stopped\n',
                          'after': ('stopped\n' if state == 'stopped' else
                                    'running (pid %s)\n' % (after if after else 'new'))}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
