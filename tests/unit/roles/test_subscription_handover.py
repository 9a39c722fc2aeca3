# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/keys/files/subscription_handover.py: the packets that hand a pool over to a rotated key."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import importlib.util
import json
import os
import struct
import subprocess

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                      'roles', 'keys', 'files', 'subscription_handover.py')


@pytest.fixture
def handover():
    spec = importlib.util.spec_from_file_location('subscription_handover', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _key(path):
    subprocess.check_call(['openssl', 'genrsa', '-out', str(path), '2048'], stderr=subprocess.DEVNULL)
    subprocess.check_call(['openssl', 'rsa', '-in', str(path), '-pubout', '-out', str(path) + '.pub'],
                          stderr=subprocess.DEVNULL)
    return str(path)


def _parse(data):
    """(cmd, [(name, value)], signed bytes) of a uWSGI subscription datagram."""
    modifier1, size, cmd = struct.unpack('<BHB', data[:4])
    assert modifier1 == 224 and size == len(data) - 4
    body, pos, pairs, signed_end = data[4:], 0, [], None
    while pos < len(body):
        if body[pos + 2:pos + 6] == b'sign':
            signed_end = pos
        klen = struct.unpack('<H', body[pos:pos + 2])[0]
        name = body[pos + 2:pos + 2 + klen].decode('ascii')
        pos += 2 + klen
        vlen = struct.unpack('<H', body[pos:pos + 2])[0]
        pairs.append((name, body[pos + 2:pos + 2 + vlen]))
        pos += 2 + vlen
    return cmd, pairs, body[:signed_end]


def _verifies(pub, signed, signature, tmp_path):
    (tmp_path / 'data').write_bytes(signed)
    (tmp_path / 'sig').write_bytes(signature)
    return subprocess.call(['openssl', 'dgst', '-sha1', '-verify', pub, '-signature', str(tmp_path / 'sig'),
                            str(tmp_path / 'data')], stdout=subprocess.DEVNULL) == 0


def test_leave_signed_with_current_key_then_rename_then_join_signed_with_new_key(handover, tmp_path, monkeypatch):
    current = _key(tmp_path / 'app.test.pem')
    new = _key(tmp_path / 'app.test.pem.next')
    old_pub, new_pub = current + '.pub', new + '.pub'
    events = []
    monkeypatch.setattr(handover, '_send', lambda server, data: events.append(
        ('send', server, data, open(current, 'rb').read())))
    sub = {'server': '10.0.0.1:2626', 'key': 'app.test', 'address': '10.0.0.2:3031', 'signing': ['SHA1', current],
           'balancing_weight': 3}
    args = base64.b64encode(json.dumps({'current': current, 'next': new, 'subscriptions': [sub]}).encode()).decode()
    new_content = open(new, 'rb').read()
    assert handover.main([args]) == 0

    assert not os.path.exists(new)
    assert open(current, 'rb').read() == new_content
    assert [e[1] for e in events] == ['10.0.0.1:2626', '10.0.0.1:2626']
    (leave_cmd, leave, leave_signed), (join_cmd, join, join_signed) = [_parse(e[2]) for e in events]
    # The unsubscribe goes out before the new key is in place, the subscribe after.
    assert events[0][3] != new_content and events[1][3] == new_content
    assert leave_cmd == 1 and join_cmd == 0
    for pairs in (leave, join):
        assert [p[0] for p in pairs] == ['key', 'address', 'modifier1', 'modifier2', 'cores', 'load', 'weight',
                                         'unix', 'sign']
        assert dict(pairs)['key'] == b'app.test' and dict(pairs)['address'] == b'10.0.0.2:3031'
        assert dict(pairs)['weight'] == b'3'
    assert int(dict(leave)['unix']) == int(dict(join)['unix']) + 2
    assert _verifies(old_pub, leave_signed, dict(leave)['sign'], tmp_path)
    assert not _verifies(new_pub, leave_signed, dict(leave)['sign'], tmp_path)
    assert _verifies(new_pub, join_signed, dict(join)['sign'], tmp_path)
    assert not _verifies(old_pub, join_signed, dict(join)['sign'], tmp_path)
