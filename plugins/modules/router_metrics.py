#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: router_metrics
short_description: Return the router-pool metrics the collection's exporter serves, as data and in Prometheus's format
version_added: 0.1.0
description:
  - Reads the stats server of each router in O(routers) and returns the figures that the router
    metrics exporter serves to Prometheus (the vassal C(router-metrics.exporter.topology.ini) the
    P(uwsgi.topology.router#role) role deploys). These are the nodes per key, the nodes the plan
    expects per key, requests, bytes, failures and requests in flight per node, seconds since each
    node's last announce, death marks, active sessions, whether the router is up, and its uWSGI
    version.
  - A node is live when the router has not marked it dead and its last announce is no older than
    the router's subscription tolerance. uWSGI 2.0 marks a silent node dead only when a request
    looks its key up, so the stats alone would keep a vanished node in its pool until then.
  - RV(text) is the same exposition as the exporter's C(GET /metrics) (Prometheus's text format
    0.0.4); RV(routers) holds the figures as data, RV(missing) the planned nodes that are not live.
  - The module only reads; a router whose stats server cannot be read is reported with
    C(up=false), not as a failure.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so it reads in check mode too.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  routers:
    description:
      - The routers to read, usually the plan's C(plan.hosts[inventory_hostname].manifest.metrics.routers)
        (the entries the host's exporter reads).
    type: list
    elements: dict
    required: true
    suboptions:
      router:
        description: The router's name, the C(router) label (a replica's vassal name, such as V(edge.r1)).
        type: str
        required: true
      stats:
        description:
          - The router's stats server as the task's host reaches it, V(HOST:PORT) or a UNIX socket path
            (see M(uwsgi.topology.router_info)).
        type: str
        required: true
      tolerance:
        description:
          - The router's C(subscription-tolerance) in seconds. Default uWSGI's, V(17).
        type: int
      expect:
        description:
          - The node addresses the plan subscribes to the router, per key (the router's C(expect) in the plan).
          - Keys missing here have no expected count; their nodes are reported all the same.
        type: dict
        default: {}
      type:
        description: The router's type (informational).
        type: str
  timeout:
    description:
      - Seconds allowed for reading one router's stats server.
    type: float
    default: 2
notes:
  - The stats servers listen on the router host's loopback by default, so run the task on the router's host.
  - Counters restart at 0 when a node leaves its pool and joins again, or when the router reloads; that is
    what uWSGI counts, and what Prometheus's C(rate()) takes for a counter reset.
seealso:
  - module: uwsgi.topology.router_info
  - module: uwsgi.topology.verify_router
'''

EXAMPLES = r'''
- name: Read the figures of this host's routers, as the exporter does
  uwsgi.topology.router_metrics:
    routers: "{{ uwsgi_topology_plan.hosts[inventory_hostname].manifest.metrics.routers }}"
  register: metrics

- name: Fail when a key has fewer live nodes than the plan subscribes to it
  ansible.builtin.assert:
    that: metrics.missing | length == 0
    fail_msg: "{{ metrics.missing }}"

- name: Read one router by hand
  uwsgi.topology.router_metrics:
    routers:
      - router: edge
        stats: 127.0.0.1:9191
        tolerance: 10
        expect:
          app.example.com: [10.0.0.21:3031, 10.0.0.22:3031]
  register: edge

- name: Write the exposition where node_exporter's textfile collector reads it
  ansible.builtin.copy:
    content: "{{ edge.text }}"
    dest: /var/lib/prometheus/node-exporter/uwsgi_router.prom
    mode: "0644"
'''

RETURN = r'''
routers:
  description:
    - One entry per router of O(routers), in that order, with C(router), C(stats), C(up), C(error)
      (why the stats server could not be read, or null), C(version), C(active_sessions),
      C(tolerance) and C(keys).
    - Each key has C(key), C(nodes) (its live nodes; null when the router is down), C(expected)
      (the planned count, or null for a key the plan does not name), C(lookups) (uWSGI's hits),
      C(live) and C(missing) (node addresses) and C(members).
    - Each member has C(node), C(present) (in the router's pool), C(planned), C(live), C(death_mark),
      C(last_announce_age) (seconds), C(requests), C(receive_bytes), C(transmit_bytes),
      C(failures), C(in_flight) and C(weight); a planned node the router does not know has
      C(present=false) and null figures.
  returned: always
  type: list
  elements: dict
  sample: [{"router": "edge", "stats": "127.0.0.1:9191", "up": true, "error": null, "version": "2.0.31",
            "active_sessions": 0, "tolerance": 10, "keys": [{"key": "app.example.com", "nodes": 1,
            "expected": 2, "lookups": 12, "live": ["10.0.0.21:3031"], "missing": ["10.0.0.22:3031"],
            "members": [{"node": "10.0.0.21:3031", "present": true, "planned": true, "live": true,
                         "death_mark": 0, "last_announce_age": 1.2, "requests": 12, "receive_bytes": 3400,
                         "transmit_bytes": 560, "failures": 0, "in_flight": 0, "weight": 1}]}]}]
missing:
  description: Per router and key with fewer live nodes than planned, the planned nodes that are not live.
  returned: always
  type: list
  elements: dict
  sample: [{"router": "edge", "key": "app.example.com", "nodes": ["10.0.0.22:3031"]}]
down:
  description: The routers whose stats server could not be read.
  returned: always
  type: list
  elements: str
  sample: []
text:
  description: The figures in Prometheus's text exposition format 0.0.4, as the exporter serves them.
  returned: always
  type: str
  sample: "# HELP uwsgi_router_up ...\n# TYPE uwsgi_router_up gauge\nuwsgi_router_up{router=\"edge\"} 1\n"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils import metrics


def main():
    module = AnsibleModule(
        argument_spec=dict(
            routers=dict(type='list', elements='dict', required=True, options=dict(
                router=dict(type='str', required=True),
                stats=dict(type='str', required=True),
                tolerance=dict(type='int'),
                expect=dict(type='dict', default={}),
                type=dict(type='str'),
            )),
            timeout=dict(type='float', default=2),
        ),
        supports_check_mode=True,
    )
    if module.params['timeout'] <= 0:
        module.fail_json(msg='timeout must be a positive number of seconds, got %s' % module.params['timeout'])
    try:
        figures = metrics.collect(module.params['routers'], timeout=module.params['timeout'])
    except metrics.ConfigError as exc:
        module.fail_json(msg=str(exc))
    missing = [{'router': router['router'], 'key': key['key'], 'nodes': key['missing']}
               for router in figures for key in router['keys'] if key['missing']]
    module.exit_json(changed=False, routers=figures, missing=missing,
                     down=[router['router'] for router in figures if not router['up']],
                     text=metrics.render(figures))


if __name__ == '__main__':
    main()
