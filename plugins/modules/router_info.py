#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: router_info
short_description: Read a uWSGI router's stats server and return its subscription pools
version_added: 0.1.0
description:
  - Connects to the stats server of a uWSGI router (C(http-stats), C(fastrouter-stats),
    C(rawrouter-stats), C(sslrouter-stats) or C(forkptyrouter-stats)) and returns what the router
    knows, that is its sockets, its subscription pools (one per key, with the nodes that announced
    themselves) and its static nodes.
  - The stats server writes one JSON document and closes the connection; nothing is sent to it.
    The JSON uWSGI writes is not always valid (a stray comma when several routers share an
    instance, unescaped strings); the module repairs those slips and never evaluates the text.
  - With O(wait_for), the module reads again every O(interval) seconds until the pools hold the
    expected nodes, or fails after O(wait_timeout) seconds saying what is still missing.
  - The stats server is bound only by the router's first process; with several router processes
    it shows that process's table only.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so it reads (and waits) in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  address:
    description:
      - The router's stats server, as given to the router's C(*-stats) option.
      - V(HOST:PORT) (an address with a colon) is TCP; V([::1]:PORT) is IPv6. V(:PORT) and
        V(0.0.0.0:PORT) are read through V(127.0.0.1).
      - Anything else is a UNIX socket path; V(@name) is an abstract UNIX socket.
      - The global C(stats-http) option, which makes the server wait for an HTTP request, is not
        supported.
    type: str
    required: true
  timeout:
    description:
      - Seconds allowed for one read, connection and answer together.
    type: float
    default: 5
  wait_for:
    description:
      - Pools to wait for. Each entry names a subscription key and the node addresses expected
        in its pool, as the nodes announce them (C(addr=) of C(subscribe2)).
      - Only live nodes count (C(death_mark) 0). A node that stopped announcing stays in the pool,
        marked dead, until the router drops it.
      - While waiting, connection errors (the router may still be starting) are retried.
    type: list
    elements: dict
    suboptions:
      key:
        description:
          - The subscription key, for example V(app.example.com) or V(app.example.com:8443).
        type: str
        required: true
      nodes:
        description:
          - The node addresses expected under O(wait_for[].key).
          - With O(exact=true) an empty list waits until the key has no live node.
        type: list
        elements: str
        required: true
  exact:
    description:
      - If V(true), the live nodes of each key must be exactly O(wait_for[].nodes).
      - If V(false), they must include them; other nodes may be there too.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for O(wait_for) before failing.
    type: int
    default: 30
  interval:
    description:
      - Seconds between reads while waiting.
    type: float
    default: 0.5
notes:
  - The stats server must be reachable from the host the task runs on. It usually listens on the
    loopback or a UNIX socket, so run the task on the router's host.
seealso:
  - module: uwsgi.topology.http_probe
  - module: uwsgi.topology.vassal
'''

EXAMPLES = r'''
- name: Read the pools of the HTTP router
  uwsgi.topology.router_info:
    address: 127.0.0.1:9191
  register: router

- name: Show the nodes of one key
  ansible.builtin.debug:
    msg: "{{ router.pools | selectattr('key', 'equalto', 'app.example.com') | map(attribute='nodes') | first }}"

- name: Wait until both application nodes have subscribed, and nothing else
  uwsgi.topology.router_info:
    address: /run/uwsgi/router-stats.sock
    wait_for:
      - key: app.example.com
        nodes:
          - 10.0.0.21:3031
          - 10.0.0.22:3031
    wait_timeout: 60

- name: After retiring 10.0.0.22, wait until 10.0.0.21 is the only live node of the key
  uwsgi.topology.router_info:
    address: 127.0.0.1:9191
    wait_for:
      - key: app.example.com
        nodes:
          - 10.0.0.21:3031
    wait_timeout: 60

- name: Wait for a node without minding the others (a rolling deploy)
  uwsgi.topology.router_info:
    address: "{{ ansible_facts['default_ipv4']['address'] }}:9191"
    wait_for:
      - key: app.example.com
        nodes:
          - "{{ ansible_facts['default_ipv4']['address'] }}:3031"
    exact: false
