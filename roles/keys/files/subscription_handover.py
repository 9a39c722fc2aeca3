# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hand a node's subscriptions over from a rotated signing key to its successor (uwsgi.topology.keys).

Run on a node host by the keys role (ansible.builtin.script, one host at a time) with one
argument, base64 of JSON: {"current": key file the node signs with, "next": the new key file,
"subscriptions": [the node plan's subscribe entries: server, key, address, signing ([digest,
key file]), balancing_weight, modifier (a modifier1 number; other forms announce 0)]}.

Why: a uWSGI 2.0 router reads a key's public key once, when the key's pool (slot) is created,
and keeps it as long as the pool has a node (core/subscription.c subscription_new_sign_ctx).
A new public key on the router's disk is therefore ignored, the nodes' announces signed with
the new private key are refused, and the pool only picks the new key up after every node timed
out: the request that finds the pool dead fails. Here the pool is emptied and refilled at once:
an unsubscribe signed with the current key (accepted by the pool; unsubscribes get no time
check, plugins/corerouter/cr_common.c), the new key moved into place, and a subscribe signed
with it, sent back to back. Run host after host, the last node's unsubscribe empties the pool
and its subscribe creates the pool again with the new public key (placed on the routers
before); the other nodes rejoin with their next announce. Both packets are signed before the
first is sent, so only a rename separates them.

The packet is uWSGI 2.0's: a 4-byte header (224, u16le body size, cmd), then uwsgi vars (u16le
size, bytes) key, address, modifier1, modifier2, cores, load, weight, unix, and the signature of
every body byte before it as the last var, sign (openssl dgst: PKCS#1 v1.5).
"""

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time


def _var(name, value):
    name = name.encode('ascii')
    value = str(value).encode('ascii')
    return struct.pack('<H', len(name)) + name + struct.pack('<H', len(value)) + value


def _sign(digest, pem, data):
    with tempfile.NamedTemporaryFile() as stream:
        stream.write(data)
        stream.flush()
        return subprocess.check_output(['openssl', 'dgst', '-' + digest.lower(), '-sign', pem, stream.name])


def _packet(sub, cmd, unix, pem):
    modifier1 = sub.get('modifier')
    if not isinstance(modifier1, int) or isinstance(modifier1, bool):
        modifier1 = 0
    body = b''.join(_var(name, value) for name, value in (
        ('key', sub['key']), ('address', sub['address']), ('modifier1', modifier1), ('modifier2', 0),
        ('cores', 1), ('load', 0), ('weight', sub.get('balancing_weight') or 0), ('unix', unix)))
    signature = _sign(sub['signing'][0], pem, body)
    body += struct.pack('<H', 4) + b'sign' + struct.pack('<H', len(signature)) + signature
    return struct.pack('<BHB', 224, len(body), cmd) + body


def _send(server, data):
    """One datagram to ``server``: ip:port (UDP) or a UNIX datagram socket path, as uWSGI has it."""
    if ':' in server:
        host, port = server.rsplit(':', 1)
        family, target = socket.AF_INET, (host, int(port))
    else:
        family, target = socket.AF_UNIX, server
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.sendto(data, target)
    finally:
        sock.close()


def main(argv):
    args = json.loads(base64.b64decode(argv[0]).decode('utf-8'))
    current, new = args['current'], args['next']
    now = int(time.time())
    # uWSGI itself sends unix = now + cmd. The join goes out one second early: a router refuses an
    # announce whose unix is not above the one the node joined with, so the node's own announce
    # in this same second is accepted instead of being logged as sniffed.
    leave = [(sub['server'], _packet(sub, 1, now + 1, current)) for sub in args['subscriptions']]
    join = [(sub['server'], _packet(sub, 0, now - 1, new)) for sub in args['subscriptions']]
    for server, data in leave:
        _send(server, data)
    os.rename(new, current)
    for server, data in join:
        _send(server, data)
    print(json.dumps({'changed': True, 'handed_over': ['%s %s %s' % (s['server'], s['key'], s['address'])
                                                       for s in args['subscriptions']]}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
