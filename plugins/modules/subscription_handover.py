#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: subscription_handover
short_description: Hand a node's signed subscriptions over to a rotated signing key
version_added: 0.1.0
description:
  - Puts a staged new subscription signing key (O(next)) in place of the key a node signs with
    (O(current)) without losing its routers' pools.
  - Why a handover is needed at all. A uWSGI 2.0 router reads a key's public key once, when the key's
    pool is created, and keeps it as long as the pool has a node (C(core/subscription.c),
    C(subscription_new_sign_ctx)). A new public key on the router's disk is ignored, the node's
    announces signed with the new private key are refused, and the pool only picks the new key up
    after every node timed out, when requests already fail.
  - So the module empties and refills each pool at once. For every subscription in O(subscriptions),
    it builds an unsubscribe signed with the current key and a subscribe signed with the new key, all
    before sending anything. Then it sends the unsubscribes (a router accepts a signed unsubscribe
    without any time check), moves O(next) over O(current) (keeping the current file's mode, owner
    and group), and sends the subscribes. Run on the node hosts one after the other, the last
    node's unsubscribe empties the pool and its subscribe creates it again, reading the new public
    key (which must already be on the routers). The other nodes rejoin with their next announce,
    signed with the new key.
  - The unsubscribe carries the current time plus one second (as uWSGI does for an unsubscribe),
    the subscribe the current time minus one second. A router refuses an announce whose time is not
    above the one the node joined with, so the node's own announce in the same second is accepted.
  - The packets are uWSGI 2.0's subscription packets, built from the same subscribe entries the
    compiler turns into the node's C(subscribe2) options and read by the same code, so they name the
    key and address exactly as the node does. They are signed with the Python library
    C(cryptography) (RSA PKCS#1 v1.5 with the entry's digest); no command is run.
  - If O(next) does not exist there is nothing to hand over. If it holds the same key as O(current) it
    is removed (a staging left over by an interrupted run) and nothing is reported changed. If
    O(current) does not exist, no pool knows this node's signatures yet, and O(next) is only moved into
    place.
  - The module takes paths only; staging the new key on the host (with a copy task, C(no_log)) is the
    job of the task before it.
author:
  - uwsgi.topology developers (!UNKNOWN)
extends_documentation_fragment:
  - uwsgi.topology.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the keys are read and every packet is built and signed (so a bad key or entry
        fails as it would), but nothing is sent, moved or removed; RV(handed_over) lists what would be.
  diff_mode:
    support: full
    details:
      - A prepared text lists the key move and the subscriptions handed over; never key content.
  idempotent:
    support: full
    details:
      - After a handover O(next) is gone, so the next run changes nothing.
options:
  current:
    description:
      - Path of the private key the node signs its subscriptions with now (the key file of the
        entries' C(signing)).
    type: path
    required: true
  next:
    description:
      - Path of the staged new private key (PEM, RSA, unencrypted), for example O(current) with
        C(.next) appended. It must be on the same file system as O(current).
    type: path
    required: true
  subscriptions:
    description:
      - The node's subscribe entries that sign with O(current), as in a node spec's
        C(subscriptions.subscribe) (keys C(server), C(key), C(address), C(signing),
        C(balancing_weight), C(modifier), C(check_file), C(sni_key), C(sni_cert), C(sni_client_ca), ...;
        see the collection's C(docs/spec-reference.md)). A host's manifest lists them under
        C(handover[].subscriptions).
      - Each entry must be signed with O(current) (C(signing) is C([digest, current])) and name its
        address itself, not by socket index.
      - An entry whose C(check_file) exists is skipped, as uWSGI skips it (RV(skipped)).
    type: list
    elements: dict
    default: []
  version:
    description:
      - The uWSGI version of the node, for reading the entries as the compiler does.
    type: str
    choices: ['2.0', '2.1']
    default: '2.0'
requirements:
  - cryptography (on the target), when a key is handed over
notes:
  - A router accepts any correctly signed unsubscribe at any time (uWSGI 2.0 has no replay protection
    for them); keep subscription ports on a private network.
  - Run it on one node host at a time (C(throttle=1)), after the routers have the new public key.
seealso:
  - module: uwsgi.topology.vassals
'''

EXAMPLES = r'''
- name: Hand the subscriptions over to rotated signing keys, one node host at a time
  uwsgi.topology.subscription_handover:
    current: "{{ item.current }}"
    next: "{{ item.current }}.next"
    subscriptions: "{{ item.subscriptions }}"
  loop: "{{ manifest.handover }}"
  loop_control:
    label: "{{ item.key }}"
  throttle: 1

- name: By hand, for one subscription
  uwsgi.topology.subscription_handover:
    current: /etc/uwsgi/keys/app.example.com.pem
    next: /etc/uwsgi/keys/app.example.com.pem.next
    subscriptions:
      - server: 10.0.0.5:2626
        key: app.example.com
        address: 10.0.1.7:3031
        signing: [SHA256, /etc/uwsgi/keys/app.example.com.pem]
'''

RETURN = r'''
handed_over:
  description:
    - The subscriptions handed over (or that would be, in check mode), as C(server key address).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.5:2626 app.example.com 10.0.1.7:3031"]
skipped:
  description:
    - The subscriptions not handed over because their C(check_file) exists (the node does not
      announce them either), as C(server key address).
  returned: always
  type: list
  elements: str
  sample: []
diff:
  description: What is (or would be) moved and handed over, as a prepared text. Never key content.
  returned: in diff mode, when something is handed over or moved
  type: dict
  sample: {"prepared": "move /k/a.pem.next to /k/a.pem\nhand over 10.0.0.5:2626 a 10.0.1.7:3031\n"}
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.uwsgi.topology.plugins.module_utils import packet
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError


def _read(path, what):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        raise TopologyError(what, 'cannot read %s: %s' % (path, exc.strerror or exc))


class Handover(object):
    """Decide what to hand over, build and sign every packet, then act (outside check mode)."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.current = self.params['current']
        self.next = self.params['next']
        self.result = dict(changed=False, handed_over=[], skipped=[])
        self.diff = []

    def run(self):
        current, staged = self.current, self.next
        if not os.path.lexists(staged):
            return
        new_pem = _read(staged, 'next')
        if not os.path.exists(current):
            # Nothing signed with a current key yet: no pool holds this node's old public key.
            self.result['changed'] = True
            self.diff.append('move %s to %s (no current key: nothing to hand over)' % (staged, current))
            if not self.module.check_mode:
                self._replace()
            return
        old_pem = _read(current, 'current')
        if old_pem == new_pem:
            # A staging left over by an interrupted run (or a key that did not change).
            if not self.module.check_mode:
                try:
                    os.unlink(staged)
                except OSError as exc:
                    raise TopologyError('next', 'cannot remove %s (the same key as %s): %s'
                                        % (staged, current, exc.strerror or exc))
            return

        announces = self._announcements()
        leaves, joins = self._packets(announces, old_pem, new_pem)
        self.result['changed'] = True
        self.result['handed_over'] = [announce.describe() for announce in announces]
        self.diff.append('move %s to %s' % (staged, current))
        self.diff.extend('hand over %s' % announce.describe() for announce in announces)
        if self.module.check_mode:
            return
        self._match_attributes()
        self._send(leaves, 'unsubscribe (signed with the current key)')
        self._replace()
        self._send(joins, 'subscribe (signed with the new key)')

    def _announcements(self):
        announces = []
        wanted = os.path.normpath(self.current)
        for i, item in enumerate(self.params['subscriptions']):
            path = 'subscriptions[%d]' % i
            announce = packet.announcement(item, path, version=self.params['version'])
            if announce.keyfile is None:
                raise TopologyError(path + '.signing', 'is not set: this subscription is not signed, so no key '
                                                       'hands it over; give only the entries signed with %s'
                                    % self.current)
            if os.path.normpath(announce.keyfile) != wanted:
                raise TopologyError(path + '.signing[1]', 'signs with %s, not with current (%s)'
                                    % (announce.keyfile, self.current))
            if packet.check_file_exists(announce):
                self.result['skipped'].append(announce.describe())
                continue
            announces.append(announce)
        return announces

    def _packets(self, announces, old_pem, new_pem):
        """Every leave and join, signed, before anything is sent."""
        if not packet.HAS_CRYPTOGRAPHY and announces:
            self.module.fail_json(msg=missing_required_lib('cryptography') + ' (to sign the handover packets)',
                                  exception=packet.CRYPTOGRAPHY_IMPORT_ERROR)
        signers = {}

        def signer(pem, name, digest):
            if (name, digest) not in signers:
                signers[(name, digest)] = packet.rsa_signer(pem, digest, '%s (%s)' % (name, self.params[name]))
            return signers[(name, digest)]

        now = int(time.time())
        leaves = [(announce, packet.encode(announce, packet.UNSUBSCRIBE, signer(old_pem, 'current', announce.digest),
                                           unix=now + 1)) for announce in announces]
        joins = [(announce, packet.encode(announce, packet.SUBSCRIBE, signer(new_pem, 'next', announce.digest),
                                          unix=now - 1)) for announce in announces]
        return leaves, joins

    def _match_attributes(self):
        """Give the staged key the current key's mode, owner and group, before any packet is sent."""
        current = os.stat(self.current)
        staged = os.stat(self.next)
        try:
            if (staged.st_uid, staged.st_gid) != (current.st_uid, current.st_gid):
                os.chown(self.next, current.st_uid, current.st_gid)
            os.chmod(self.next, current.st_mode & 0o7777)
        except OSError as exc:
            raise TopologyError('next', 'cannot give %s the owner, group and mode of %s: %s; nothing was sent'
                                % (self.next, self.current, exc.strerror or exc))

    def _replace(self):
        try:
            os.replace(self.next, self.current)
        except OSError as exc:
            raise TopologyError('next', 'cannot move %s to %s: %s' % (self.next, self.current, exc.strerror or exc))

    def _send(self, packets, what):
        # Datagrams are not acknowledged; a router that is down has no pool to keep anyway.
        for announce, data in packets:
            try:
                packet.send(announce.server, data)
            except (OSError, ValueError) as exc:
                self.module.warn('could not send the %s for %s: %s' % (what, announce.describe(), exc))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            current=dict(type='path', required=True),
            next=dict(type='path', required=True),
            subscriptions=dict(type='list', elements='dict', default=[]),
            version=dict(type='str', default='2.0', choices=['2.0', '2.1']),
        ),
        supports_check_mode=True,
    )
    handover = Handover(module)
    try:
        handover.run()
    except TopologyError as exc:
        # Paths and entries only: key content never reaches a message.
        module.fail_json(msg=str(exc), **handover.result)
    result = handover.result
    if module._diff and handover.diff:
        result['diff'] = {'prepared': '\n'.join(handover.diff) + '\n'}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