'''

RETURN = r'''
router:
  description: The router that answered, by the name uWSGI gives it in its stats.
  returned: success, and on a wait timeout when the server could be read
  type: str
  sample: http
sockets:
  description: The router's sockets as uWSGI lists them, its subscription server included.
  returned: success, and on a wait timeout when the server could be read
  type: list
  elements: str
  sample: ["127.0.0.1:2626", "0.0.0.0:80"]
pools:
  description:
    - The subscription pools, one per key, in the router's order.
    - Each holds C(key), C(hits), C(sni_enabled) (a boolean; only from routers built with SSL)
      and C(nodes).
    - Each node holds C(name) (its address), C(weight), C(requests), C(death_mark) (non-zero once
      the node is considered dead), C(failcnt), C(ref), C(last_check) (Unix time of its last
      announcement), C(modifier1), C(pid), C(uid) and C(gid), with uWSGI's names.
  returned: success, and on a wait timeout when the server could be read
  type: list
  elements: dict
  sample: [{"key": "app.example.com", "hits": 12, "sni_enabled": false, "nodes": [
            {"name": "10.0.0.21:3031", "weight": 1, "requests": 12, "death_mark": 0, "failcnt": 0, "ref": 0,
             "last_check": 1700000000, "modifier1": 0, "pid": 0, "uid": 0, "gid": 0}]}]
static_nodes:
  description: The router's static nodes (C(<router>-to)), each with C(name), C(hits) and C(grace).
  returned: success, and on a wait timeout when the server could be read
  type: list
  elements: dict
  sample: []
raw:
  description: The whole stats document, parsed (after repair).
  returned: success, and on a wait timeout when the server could be read
  type: dict
  sample: {"version": "2.0.31", "pid": 1234, "http": ["127.0.0.1:2626", "0.0.0.0:80"], "subscriptions": [], "cheap": 0}
waited:
  description: Seconds spent until O(wait_for) was met; V(0) without O(wait_for).
  returned: always
  type: float
  sample: 1.52
missing:
  description:
    - The expectations of O(wait_for) still unmet when O(wait_timeout) ran out.
    - Each entry has C(key), C(present) (whether the router has a pool for the key), C(expected),
      C(live) and C(dead) (node names seen), C(missing) (expected but not live) and C(unexpected)
      (live but not expected; only with O(exact=true)).
  returned: when waiting for O(wait_for) timed out
  type: list
  elements: dict
  sample: [{"key": "app.example.com", "present": true, "expected": ["10.0.0.21:3031", "10.0.0.22:3031"],
            "live": ["10.0.0.21:3031"], "dead": [], "missing": ["10.0.0.22:3031"], "unexpected": []}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils import stats


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type='str', required=True),
            timeout=dict(type='float', default=5),
            wait_for=dict(type='list', elements='dict', options=dict(
                key=dict(type='str', required=True, no_log=False),
                nodes=dict(type='list', elements='str', required=True),
            )),
            exact=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=30),
            interval=dict(type='float', default=0.5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    address = params['address']
    for name in ('timeout', 'interval'):
        if params[name] <= 0:
            module.fail_json(msg='%s must be a positive number of seconds, got %s' % (name, params[name]))
    if params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must be 0 or more seconds, got %s' % params['wait_timeout'])

    result = dict(changed=False, waited=0.0)

    def read():
        return stats.fetch(address, params['timeout'])

    try:
        if params['wait_for']:
            data, waited = stats.wait(read, params['wait_for'], exact=params['exact'],
                                      wait_timeout=params['wait_timeout'], interval=params['interval'],
                                      address=address)
            result['waited'] = round(waited, 3)
        else:
            data = read()
        result.update(stats.summary(data, address))
    except stats.WaitTimeout as exc:
        result['waited'] = round(exc.waited, 3)
        result['missing'] = exc.unmet
        if exc.data is not None:
            result.update(stats.summary(exc.data, address))
            result['raw'] = exc.data
        module.fail_json(msg=str(exc), **result)
    except stats.StatsError as exc:
        module.fail_json(msg=str(exc), **result)
    result['raw'] = data
    module.exit_json(**result)


if __name__ == '__main__':
    main()
