#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: verify_router
short_description: Verify that a uWSGI router routes each key to the nodes the plan says
version_added: 0.1.0
description:
  - Takes one entry of a host manifest's C(verify) list (the P(uwsgi.topology.topology_plan#filter)
    output, C(plan.hosts[HOST].manifest.verify); see C(docs/manifest.md)) and proves that the router
    does what the plan says, in three steps.
  - With O(router.stats), waits until the router's stats server shows, for every key of
    O(router.pools), exactly the planned node addresses as live nodes (keys the plan does not name
    are not checked), and fails after O(wait_timeout) seconds naming the router, the key, the missing
    and the unexpected nodes.
  - With O(router.connect), sends for each probe O(requests_per_node) requests per answering node with
    the key as C(Host) header (over TLS with the probe's SNI name for an C(https) router) and repeats
    the round, up to O(probe_retries) times, until in one round every request got a 200, every node of
    O(router.probes[].answers) answered (the collection's demo application answers with the node's
    name) and the certificate is the planned one. Fails naming the router, the key, the nodes that
    never answered, the bodies seen and the certificate mismatches.
  - Then reads the pools again and returns them, with the requests just sent and the node names, and
    a summary of one line per key, ready to print.
  - Only the Python standard library is used on the target.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module never changes anything. In check mode it neither reads nor sends anything (the
        routers may not run yet, since the tasks that would start them only predicted their changes)
        and reports the task skipped.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - The module never reports a change. The request counters it returns grow with each run.
options:
  router:
    description:
      - One entry of the manifest's C(verify) list, as the planner wrote it.
    type: dict
    required: true
    suboptions:
      router:
        description: The router instance name, used in messages and in RV(summary).
        type: str
        required: true
      type:
        description:
          - The router type (V(http), V(https), V(fast), V(ssl), ...). Only V(http) and V(https) routers
            are probed; V(https) ones over TLS.
        type: str
        required: true
      bind:
        description: The router's bind address, used in messages only.
        type: str
      stats:
        description:
          - The router's stats server, as for M(uwsgi.topology.router_info) (C(HOST:PORT) or a UNIX
            socket path). Null when the pools cannot be read; O(router.pools) is then not checked.
        type: str
      pools:
        description:
          - The exact live members expected in each key's pool, C(KEY -> [ADDRESS, ...]), addresses as
            the nodes announce them. An empty list expects a key without live nodes. Keys not listed
            are not checked.
          - Only with O(router.stats).
        type: dict
        default: {}
      connect:
        description:
          - Where to send the requests of O(router.probes), from the target. Null when nothing can be
            probed (not an HTTP router, or a UNIX socket); the probes then only give the node names of
            RV(pools).
          - Only for V(http) and V(https) routers.
          - A wildcard host (V(0.0.0.0), V(::)) is reached through the loopback.
        type: dict
        suboptions:
          host:
            description: The router's address.
            type: str
            required: true
          port:
            description: The router's HTTP(S) port.
            type: int
            required: true
      probes:
        description: The keys to ask the router for, one entry each.
        type: list
        elements: dict
        default: []
        suboptions:
          key:
            description: The subscription key, sent as the C(Host) header.
            type: str
            required: true
          server_name:
            description:
              - The TLS SNI name (only for V(https) routers). Null sends the key without its port.
            type: str
          ca:
            description:
              - A PEM file of CA certificates on the target (only for V(https) routers). When set, the
                presented certificate must verify against it and match O(router.probes[].server_name).
            type: path
          certificate:
            description:
              - A PEM certificate file on the target (only for V(https) routers). The router must present
                exactly this certificate (same SHA-256 of the DER certificate), not only one with the
                right name; a stale certificate after a rotation carries the same name.
            type: path
          common_name:
            description: The common name the presented certificate must carry (only for V(https) routers).
            type: str
          answers:
            description:
              - The nodes that answer for the key through this router, C(ADDRESS -> NODE NAME) (behind a
                federated edge too). Each must answer in one round, its body being its name.
              - Empty means that no node answers the key; no request is sent then.
            type: dict
            required: true
  requests_per_node:
    description:
      - Requests sent in one round per node of O(router.probes[].answers), so that round robin reaches
        every node.
    type: int
    default: 4
  wait_timeout:
    description: Seconds to wait for the pools of O(router.pools).
    type: float
    default: 60
  request_timeout:
    description: Seconds allowed for each step of one request, and for one read of the stats server.
    type: float
    default: 5
  probe_retries:
    description:
      - How many more rounds of requests are sent after a round that was not right. V(0) sends one round.
    type: int
    default: 5
  probe_delay:
    description: Seconds to wait between two rounds of requests.
    type: float
    default: 2
