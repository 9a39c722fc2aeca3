#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: node_ready
short_description: Wait until a uWSGI node answers a real request through its own socket, optionally after a reload
version_added: 0.1.0
description:
  - Sends one request in the uwsgi protocol (modifier1 0, the variables C(REQUEST_METHOD), C(REQUEST_URI),
    C(PATH_INFO), C(QUERY_STRING), C(SERVER_NAME), C(SERVER_PORT), C(SERVER_PROTOCOL) and C(HTTP_HOST)) to
    the node's socket O(address), as a router would, and reads the HTTP status line of the answer. It tries
    again every O(interval) seconds until an accepted status arrives or O(wait_timeout) passed.
  - "With O(reload) it first writes that command to the node's master FIFO O(fifo): V(r) a graceful reload,
    V(c) a chain reload (C(lazy-apps)), V(q) a graceful stop, after which the Emperor starts the node again
    (for an upgrade of the uWSGI binary). It notes the FIFO's identity (device and inode) before
    the write (holding the old FIFO open with C(O_PATH), so that its inode number cannot be reused) and waits
    until the master made a FIFO anew at that path (it does so after every command it read, and when it
    starts), then probes. A graceful reload keeps the node's socket open: requests queue
    and the probe is answered by the new workers; after V(q) the probe is refused until the new node is up."
  - The FIFO is opened without blocking, so a FIFO nobody reads (the node is not running) fails at once.
  - Used by the playbook C(uwsgi.topology.rolling_restart) between a drain and an undrain
    (M(uwsgi.topology.drain)).
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is written to the FIFO (C(changed) says whether it would be); the node is
        still probed, which is read-only.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Without O(reload) the module only reads. With O(reload) every run reloads the node.
options:
  address:
    description:
      - The node's socket, C(HOST:PORT) (C([V6]:PORT)) or the path of a UNIX socket, as its C(socket) option.
    type: str
    required: true
  host:
    description:
      - The request's C(HTTP_HOST) (and C(SERVER_NAME), without a port), for example the node's first key.
    type: str
    default: localhost
  uri:
    description: The request's URI (path and query string).
    type: str
    default: /
  status_codes:
    description:
      - The statuses that mean ready. Default any status from 100 to 499 (a 5xx means the node runs but its
        application fails).
    type: list
    elements: int
  timeout:
    description: Seconds to wait for the connection and the status line of one attempt.
    type: float
    default: 5
  wait_timeout:
    description:
      - Seconds to wait in all, for the new FIFO and for an accepted answer. On timeout the module fails with
        the last error.
    type: int
    default: 60
  interval:
    description: Seconds between two attempts (and two looks at the FIFO).
    type: float
    default: 0.5
  reload:
    description:
      - A master FIFO command to write first (V(r) graceful reload, V(c) chain reload, V(q) graceful stop,
        for a node the Emperor starts again). Nothing is written when omitted.
    type: str
    choices: [r, c, q]
  fifo:
    description:
      - The node's master FIFO (its first C(master-fifo) option, C(fifo) of the manifest's C(nodes.drain[])).
        Required with O(reload).
    type: path
notes:
  - Do not write C(S) through this module; M(uwsgi.topology.drain) keeps that toggle's state.
seealso:
  - module: uwsgi.topology.drain
  - module: uwsgi.topology.http_probe
'''

EXAMPLES = r'''
- name: Wait until node app1 answers through its socket
  uwsgi.topology.node_ready:
    address: 127.0.0.1:13031
    host: app.test

- name: Reload it gracefully, wait for its new master, then for an answer
  uwsgi.topology.node_ready:
    address: 127.0.0.1:13031
    host: app.test
    reload: r
    fifo: /srv/topology/run/app1.fifo
    wait_timeout: 120
'''

RETURN = r'''
status:
  description: The HTTP status the node answered.
  returned: success
  type: int
  sample: 200
status_line:
  description: The answer's status line.
  returned: success
  type: str
  sample: HTTP/1.1 200 OK
attempts:
  description: How many requests were sent.
  returned: always
  type: int
  sample: 3
waited:
  description: Seconds from the start (or the FIFO write) until the accepted answer, or until the failure.
  returned: always
  type: float
  sample: 1.52
reloaded:
  description: Whether the command of O(reload) was written (false in check mode and without O(reload)).
  returned: always
  type: bool
  sample: true
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils import node_ready


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type='str', required=True),
            host=dict(type='str', default='localhost'),
            uri=dict(type='str', default='/'),
            status_codes=dict(type='list', elements='int'),
            timeout=dict(type='float', default=5),
            wait_timeout=dict(type='int', default=60),
            interval=dict(type='float', default=0.5),
            reload=dict(type='str', choices=['r', 'c', 'q']),
            fifo=dict(type='path'),
        ),
        required_if=[('reload', 'r', ('fifo',)), ('reload', 'c', ('fifo',)), ('reload', 'q', ('fifo',))],
        supports_check_mode=True,
    )
    params = module.params
    for name in ('timeout', 'interval'):
        if params[name] <= 0:
            module.fail_json(msg='%s must be a positive number of seconds, got %s' % (name, params[name]))
    if params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must be 0 or more seconds, got %s' % params['wait_timeout'])
    if not params['uri'].startswith('/'):
        module.fail_json(msg='uri must start with /, got %r' % params['uri'])

    result = dict(changed=False, reloaded=False, attempts=0, waited=0.0)
    start = time.time()
    try:
        sockaddr = node_ready.parse_address(params['address'])[1]
        port = str(sockaddr[1]) if isinstance(sockaddr, tuple) else '0'
        request = node_ready.build_request(params['host'], params['uri'], server_port=port)
        if params['reload']:
            result['changed'] = True
            if not module.check_mode:
                command = node_ready.FifoCommand(params['fifo'])
                command.write(params['reload'])
                result['reloaded'] = True
                command.wait(params['wait_timeout'], min(params['interval'], 0.1))
        remaining = max(0.0, params['wait_timeout'] - (time.time() - start))
        status, line, attempts, dummy = node_ready.wait_ready(
            params['address'], request, params['status_codes'], params['timeout'], remaining, params['interval'])
    except node_ready.NodeReadyError as exc:
        result['waited'] = round(time.time() - start, 3)
        result['attempts'] = getattr(exc, 'attempts', 0)
        module.fail_json(msg='%s%s' % ('after writing %r to %s: ' % (params['reload'], params['fifo'])
                                       if result['reloaded'] else '', exc), **result)
    result.update(status=status, status_line=line, attempts=attempts, waited=round(time.time() - start, 3))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
