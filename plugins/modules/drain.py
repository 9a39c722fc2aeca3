#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: drain
short_description: Take a uWSGI node out of its routers' pools without losing a request, and back
version_added: 0.1.0
description:
  - O(state=drained) takes a node instance out of every pool it subscribes to, at once, and waits
    until no router sends it a request nor has one in flight on it. O(state=active) brings it back
    at once. Modelled on C(community.general.haproxy).
  - "How it drains, on uWSGI 2.0: it blocks the node's announces (one C(S) written to the node's master
    FIFO), then sends a signed unsubscribe for each of the node's subscriptions to its router, as the
    node would (a router accepts a correctly signed unsubscribe from any program,
    C(plugins/corerouter/cr_common.c)). Each router then stops sending the node new requests at once,
    not after its C(subscription-tolerance). With O(wait) it reads each router's stats until the node
    is gone from the key's pool, or listed death-marked with no request in flight (stats C(ref) 0); it
    sends the unsubscribes again every second meanwhile (UDP datagrams can be lost). A router keeps a
    death-marked node while requests through it are in flight (C(ref) > 0), sends it no new one and
    frees it at the next lookup once they completed (C(core/subscription.c) 279-289)."
  - The node's announces must be blocked first, or its next announce would put it back. C(S) is a
    toggle that nothing reports, so the module keeps a state record in O(node.state_file), a JSON file
    saying whether it blocked the announces, the keys, since when, and the identity of the FIFO after
    its write.
    The master creates its FIFO anew when it starts or reloads and after every write; when the FIFO
    is not the one of the record (the node was reloaded, or another command was written to it), the
    module reads the state from the routers instead. A node listed live with an announce newer than
    its FIFO announces; one silent for longer than its announce interval (O(node.announce_interval))
    since does not. Without readable stats it assumes the state the node starts in
    (O(node.start_blocked)), with a warning. RV(announces) says which.
  - O(state=active) writes C(S) only when the announces are blocked, then sends a signed subscribe for
    each subscription at once (the node rejoins without waiting for its next announce), and with
    O(wait) reads the routers until each lists it live again.
  - Refuses to take out the last live node of a key on a router (a live node is listed, not death-marked,
    and announced within the router's tolerance O(node.routers[].tolerance)) unless O(force). The check
    uses the router's C(last_check) time and this host's clock; on separate hosts the clocks must
    agree (NTP).
  - The module runs on the node's host (it writes the node's FIFO and reads its signing keys), as the
    node's user or root. It reads each router's stats from the address given; the plan gives the
    address only for routers on the node's own machine (a router's stats server listens on
    127.0.0.1 of its host). For a router elsewhere give an address of its stats server reachable from
    the node's host, or leave it null; the module then only sends the packets (three times, to make
    up for lost datagrams) and cannot confirm the drain nor count requests in flight there (it warns).
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the state record, the FIFO and the routers' stats are read (which may take up to the
        node's announce interval when the record does not match the FIFO), the packets are built and
        signed, and RV(after) shows what would be; nothing is written or sent.
  diff_mode:
    support: full
    details:
      - Before and after, one line for the announces and one per router and key.
  idempotent:
    support: full
    details:
      - A drained node (announces blocked, absent from every pool) is left alone, and no second C(S) is
        written; the same for an active node that every router lists live.
options:
  node:
    description:
      - The node instance, as a host's manifest lists it under C(nodes.drain[]) (see the collection's
        C(docs/manifest.md)).
    type: dict
    required: true
    suboptions:
      instance:
        description: The node instance's name (for messages and the state record).
        type: str
        required: true
      fifo:
        description:
          - The node's master FIFO (its first C(master-fifo) option). The node must be running.
        type: path
        required: true
      state_file:
        description:
          - The module's state record for this node (JSON, written atomically). Its directory must exist.
        type: path
        required: true
      subscriptions:
        description:
          - The node's subscribe entries, as in its spec's C(subscriptions.subscribe) (C(server), C(key),
            C(address), C(signing), C(balancing_weight), C(sni_key), ...). The packets are built from them
            as the node builds its own, and signed with the entry's C(signing) key.
        type: list
        elements: dict
        required: true
      routers:
        description:
          - The routers the entries name, by subscription server. A server without an entry here is
            treated as a router named after its address, without stats.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The router instance's name (the key of RV(before) and RV(after)).
            type: str
          server:
            description: Its subscription server, as the entries' C(server).
            type: str
            required: true
          stats:
            description:
              - Its stats server, reachable from this host (C(HOST:PORT) or a UNIX socket path), or null
                when it cannot be read from here.
            type: str
          keys:
            description: The node's keys on this router (informative; the entries decide).
            type: list
            elements: str
            default: []
          tolerance:
            description:
              - The router's C(subscription-tolerance) in seconds; uWSGI's default is 17.
            type: int
      start_blocked:
        description:
          - Whether the node starts with its announces blocked (C(start-unsubscribed)).
        type: bool
        default: false
      announce_interval:
        description:
          - The node's announce interval in seconds (C(subscribe-freq)); uWSGI's default is 10.
        type: int
  state:
    description:
      - V(drained) takes the node out of every pool of O(keys); V(active) puts it back.
    type: str
    choices: [drained, active]
    required: true
  keys:
    description:
      - The keys to drain or resume; default all the node's keys.
      - "Only all of them: uWSGI 2.0 blocks a node's announces all at once, so a part of the keys would
        leave their pools too, after the routers' tolerance. A strict subset is refused. Give keys that
        must be drained separately to separate node instances."
    type: list
    elements: str
  wait:
    description:
      - Wait until every router with a stats address confirms the node left (no request in flight on
        it) or rejoined each pool.
    type: bool
    default: true
  wait_timeout:
    description: How long to wait, in seconds. On timeout the module fails; a drained node stays drained.
    type: int
    default: 60
  wait_interval:
    description: Seconds between two reads of the routers' stats.
    type: float
    default: 0.5
  force:
    description:
      - Drain even when the node is the last live node of a key on a router (requests for it then fail).
    type: bool
    default: false