notes:
  - The stats server and the router must be reachable from the target; run the task on the router's
    host.
seealso:
  - module: uwsgi.topology.router_info
  - module: uwsgi.topology.http_probe
  - plugin: uwsgi.topology.topology_plan
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Verify each router of this host against the plan
  uwsgi.topology.verify_router:
    router: "{{ item }}"
  loop: "{{ plan['hosts'][inventory_hostname]['manifest']['verify'] }}"
  loop_control:
    label: "{{ item.router }}"
  register: verified

- name: Show what the routers know
  ansible.builtin.debug:
    msg: "{{ verified.results | map(attribute='summary') | flatten }}"

- name: Verify an https router written by hand, with fewer requests and a shorter wait
  uwsgi.topology.verify_router:
    router:
      router: edge-https
      type: https
      bind: 127.0.0.1:18443
      stats: 127.0.0.1:19192
      pools:
        app.test: [127.0.0.1:13031, 127.0.0.1:13032]
      connect: {host: 127.0.0.1, port: 18443}
      probes:
        - key: app.test
          server_name: app.test
          ca: /srv/uwsgi/certs/topology-ca.pem
          certificate: /srv/uwsgi/certs/app.test.crt
          common_name: app.test
          answers:
            127.0.0.1:13031: app1
            127.0.0.1:13032: app2
    requests_per_node: 2
    wait_timeout: 20
'''

RETURN = r'''
router:
  description: The router instance name (O(router.router)).
  returned: always
  type: str
  sample: edge-https
waited:
  description: Seconds spent until the pools were the planned ones; V(0) without O(router.stats).
  returned: unless in check mode
  type: float
  sample: 0.51
missing:
  description:
    - The keys whose pools were still not the planned ones when O(wait_timeout) ran out, as
      M(uwsgi.topology.router_info) returns them (C(key), C(present), C(expected), C(live), C(dead),
      C(missing), C(unexpected)).
  returned: when waiting for the pools timed out (the stats server unreadable included)
  type: list
  elements: dict
  sample: [{"key": "app.test", "present": true, "expected": ["127.0.0.1:13031", "127.0.0.1:13032"],
            "live": ["127.0.0.1:13031"], "dead": [], "missing": ["127.0.0.1:13032"], "unexpected": []}]
