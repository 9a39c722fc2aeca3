# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.subscription_handover module: real keys, real UDP on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import stat
import time

import pytest

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ansible_collections.uwsgi.topology.plugins.module_utils import packet
from ansible_collections.uwsgi.topology.plugins.modules import subscription_handover


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


@pytest.fixture(scope='module')
def old_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope='module')
def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def keys(tmp_path, old_key, new_key):
    """``(current, next)`` paths: the node's key (mode 0600) and the staged new one (mode 0644)."""
    directory = tmp_path / 'keys'
    directory.mkdir()
    current, staged = str(directory / 'app.test.pem'), str(directory / 'app.test.pem.next')
    for path, key, mode in ((current, old_key, 0o600), (staged, new_key, 0o644)):
        with open(path, 'wb') as handle:
            handle.write(_pem(key))
        os.chmod(path, mode)
    return current, staged


class Router(object):
    """A subscription server stand-in: a UDP socket on 127.0.0.1 that collects datagrams."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]

    def receive(self, count, timeout=5.0):
        self.sock.settimeout(timeout)
        return [self.sock.recv(4096) for _i in range(count)]

    def nothing(self, wait=0.3):
        self.sock.settimeout(wait)
        try:
            self.sock.recv(4096)
        except socket.timeout:
            return True
        return False

    def close(self):
        self.sock.close()


@pytest.fixture
def routers():
    made = []

    def make():
        made.append(Router())
        return made[-1]
    yield make
    for router in made:
        router.close()


def _entry(router, current, address='127.0.0.1:3031', digest='SHA256', **extra):
    entry = {'server': router.address, 'key': 'app.test', 'address': address, 'signing': [digest, current]}
    entry.update(extra)
    return entry


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


def _verify(key, data, algorithm):
    _cmd, pairs = packet.decode(data)
    key.public_key().verify(dict(pairs)['sign'], packet.signed_part(data), padding.PKCS1v15(), algorithm)


def _no_secret(result, *keys):
    text = json.dumps(result)
    assert 'PRIVATE KEY' not in text
    for key in keys:
        assert _pem(key).decode().splitlines()[1] not in text


# --- the handover --------------------------------------------------------------------------------

def test_leaves_then_rename_then_joins(run_module, monkeypatch, keys, routers, old_key, new_key):
    current, staged = keys
    one, two = routers(), routers()
    subscriptions = [_entry(one, current), _entry(two, current, digest='SHA1', balancing_weight=2)]
    events = []
    real_send, real_replace = packet.send, os.replace

    def send(server, data):
        # The files as they are when each packet leaves.
        events.append(('send', server, data[3], os.path.exists(staged), _read(current) == _pem(new_key)))
        real_send(server, data)

    def replace(src, dst):
        events.append(('replace', src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(packet, 'send', send)
    monkeypatch.setattr(os, 'replace', replace)
    before = int(time.time())

    failed, result, warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': subscriptions})

    after = int(time.time())
    assert not failed, result
    assert warnings == []
    assert result['changed'] is True
    assert result['handed_over'] == ['%s app.test 127.0.0.1:3031' % one.address,
                                     '%s app.test 127.0.0.1:3031' % two.address]
    assert result['skipped'] == []
    assert events == [
        ('send', one.address, 1, True, False),
        ('send', two.address, 1, True, False),
        ('replace', staged, current),
        ('send', one.address, 0, False, True),
        ('send', two.address, 0, False, True),
    ]
    # What the routers received: leave then join, each signed with the right key and digest.
    for router, algorithm, weight in ((one, hashes.SHA256(), b'0'), (two, hashes.SHA1(), b'2')):
        leave, join = router.receive(2)
        assert (leave[3], join[3]) == (1, 0)
        _verify(old_key, leave, algorithm)
        _verify(new_key, join, algorithm)
        with pytest.raises(InvalidSignature):
            _verify(new_key, leave, algorithm)
        for data in (leave, join):
            fields = dict(packet.decode(data)[1])
            assert (fields['key'], fields['address'], fields['weight']) == (b'app.test', b'127.0.0.1:3031', weight)
        leave_unix, join_unix = (int(dict(packet.decode(d)[1])['unix']) for d in (leave, join))
        assert leave_unix - join_unix == 2
        assert before + 1 <= leave_unix <= after + 1
    # The new key is in place with the current key's mode; the staged file is gone.
    assert _read(current) == _pem(new_key)
    assert not os.path.exists(staged)
    assert stat.S_IMODE(os.stat(current).st_mode) == 0o600
    _no_secret(result, old_key, new_key)


def test_second_run_changes_nothing(run_module, keys, routers):
    current, staged = keys
    router = routers()
    args = {'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]}
    run_module(subscription_handover.main, args)
    router.receive(2)

    failed, result, _warnings = run_module(subscription_handover.main, args)

    assert not failed, result
    assert result == {'changed': False, 'handed_over': [], 'skipped': []}
    assert router.nothing()


def test_check_mode_signs_but_sends_and_moves_nothing(run_module, keys, routers, old_key, new_key):
    current, staged = keys
    router = routers()

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]}, check_mode=True, diff=True)

    assert not failed, result
    assert result['changed'] is True
    assert result['handed_over'] == ['%s app.test 127.0.0.1:3031' % router.address]
    assert result['diff'] == {'prepared': 'move %s to %s\nhand over %s app.test 127.0.0.1:3031\n'
                                          % (staged, current, router.address)}
    assert router.nothing()
    assert _read(current) == _pem(old_key) and _read(staged) == _pem(new_key)
    _no_secret(result, old_key, new_key)


def test_check_mode_still_fails_on_a_bad_staged_key(run_module, keys, routers):
    current, staged = keys
    router = routers()
    with open(staged, 'wb') as handle:
        handle.write(b'-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0\n-----END RSA PRIVATE KEY-----\n')

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]}, check_mode=True)

    assert failed
    assert result['msg'].startswith('next (%s): is not an unencrypted PEM private key' % staged)
    assert 'c2VjcmV0' not in json.dumps(result)
    assert router.nothing()


def test_a_bad_staged_key_fails_before_anything_is_sent(run_module, keys, routers, old_key):
    current, staged = keys
    router = routers()
    with open(staged, 'wb') as handle:
        handle.write(b'not a key')

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]})

    assert failed
    assert result['msg'].startswith('next (%s): is not an unencrypted PEM private key' % staged)
    assert result['changed'] is False
    assert router.nothing()
    assert _read(current) == _pem(old_key) and os.path.exists(staged)


# --- nothing to hand over ------------------------------------------------------------------------

def test_no_staged_key_is_no_change(run_module, keys, routers):
    current, staged = keys
    os.unlink(staged)
    router = routers()

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]}, diff=True)

    assert not failed, result
    assert result == {'changed': False, 'handed_over': [], 'skipped': []}
    assert router.nothing()


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_staged_copy_of_the_current_key_is_removed_unchanged(run_module, keys, routers, old_key, check_mode):
    current, staged = keys
    with open(staged, 'wb') as handle:
        handle.write(_pem(old_key))
    router = routers()

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]}, check_mode=check_mode)

    assert not failed, result
    assert result['changed'] is False and result['handed_over'] == []
    assert os.path.exists(staged) is check_mode
    assert _read(current) == _pem(old_key)
    assert router.nothing()


def test_without_a_current_key_the_staged_one_only_moves_in(run_module, keys, routers, new_key):
    current, staged = keys
    os.unlink(current)
    router = routers()

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]})

    assert not failed, result
    assert result['changed'] is True and result['handed_over'] == []
    assert _read(current) == _pem(new_key) and not os.path.exists(staged)
    assert router.nothing()


def test_an_entry_whose_check_file_exists_is_skipped(run_module, keys, routers, tmp_path):
    current, staged = keys
    router = routers()
    off = tmp_path / 'off'
    off.write_text(u'')
    subscriptions = [_entry(router, current, check_file=str(off)),
                     _entry(router, current, address='127.0.0.1:3032', check_file=str(tmp_path / 'absent'))]

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': subscriptions})

    assert not failed, result
    assert result['skipped'] == ['%s app.test 127.0.0.1:3031' % router.address]
    assert result['handed_over'] == ['%s app.test 127.0.0.1:3032' % router.address]
    leave, join = router.receive(2)
    assert dict(packet.decode(leave)[1])['address'] == b'127.0.0.1:3032'
    assert router.nothing()


def test_an_unreachable_router_is_a_warning_and_the_key_still_moves(run_module, keys, tmp_path, new_key):
    current, staged = keys
    missing = str(tmp_path / 'no-router.sock')

    failed, result, warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged,
        'subscriptions': [{'server': missing, 'key': 'app.test', 'address': '127.0.0.1:3031',
                           'signing': ['SHA256', current]}]})

    assert not failed, result
    assert result['changed'] is True
    assert len(warnings) == 2
    assert warnings[0].startswith('could not send the unsubscribe (signed with the current key) for %s app.test '
                                  '127.0.0.1:3031: ' % missing)
    assert warnings[1].startswith('could not send the subscribe (signed with the new key) for ')
    assert _read(current) == _pem(new_key)


# --- refusals --------------------------------------------------------------------------------------

@pytest.mark.parametrize('change, message', [
    ({'signing': None}, 'subscriptions[0].signing: is not set: this subscription is not signed'),
    ({'signing': ['SHA256', '/etc/other.pem']}, 'subscriptions[0].signing[1]: signs with /etc/other.pem, '
                                                'not with current ('),
    ({'address': 1}, 'subscriptions[0].address: is a socket index (1)'),
    ({'server': 'router:2626'}, 'subscriptions[0].server: subscription server'),
    ({'bogus': 1}, 'subscriptions[0].bogus: unknown parameter'),
    ({'signing': ['WHIRLPOOL', '{current}']},
     "current ({current}): digest 'WHIRLPOOL' is not one the cryptography library signs with"),
])
def test_bad_entries_are_refused_before_anything_happens(run_module, keys, routers, old_key, change, message):
    current, staged = keys
    router = routers()
    entry = _entry(router, current)
    entry.update(change)
    if entry['signing'] and entry['signing'][1] == '{current}':
        entry['signing'] = [entry['signing'][0], current]
    message = message.replace('{current}', current)

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [entry]})

    assert failed
    assert result['msg'].startswith(message)
    assert router.nothing()
    assert _read(current) == _pem(old_key) and os.path.exists(staged)


def test_missing_cryptography_fails_clearly(run_module, monkeypatch, keys, routers):
    current, staged = keys
    router = routers()
    monkeypatch.setattr(packet, 'HAS_CRYPTOGRAPHY', False)

    failed, result, _warnings = run_module(subscription_handover.main, {
        'current': current, 'next': staged, 'subscriptions': [_entry(router, current)]})

    assert failed
    assert 'cryptography' in result['msg'] and 'to sign the handover packets' in result['msg']
    assert router.nothing() and os.path.exists(staged)