requirements:
  - cryptography (on the node host), for signed subscriptions
notes:
  - "Do not write C(S) to the node's FIFO by hand: the module keeps the toggle's state. Other commands
    and reloads are fine (the module then reads the state from the routers)."
  - A drained node stays drained through a graceful reload only with C(start-unsubscribed); otherwise it
    announces itself when it is up again (and O(state=active) then only confirms it).
  - A router accepts any correctly signed unsubscribe at any time (uWSGI 2.0 has no replay protection
    for them); keep subscription ports on a private network.
seealso:
  - module: uwsgi.topology.router_info
  - module: uwsgi.topology.subscription_handover
  - name: community.general.haproxy
    description: The module this one's interface follows.
    link: https://docs.ansible.com/ansible/latest/collections/community/general/haproxy_module.html
'''

EXAMPLES = r'''
- name: Take node app1 out of its pools, waiting for its requests in flight
  uwsgi.topology.drain:
    node: "{{ manifest.nodes.drain | selectattr('instance', 'equalto', 'app1') | first }}"
    state: drained

- name: Bring it back
  uwsgi.topology.drain:
    node: "{{ manifest.nodes.drain | selectattr('instance', 'equalto', 'app1') | first }}"
    state: active

- name: By hand, for a node on another host than its router (no stats there)
  uwsgi.topology.drain:
    node:
      instance: app1
      fifo: /srv/topology/run/app1.fifo
      state_file: /srv/topology/run/app1.drain
      subscriptions:
        - server: 10.0.0.5:2626
          key: app.example.com
          address: 10.0.1.7:3031
          signing: [SHA256, /srv/topology/keys/app.example.com.pem]
      routers:
        - {name: edge, server: 10.0.0.5:2626, stats: null}
    state: drained
'''

RETURN = r'''
before:
  description:
    - Per router and key, the node's state in the router's pool before the run. V(present) listed live;
      V(draining) death-marked with requests in flight; V(absent) not listed, or death-marked with none
      in flight; V(unknown) no stats (no address, or it could not be read).
  returned: always
  type: dict
  sample: {"edge-http": {"app.test": "present"}, "edge-https": {"app.test": "present"}}
after:
  description:
    - The same after the run (in check mode, or without O(wait), what is expected or was last read).
  returned: always
  type: dict
  sample: {"edge-http": {"app.test": "absent"}, "edge-https": {"app.test": "absent"}}
drained_keys:
  description: The keys the node is drained of after the run (all its keys, or none).
  returned: always
  type: list
  elements: str
  sample: [app.test]
announces:
  description:
    - C(before) and C(after), V(blocked) or V(sent), the node's announces; C(source) how the state before
      was known. V(recorded) from the state record, V(observed) from the routers, V(assumed) the state the
      node starts in.
  returned: always
  type: dict
  sample: {"before": "sent", "after": "blocked", "source": "recorded"}
sent:
  description: The subscriptions a packet was sent for, as C(server key address).
  returned: always
  type: list
  elements: str
  sample: ["127.0.0.1:12626 app.test 127.0.0.1:13031"]
waited:
  description: Seconds spent waiting for the routers.
  returned: always
  type: float
  sample: 0.52
state:
  description: The O(state) asked for.
  returned: always
  type: str
  sample: drained
diff:
  description: The announces and the state per router and key, before and after.
  returned: in diff mode
  type: dict
  sample: {"before": "announces: sent\nedge-http app.test: present\n",
           "after": "announces: blocked\nedge-http app.test: absent\n"}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.uwsgi.topology.plugins.module_utils.drain import Drain, DrainError
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError


def main():
    router_options = dict(
        name=dict(type='str'),
        server=dict(type='str', required=True),
        stats=dict(type='str'),
        keys=dict(type='list', elements='str', default=[], no_log=False),
        tolerance=dict(type='int'),
    )
    node_options = dict(
        instance=dict(type='str', required=True),
        fifo=dict(type='path', required=True),
        state_file=dict(type='path', required=True),
        subscriptions=dict(type='list', elements='dict', required=True),
        routers=dict(type='list', elements='dict', default=[], options=router_options),
        start_blocked=dict(type='bool', default=False),
        announce_interval=dict(type='int'),
    )
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type='dict', required=True, options=node_options),
            state=dict(type='str', required=True, choices=['drained', 'active']),
            keys=dict(type='list', elements='str', no_log=False),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=60),
            wait_interval=dict(type='float', default=0.5),
            force=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    if module.params['wait_timeout'] < 0 or module.params['wait_interval'] <= 0:
        module.fail_json(msg='wait_timeout must be 0 or more and wait_interval more than 0, got %s and %s'
                         % (module.params['wait_timeout'], module.params['wait_interval']))
    drain = None
    try:
        drain = Drain(module.params, check_mode=module.check_mode, warn=module.warn)
        result = drain.run()
    except DrainError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except TopologyError as exc:
        # Paths and entries only: key content never reaches a message.
        module.fail_json(msg=str(exc), **(drain.result if drain is not None else {}))
    if module._diff:
        result['diff'] = drain.diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