probes:
  description: One report per probe sent, in the order of O(router.probes).
  returned: unless in check mode
  type: list
  elements: dict
  contains:
    key:
      description: The key asked for.
      type: str
      sample: app.test
    ok:
      description: Whether a round was right.
      type: bool
      sample: true
    expected:
      description: The node names that had to answer.
      type: list
      elements: str
      sample: [app1, app2]
    attempts:
      description: The rounds sent.
      type: int
      sample: 1
    requests:
      description: The requests of one round; V(0) when no node answers the key.
      type: int
      sample: 8
    answered:
      description: The expected node names that answered in the last round.
      type: list
      elements: str
      returned: when requests were sent
      sample: [app1, app2]
    missing:
      description: The expected node names that did not answer in the last round.
      type: list
      elements: str
      returned: when requests were sent
      sample: []
    bodies:
      description: How many answers of the last round had each body (stripped, cut to 200 characters).
      type: dict
      returned: when requests were sent
      sample: {"app1": 4, "app2": 4}
    statuses:
      description: How many answers of the last round had each HTTP status.
      type: dict
      returned: when requests were sent
      sample: {"200": 8}
    failures:
      description: The requests of the last round that got no HTTP answer, with C(index) and C(error).
      type: list
      elements: dict
      returned: when requests were sent
      sample: []
    problems:
      description: What was wrong in the last round besides missing nodes (failed requests, other
        statuses, certificate mismatches).
      type: list
      elements: str
      returned: when requests were sent
      sample: []
    server_name:
      description: The SNI name sent.
      type: str
      returned: for an https router, when requests were sent
      sample: app.test
    peer_certificate:
      description:
        - The certificate presented in the last round, as M(uwsgi.topology.http_probe) returns it
          (C(subject_cn), C(issuer_cn), C(subject_alt_name), C(not_after), C(sha256_fingerprint),
          C(verified)), or null if no handshake completed.
      type: dict
      returned: for an https router, when requests were sent
      sample: {"subject_cn": "app.test", "issuer_cn": "uwsgi.topology CA", "subject_alt_name": ["DNS:app.test"],
               "not_after": "20340101000000Z", "sha256_fingerprint": "0f:3c:...:9a", "verified": true}
    certificate_matches:
      description: Whether the presented certificate is the one in O(router.probes[].certificate).
      type: bool
      returned: when O(router.probes[].certificate) is set and requests were sent
      sample: true
pools:
  description:
    - The router's pools, read after the requests, one per key in the router's order.
    - Each holds C(key), C(hits) and C(nodes); each node holds C(address), C(name) (the node name from
      O(router.probes[].answers), null when unknown, for example a federated edge), C(weight),
      C(requests), C(live), C(death_mark) and C(failcnt).
  returned: when O(router.stats) is set and the pools could be read
  type: list
  elements: dict
  sample: [{"key": "app.test", "hits": 8, "nodes": [
            {"address": "127.0.0.1:13031", "name": "app1", "weight": 1, "requests": 4, "live": true,
             "death_mark": 0, "failcnt": 0}]}]
summary:
  description:
    - One line per key, ready to print; from the pools when they were read, else from the answers.
  returned: unless in check mode
  type: list
  elements: str
  sample: ["edge-https key app.test: app1 [127.0.0.1:13031] weight=1 requests=4 live,
           app2 [127.0.0.1:13032] weight=1 requests=4 live"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils import verification


def main():
    module = AnsibleModule(
        argument_spec=dict(
            router=dict(type='dict', required=True, options=dict(
                router=dict(type='str', required=True),
                type=dict(type='str', required=True),
                bind=dict(type='str'),
                stats=dict(type='str'),
                pools=dict(type='dict', default={}),
                connect=dict(type='dict', options=dict(
                    host=dict(type='str', required=True),
                    port=dict(type='int', required=True),
                )),
                probes=dict(type='list', elements='dict', default=[], options=dict(
                    key=dict(type='str', required=True, no_log=False),
                    server_name=dict(type='str'),
                    ca=dict(type='path'),
                    certificate=dict(type='path'),
                    common_name=dict(type='str'),
                    answers=dict(type='dict', required=True),
                )),
            )),
            requests_per_node=dict(type='int', default=4),
            wait_timeout=dict(type='float', default=60),
            request_timeout=dict(type='float', default=5),
            probe_retries=dict(type='int', default=5),
            probe_delay=dict(type='float', default=2),
        ),
        supports_check_mode=True,
    )
    params = module.params
    entry = params['router']
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, router=entry['router'],
                         msg='router %s not verified: check mode reads and sends nothing' % entry['router'])
    try:
        result = verification.verify_router(
            entry, requests_per_node=params['requests_per_node'], wait_timeout=params['wait_timeout'],
            request_timeout=params['request_timeout'], probe_retries=params['probe_retries'],
            probe_delay=params['probe_delay'])
    except verification.VerifyError as exc:
        module.fail_json(msg=str(exc), router=entry['router'])
    except verification.VerificationFailed as exc:
        module.fail_json(msg=exc.message, **exc.result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
